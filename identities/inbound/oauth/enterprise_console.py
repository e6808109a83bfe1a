"""Console pages of Enterprise-Managed Authorization and headless clients:
`/w/<ws>/settings/trusted-idps/` (the identity providers whose ID-JAGs are exchanged for
gateway tokens; `workspace.manage`) and `/w/<ws>/headless-clients/` (confidential clients that
act as a member through the client credentials grant, the secret shown once in the answer to
the POST; `clients.manage_tokens`)."""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

from core.errors import GatehouseError
from identities.forms import HeadlessClientForm, TrustedIdpForm
from identities.inbound.oauth import headless_clients, trusted_idps
from identities.models import HeadlessClient, TrustedIdp
from teams.capabilities import CLIENTS_MANAGE_TOKENS, WORKSPACE_MANAGE
from teams.console_base import WorkspacePage, show_error
from teams.selectors import member_by_email


def _headless_of(workspace):
    return HeadlessClient.objects.for_workspace(workspace).select_related(
        "application", "membership__user"
    )


class TrustedIdpsPage(WorkspacePage):
    required = {"GET": WORKSPACE_MANAGE, "POST": WORKSPACE_MANAGE}

    def get(self, request, form=None):
        return self.render(
            "identities/trusted_idps.html",
            {
                "form": form or TrustedIdpForm(),
                "idps": TrustedIdp.objects.for_workspace(self.workspace),
                "token_url": request.build_absolute_uri("/oauth/token/"),
            },
            status=400 if form is not None else 200,
        )

    def post(self, request):
        form = TrustedIdpForm(request.POST)
        if not form.is_valid():
            return self.get(request, form=form)
        try:
            trusted_idps.trust_idp(
                workspace=self.workspace, actor=request.user, **form.cleaned_data
            )
        except GatehouseError as exc:
            show_error(form, exc)
            return self.get(request, form=form)
        messages.success(request, "The identity provider is trusted.")
        return redirect("trusted-idps", ws=self.workspace.slug)


class TrustedIdpRemovePage(WorkspacePage):
    required = {"GET": WORKSPACE_MANAGE, "POST": WORKSPACE_MANAGE}

    def get(self, request, idp_id):
        idp = self.access(TrustedIdp.objects, pk=idp_id)
        return self.render(
            "console/confirm.html",
            {
                "title": f"Stop trusting {idp.issuer}?",
                "body": "Its ID-JAGs are refused from now on; tokens already issued live out "
                "their time.",
                "action": "Stop trusting",
                "cancel_url": reverse("trusted-idps", kwargs={"ws": self.workspace.slug}),
            },
        )

    def post(self, request, idp_id):
        idp = self.access(TrustedIdp.objects, pk=idp_id)
        trusted_idps.distrust_idp(idp=idp, actor=request.user)
        messages.success(request, f"{idp.issuer} is no longer trusted.")
        return redirect("trusted-idps", ws=self.workspace.slug)


class HeadlessClientsPage(WorkspacePage):
    required = {"GET": CLIENTS_MANAGE_TOKENS, "POST": CLIENTS_MANAGE_TOKENS}

    def get(self, request, form=None, issued=None):
        return self.render(
            "identities/headless_clients.html",
            {
                "form": form or HeadlessClientForm(),
                "clients": _headless_of(self.workspace),
                "issued": issued,
                "token_url": request.build_absolute_uri("/oauth/token/"),
            },
            status=400 if form is not None and form.errors else 200,
        )

    def post(self, request):
        form = HeadlessClientForm(request.POST)
        if not form.is_valid():
            return self.get(request, form=form)
        membership = member_by_email(self.workspace, form.cleaned_data["member"])
        if membership is None:
            form.add_error("member", "No active member has that address.")
            return self.get(request, form=form)
        try:
            headless, secret = headless_clients.register_headless_client(
                workspace=self.workspace,
                membership=membership,
                name=form.cleaned_data["name"],
                actor=request.user,
            )
        except GatehouseError as exc:
            show_error(form, exc)
            return self.get(request, form=form)
        return self.get(request, issued={"client": headless, "secret": secret})


class HeadlessClientDeletePage(WorkspacePage):
    required = {"GET": CLIENTS_MANAGE_TOKENS, "POST": CLIENTS_MANAGE_TOKENS}

    def get(self, request, client_id):
        headless = self.access(_headless_of(self.workspace), pk=client_id)
        return self.render(
            "console/confirm.html",
            {
                "title": f"Delete the headless client {headless.application.name}?",
                "body": "Its secret stops working and every token it was given ends now. "
                "This cannot be undone.",
                "action": "Delete client",
                "cancel_url": reverse("headless-clients", kwargs={"ws": self.workspace.slug}),
            },
        )

    def post(self, request, client_id):
        headless = self.access(_headless_of(self.workspace), pk=client_id)
        name = headless.application.name
        headless_clients.delete_headless_client(headless=headless, actor=request.user)
        messages.success(request, f"The headless client {name} was deleted.")
        return redirect("headless-clients", ws=self.workspace.slug)
