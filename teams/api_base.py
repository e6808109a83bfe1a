"""The scoped base every workspace API endpoint builds on.

`WorkspaceViewSet` resolves the workspace from the URL once (a workspace the caller is not a
member of is a 404), checks the capability the action declares in `required` (and, for an API
token, its scopes: teams/api_access.py), and refuses to let subclasses override
`get_queryset`/`get_object`: they implement `scoped_queryset(workspace)` and look objects up
through it, so an unscoped read cannot be written by accident.
"""

from django.http import Http404
from rest_framework import viewsets
from rest_framework.negotiation import DefaultContentNegotiation

from teams import api_access
from teams.selectors import membership_for

OWN = "own"  # marker: the action is allowed to every member, on their own objects


class WorkspaceViewSet(viewsets.GenericViewSet):
    lookup_field = "pk"
    #: action name -> capability key (or OWN); actions not listed need only membership.
    required: dict[str, str] = {}
    #: action name -> the scope an API token needs for an OWN action (a write any member may do
    #: on their own objects); without one, any token that may write may do it.
    token_scope: dict[str, str] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("get_queryset", "get_object"):
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} must not override {name}; implement scoped_queryset() "
                    "or name a deliberate bypass dangerously_*."
                )

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.membership = membership_for(user=request.user, workspace_slug=kwargs["workspace"])
        token = getattr(request, "auth", None)
        if token is not None and getattr(token, "workspace_id", None) != (
            self.membership.workspace_id
        ):
            raise Http404("No workspace matches the given query.")
        self.workspace = self.membership.workspace
        capability = self.required.get(self.action)
        api_access.check(
            membership=self.membership,
            token=token,
            method=request.method,
            capability=None if capability == OWN else capability,
            token_scope=self.token_scope.get(self.action),
        )

    def require(self, capability: str) -> None:
        """Refuse the request unless the caller may use `capability` (see `can`)."""
        api_access.check(
            membership=self.membership,
            token=getattr(self.request, "auth", None),
            method=self.request.method,
            capability=capability,
        )

    def can(self, capability: str) -> bool:
        """Whether the caller may use `capability` in this request (its role, and its scopes if
        it is an API token)."""
        return api_access.allows(
            membership=self.membership,
            token=getattr(self.request, "auth", None),
            method=self.request.method,
            capability=capability,
        )

    def scoped_queryset(self, workspace):
        raise NotImplementedError

    def get_queryset(self):
        return self.scoped_queryset(self.workspace)

    def get_object(self):
        queryset = self.filter_queryset(self.get_queryset())
        lookup = {self.lookup_field: self.kwargs[self.lookup_url_kwarg or self.lookup_field]}
        try:
            obj = queryset.get(**lookup)
        except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
            raise Http404(
                f"No {queryset.model._meta.verbose_name} matches the given query."
            ) from exc
        self.check_object_permissions(self.request, obj)
        return obj

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["workspace"] = getattr(self, "workspace", None)
        return context


class _NoFormatOverride:
    URL_FORMAT_OVERRIDE = None


class ExportNegotiation(DefaultContentNegotiation):
    """Leaves `?format=` to the export (csv or jsonl) instead of DRF's renderer choice.

    Errors of the export are still rendered as JSON.
    """

    settings = _NoFormatOverride()
