"""Console pages of the alert webhook: set it up or change it, see how deliveries went, post a
test alert, remove it.

As in the API, every page needs `integrations.manage`, and saving also needs `alerts.view_all`
(every alert of the workspace goes there). A signing key generated for a new webhook is shown
on the answer to the save, once; a key typed in is never rendered back.
"""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse

from audit.alerts import delivery
from audit.alerts.forms import AlertWebhookForm
from audit.alerts.selectors import alert_webhook_of, recent_alert_deliveries
from audit.alerts.webhook import delete_alert_webhook, set_alert_webhook
from core.errors import GatehouseError
from teams.capabilities import ALERTS_VIEW_ALL, INTEGRATIONS_MANAGE
from teams.console_base import WorkspacePage, show_error

RECENT_DELIVERIES = 10


class AlertWebhookPage(WorkspacePage):
    required = {"GET": INTEGRATIONS_MANAGE, "POST": INTEGRATIONS_MANAGE}

    def _render(self, form, webhook, *, new_key: str = "", status: int = 200):
        return self.render(
            "audit/alert_webhook.html",
            {
                "form": form,
                "webhook": webhook,
                "deliveries": recent_alert_deliveries(self.workspace, limit=RECENT_DELIVERIES)
                if webhook is not None
                else [],
                "new_key": new_key,
            },
            status=status,
        )

    def get(self, request):
        webhook = alert_webhook_of(self.workspace)
        initial = {"enabled": True}
        if webhook is not None:
            initial = {
                "endpoint": webhook.endpoint,
                "allow_private": webhook.allow_private,
                "enabled": webhook.enabled,
            }
        return self._render(AlertWebhookForm(initial=initial), webhook)

    def post(self, request):
        self.require(ALERTS_VIEW_ALL)
        form = AlertWebhookForm(request.POST)
        if form.is_valid():
            try:
                _, generated = set_alert_webhook(
                    workspace=self.workspace, actor=request.user, **form.service_fields()
                )
            except GatehouseError as exc:
                show_error(form, exc)
            else:
                webhook = alert_webhook_of(self.workspace)
                if generated:
                    # Shown on this answer only: a redirect would have to carry the key.
                    form = AlertWebhookForm(
                        initial={
                            "endpoint": webhook.endpoint,
                            "allow_private": webhook.allow_private,
                            "enabled": webhook.enabled,
                        }
                    )
                    return self._render(form, webhook, new_key=generated)
                messages.success(request, "The alert webhook was saved.")
                return redirect("alert-webhook", ws=self.workspace.slug)
        return self._render(form, alert_webhook_of(self.workspace), status=400)


class AlertWebhookBase(WorkspacePage):
    required = {"GET": INTEGRATIONS_MANAGE, "POST": INTEGRATIONS_MANAGE}

    def webhook(self):
        webhook = alert_webhook_of(self.workspace)
        if webhook is None:
            raise Http404("No alert webhook is set up for this workspace.")
        return webhook


class AlertWebhookTestPage(AlertWebhookBase):
    def post(self, request):
        error = delivery.send_test(self.webhook())
        if error:
            messages.error(request, f"The test alert was not accepted: {error}")
        else:
            messages.success(request, "The test alert was accepted.")
        return redirect("alert-webhook", ws=self.workspace.slug)


class AlertWebhookDeletePage(AlertWebhookBase):
    def get(self, request):
        webhook = self.webhook()
        return self.render(
            "console/confirm.html",
            {
                "title": "Remove the alert webhook?",
                "body": f"New alerts will no longer be posted to {webhook.endpoint}, and alerts "
                "still waiting to be posted there are dropped.",
                "action": "Remove webhook",
                "cancel_url": reverse("alert-webhook", kwargs={"ws": self.workspace.slug}),
            },
        )

    def post(self, request):
        delete_alert_webhook(webhook=self.webhook(), actor=request.user)
        messages.success(request, "The alert webhook was removed.")
        return redirect("alert-webhook", ws=self.workspace.slug)
