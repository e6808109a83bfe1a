"""The console page of a workspace's SCIM set-up, `/w/<ws>/settings/scim/`: the endpoint's base
URL, the role new people get and the group-to-team mapping, and the SCIM tokens (issued here,
the secret shown once in the answer to the POST; revoked from here). `workspace.manage`."""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

from core.errors import CapabilityRequired, GatehouseError
from identities import selectors as identity_selectors
from identities import services as identity_services
from identities.forms import ScimSettingsForm, ScimTokenForm
from identities.scim import selectors, services
from teams.capabilities import WORKSPACE_MANAGE
from teams.console_base import WorkspacePage, show_error
from teams.models import Role


class ScimPage(WorkspacePage):
    required = {"GET": WORKSPACE_MANAGE, "POST": WORKSPACE_MANAGE}

    def _settings_form(self, data=None):
        roles = Role.objects.for_workspace(self.workspace).order_by("name")
        initial = ScimSettingsForm.initial_from(selectors.scim_settings_of(self.workspace))
        return ScimSettingsForm(data, roles=roles, initial=initial)

    def get(self, request, form=None, token_form=None, issued=None):
        failed = form is not None and form.errors or token_form is not None and token_form.errors
        return self.render(
            "identities/scim.html",
            {
                "form": form or self._settings_form(),
                "token_form": token_form or ScimTokenForm(),
                "tokens": identity_selectors.scim_tokens_of(self.workspace),
                "issued": issued,
                "base_url": request.build_absolute_uri(f"/scim/v2/{self.workspace.slug}/"),
            },
            status=400 if failed else 200,
        )

    def post(self, request):
        if "issue" in request.POST:
            return self._issue(request)
        form = self._settings_form(request.POST)
        if not form.is_valid():
            return self.get(request, form=form)
        try:
            services.configure_scim(
                workspace=self.workspace,
                actor=request.user,
                acting_member=self.membership,
                default_role_key=form.cleaned_data["default_role"] or None,
                group_teams=form.cleaned_data["group_teams"],
            )
        except CapabilityRequired:
            raise
        except GatehouseError as exc:
            show_error(form, exc)
            return self.get(request, form=form)
        messages.success(request, "SCIM settings were saved.")
        return redirect("scim-settings", ws=self.workspace.slug)

    def _issue(self, request):
        token_form = ScimTokenForm(request.POST)
        if not token_form.is_valid():
            return self.get(request, token_form=token_form)
        issued = identity_services.issue_scim_token(
            membership=self.membership, name=token_form.cleaned_data["name"], actor=request.user
        )
        return self.get(request, issued=issued)


class ScimTokenRevokePage(WorkspacePage):
    required = {"GET": WORKSPACE_MANAGE, "POST": WORKSPACE_MANAGE}

    def _token(self, token_id):
        return self.access(identity_selectors.scim_tokens_of(self.workspace), pk=token_id)

    def get(self, request, token_id):
        token = self._token(token_id)
        return self.render(
            "console/confirm.html",
            {
                "title": f"Revoke the SCIM token {token.name} ({token.prefix}…)?",
                "body": "The identity provider using it is refused from its next request on. "
                "This cannot be undone.",
                "action": "Revoke token",
                "cancel_url": reverse("scim-settings", kwargs={"ws": self.workspace.slug}),
            },
        )

    def post(self, request, token_id):
        token = identity_services.revoke_token(token=self._token(token_id), actor=request.user)
        messages.success(request, f"The SCIM token {token.name} was revoked.")
        return redirect("scim-settings", ws=self.workspace.slug)
