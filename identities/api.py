"""The API token and upstream credential endpoints of the management API.

Every member manages their own tokens; `clients.manage_tokens` extends that to everyone's
(listing, revoking, and issuing a token for another member). Another member's token is a 404
without it, as if it did not exist. An API token issues or revokes tokens only with the
`clients.manage_tokens` scope, and never gives a new token a scope it does not hold itself.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.errors import ValidationFailed
from identities import selectors, services
from identities.models import ApiToken, UpstreamCredential
from identities.serializers import (
    CredentialInput,
    CredentialOutput,
    IssuedTokenOutput,
    TokenCreateInput,
    TokenOutput,
)
from teams import api_access
from teams.api_base import OWN, WorkspaceViewSet
from teams.api_schema import GATEWAY_PARAMETER, WORKSPACE_PARAMETER, workspace_scoped
from teams.capabilities import CLIENTS_MANAGE_TOKENS, GATEWAYS_MANAGE, IDENTITIES_MANAGE
from teams.selectors import member_by_email


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Bearer gth_...` in the OpenAPI schema."""

    target_class = "identities.inbound.api_authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix="Bearer"
        )


@workspace_scoped
class TokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet):
    serializer_class = TokenOutput
    queryset = ApiToken.objects.none()
    required = {"list": OWN, "retrieve": OWN, "create": OWN, "revoke": OWN}
    # Tokens issue and revoke tokens only with the token-managing scope.
    token_scope = {"create": CLIENTS_MANAGE_TOKENS, "revoke": CLIENTS_MANAGE_TOKENS}

    def scoped_queryset(self, workspace):
        return selectors.tokens_visible_to(
            self.membership, see_all=self.can(CLIENTS_MANAGE_TOKENS)
        ).order_by("-created_at", "-id")

    def _owner(self, email):
        if not email or email.lower() == self.request.user.email.lower():
            return self.membership
        self.require(CLIENTS_MANAGE_TOKENS)
        owner = member_by_email(self.workspace, email)
        if owner is None:
            raise ValidationFailed(f"{email} is not a member of this workspace.", field="user")
        return owner

    @extend_schema(request=TokenCreateInput, responses={201: IssuedTokenOutput})
    def create(self, request, *args, **kwargs):
        """Issue a token. The response carries the secret, which is never shown again."""
        serializer = TokenCreateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        owner = self._owner(data.get("user"))
        gateway = None
        if data.get("gateway"):
            # The token's owner must be able to use the gateway it is scoped to.
            gateway = selectors.gateway_for_token(owner, data["gateway"])
            if gateway is None:
                raise ValidationFailed(f"Unknown gateway '{data['gateway']}'.", field="gateway")
        issued = services.issue_token(
            membership=owner,
            name=data["name"],
            kind=data["kind"],
            scopes=data["scopes"],
            gateway=gateway,
            expires_at=data.get("expires_at"),
            actor=request.user,
            minter_holds=api_access.scopes_held(self.membership, request.auth),
        )
        body = IssuedTokenOutput(issued.token, context={"secret": issued.secret}).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TokenOutput)
    @action(detail=True, methods=["post"])
    def revoke(self, request, *args, **kwargs):
        token = services.revoke_token(token=self.get_object(), actor=request.user)
        return Response(TokenOutput(token).data)


ASSIGNMENT_PARAMETER = OpenApiParameter(
    "assignment", int, OpenApiParameter.PATH, description="The assignment's id."
)


@extend_schema(parameters=[WORKSPACE_PARAMETER, GATEWAY_PARAMETER, ASSIGNMENT_PARAMETER])
class CredentialViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet):
    """The credentials the gateway presents to one assignment's upstream.

    Setting your own credential needs nothing but access to the gateway; the shared one needs
    `gateways.manage`; other people's are seen with `identities.view_all` and disabled or deleted
    with `identities.manage`. Secrets are write-only: answers carry a masked hint.
    """

    serializer_class = CredentialOutput
    queryset = UpstreamCredential.objects.none()
    required = {
        "list": OWN,
        "retrieve": OWN,
        "create": OWN,
        "destroy": OWN,
        "disable": OWN,
        "enable": OWN,
    }

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.assignment = selectors.access_usable_assignment(
            self.membership, kwargs["gateway"], kwargs["assignment"]
        )

    def scoped_queryset(self, workspace):
        return selectors.credentials_visible_to(self.membership, self.assignment).order_by("id")

    def _require_change(self, credential) -> None:
        if credential.owner_id == self.request.user.pk:
            return
        needed = GATEWAYS_MANAGE if credential.owner_id is None else IDENTITIES_MANAGE
        self.require(needed)

    @extend_schema(
        request=CredentialInput, responses={200: CredentialOutput, 201: CredentialOutput}
    )
    def create(self, request, *args, **kwargs):
        """Set (or replace) the shared credential or your own. 201 when new, 200 when replaced."""
        serializer = CredentialInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        shared = data.pop("shared")
        if shared:
            self.require(GATEWAYS_MANAGE)
        credential, created = services.set_credential(
            assignment=self.assignment,
            owner=None if shared else request.user,
            data=data,
            actor=request.user,
        )
        return Response(
            CredentialOutput(credential).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def destroy(self, request, *args, **kwargs):
        credential = self.get_object()
        self._require_change(credential)
        services.delete_credential(credential=credential, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _toggle(self, request, disabled: bool):
        credential = self.get_object()
        self._require_change(credential)
        credential = services.set_credential_disabled(
            credential=credential, disabled=disabled, actor=request.user
        )
        return Response(CredentialOutput(credential).data)

    @extend_schema(request=None, responses=CredentialOutput)
    @action(detail=True, methods=["post"])
    def disable(self, request, *args, **kwargs):
        return self._toggle(request, True)

    @extend_schema(request=None, responses=CredentialOutput)
    @action(detail=True, methods=["post"])
    def enable(self, request, *args, **kwargs):
        return self._toggle(request, False)
