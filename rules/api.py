"""The rules endpoints of the management API: /api/v1/workspaces/<ws>/rules/.

Any member may read the workspace's rules; writing them, installing the default set, reordering
and "try it" (`preview/`) need `rules.manage`. A rule of another workspace is a 404.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.errors import ValidationFailed
from rules import preview as previews
from rules import selectors, services
from rules.detectors import REGISTRY
from rules.detectors.secret_kinds import KINDS as SECRET_KINDS
from rules.models import Rule
from rules.serializers import (
    DetectorsOutput,
    PreviewInput,
    PreviewOutput,
    ReorderInput,
    RuleCreateInput,
    RuleOutput,
    RuleUpdateInput,
)
from teams.api_base import WorkspaceViewSet
from teams.api_schema import workspace_scoped
from teams.capabilities import INTEGRATIONS_MANAGE, RULES_MANAGE


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@workspace_scoped
class RuleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet):
    serializer_class = RuleOutput
    queryset = Rule.objects.none()
    required = {
        "create": RULES_MANAGE,
        "partial_update": RULES_MANAGE,
        "destroy": RULES_MANAGE,
        "preview": RULES_MANAGE,
        "reorder": RULES_MANAGE,
        "defaults": RULES_MANAGE,
    }

    def scoped_queryset(self, workspace):
        params = self.request.query_params
        return selectors.rules_of(
            workspace, gateway_slug=params.get("gateway"), scope=params.get("scope")
        )

    def _check_integrations(self, *detector_keys) -> None:
        """External rule engines (the webhook detector) are integrations as well as rules."""
        external = any(getattr(REGISTRY.get(k), "external", False) for k in detector_keys if k)
        if external:
            self.require(INTEGRATIONS_MANAGE)

    def _scope(self, data: dict) -> dict:
        gateway_slug = data.pop("gateway", None)
        assignment_id = data.pop("assignment", None)
        gateway = assignment = None
        if gateway_slug:
            gateway = selectors.gateway_named(self.workspace, gateway_slug)
            if gateway is None:
                raise ValidationFailed(f"Unknown gateway '{gateway_slug}'.", field="gateway")
        if assignment_id is not None:
            assignment = selectors.assignment_of(self.workspace, assignment_id)
            if assignment is None:
                raise ValidationFailed("Unknown assignment.", field="assignment")
        return {"gateway": gateway, "assignment": assignment}

    @extend_schema(request=RuleCreateInput, responses={201: RuleOutput})
    def create(self, request, *args, **kwargs):
        data = _valid(RuleCreateInput, request)
        self._check_integrations(data.get("detector"))
        scope = self._scope(data)
        rule = services.create_rule(workspace=self.workspace, actor=request.user, **scope, **data)
        return Response(RuleOutput(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RuleUpdateInput, responses=RuleOutput)
    def partial_update(self, request, *args, **kwargs):
        rule = self.get_object()
        data = _valid(RuleUpdateInput, request)
        if not data:
            raise ValidationFailed("Nothing to change.")
        self._check_integrations(rule.detector, data.get("detector"))
        rule = services.update_rule(rule=rule, actor=request.user, **data)
        return Response(RuleOutput(rule).data)

    def destroy(self, request, *args, **kwargs):
        rule = self.get_object()
        self._check_integrations(rule.detector)
        services.delete_rule(rule=rule, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=PreviewInput, responses=PreviewOutput)
    @action(detail=False, methods=["post"])
    def preview(self, request, *args, **kwargs):
        """Run a rule (not saved) on a sample payload, or on a gateway's last logged calls."""
        data = _valid(PreviewInput, request)
        if "sample" in data:
            result = previews.preview(
                workspace=self.workspace,
                rule_data=data["rule"],
                sample=data["sample"],
                direction=data["direction"],
                method=data["method"],
                tool_name=data.get("tool"),
                server_name=data.get("server"),
            )
            return Response(result)
        calls = previews.preview_logged(
            workspace=self.workspace,
            rule_data=data["rule"],
            gateway_slug=data["gateway"],
            limit=data["limit"],
        )
        return Response({"calls": calls})

    @extend_schema(request=ReorderInput, responses=RuleOutput(many=True))
    @action(detail=False, methods=["post"], pagination_class=None)
    def reorder(self, request, *args, **kwargs):
        """Set the order of the listed rules to the order of the list."""
        data = _valid(ReorderInput, request)
        rules = services.reorder_rules(
            workspace=self.workspace, actor=request.user, rule_ids=data["ids"]
        )
        return Response(RuleOutput(rules, many=True).data)

    @extend_schema(request=None, responses={201: RuleOutput(many=True)})
    @action(detail=False, methods=["post"], pagination_class=None)
    def defaults(self, request, *args, **kwargs):
        """Install the default rule set at workspace scope (rules already there are kept)."""
        rules = services.install_default_rules(workspace=self.workspace, actor=request.user)
        return Response(RuleOutput(rules, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=DetectorsOutput)
    @action(detail=False, methods=["get"], pagination_class=None)
    def detectors(self, request, *args, **kwargs):
        """The detectors, the actions each supports, and the secret kinds known."""
        return Response(
            {
                "detectors": [
                    {"key": key, "label": cls.label, "actions": sorted(cls.actions)}
                    for key, cls in REGISTRY.items()
                ],
                "secret_kinds": [{"kind": k.kind, "family": k.family} for k in SECRET_KINDS],
            }
        )
