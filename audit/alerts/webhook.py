"""Writes to a workspace's alert webhook: set it up or change it, and remove it.

The endpoint is checked like a SIEM webhook's (HTTPS, and a private or loopback address only
inside an `allow_private` network); the signing key is encrypted at rest with the credentials
keys and never shown again. Set up without a key, the webhook gets a generated one, returned
once. Each change writes an admin audit row without the secret.
"""

from django.db import transaction

from audit.models import AlertWebhook
from audit.sinks import http
from audit.sinks.services import new_signing_key, signing_key_secret
from core import crypto, outbound_http
from core.errors import ValidationFailed
from teams.changes import record_change


def _clean(webhook: AlertWebhook) -> None:
    try:
        networks = outbound_http.parse_networks(webhook.allow_private)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="allow_private") from exc
    try:
        webhook.endpoint = http.clean_url(webhook.endpoint, networks)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="endpoint") from exc
    webhook.allow_private = [str(n) for n in networks]


@transaction.atomic
def set_alert_webhook(
    *,
    workspace,
    actor,
    endpoint: str,
    allow_private: list | None = None,
    enabled: bool = True,
    signing_key: str | None = None,
) -> tuple[AlertWebhook, str | None]:
    """Set up or change the webhook; returns it and the key it generated (None if none was).

    A change that leaves `signing_key` out keeps the key stored.
    """
    webhook = AlertWebhook.objects.for_workspace(workspace).first()
    created = webhook is None
    if created:
        webhook = AlertWebhook(workspace=workspace)
    before = {
        "endpoint": webhook.endpoint,
        "allow_private": list(webhook.allow_private or []),
        "enabled": webhook.enabled,
    }
    webhook.endpoint = endpoint
    webhook.allow_private = allow_private if allow_private is not None else webhook.allow_private
    webhook.enabled = enabled
    _clean(webhook)
    generated = None
    if signing_key is None and created:
        generated = signing_key = new_signing_key()
    if signing_key is not None:
        secret, hint = signing_key_secret(signing_key)
        webhook.secret, webhook.secret_hint = crypto.encrypt(secret), hint
    webhook.save()
    after = {
        "endpoint": webhook.endpoint,
        "allow_private": webhook.allow_private,
        "enabled": webhook.enabled,
    }
    changed = sorted(k for k in after if created or before[k] != after[k])
    if signing_key is not None:
        changed.append("signing_key")
    record_change(
        workspace=workspace,
        actor=actor,
        action="alert_webhook.create" if created else "alert_webhook.update",
        target=webhook,
        detail={
            "fields": changed,
            "before": None if created else before,
            "after": after,
        },
    )
    return webhook, generated


@transaction.atomic
def delete_alert_webhook(*, webhook: AlertWebhook, actor) -> None:
    """Remove the webhook; alerts still owed to it are not posted."""
    record_change(
        workspace=webhook.workspace,
        actor=actor,
        action="alert_webhook.delete",
        target=webhook,
        detail={"endpoint": webhook.endpoint},
    )
    webhook.delete()
