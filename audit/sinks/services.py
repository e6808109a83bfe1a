"""Writes to SIEM sinks: create, change and delete, validated, and recorded without secrets.

Secrets (the webhook's signing key, the OTLP headers) are encrypted at rest with the
credentials keys (`core.crypto`, `CREDENTIALS_KEYS`); answers and admin audit rows carry
only a hint. A webhook created without a signing key gets a generated one, returned once.
"""

import re
import secrets
import ssl

from django.db import transaction

from audit.models import ChainHead, LogSink
from audit.sinks import REGISTRY
from core import crypto, outbound_http
from core.errors import Conflict, ValidationFailed
from teams.changes import record_change

FIELDS = (
    "enabled",
    "endpoint",
    "allow_private",
    "tls",
    "tls_verify",
    "ca_pem",
    "include_payloads",
    "batch_size",
)
MAX_BATCH_SIZE = 5000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_RESERVED_HEADERS = {"host", "content-type", "content-length", "user-agent"}


def _clean_headers(headers) -> dict:
    if not isinstance(headers, dict) or not headers:
        raise ValidationFailed(
            "'headers' must be an object of header names to values.", field="headers"
        )
    for name, value in headers.items():
        if not _HEADER_NAME.match(str(name)) or name.lower() in _RESERVED_HEADERS:
            raise ValidationFailed(f"'{name}' cannot be used as a header name.", field="headers")
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise ValidationFailed(
                f"The value of '{name}' must be one line of text.", field="headers"
            )
    return {str(k): v for k, v in headers.items()}


def new_signing_key() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signing_key_secret(signing_key: str) -> tuple[dict, str]:
    """A webhook signing key as the secret to store and its hint (the alert webhook's too)."""
    if len(signing_key) < 16:
        raise ValidationFailed(
            "The signing key must be 16 characters or more.", field="signing_key"
        )
    return {"signing_key": signing_key}, f"…{signing_key[-4:]}"


def _secret(kind: str, *, signing_key, headers) -> tuple[dict, str] | None:
    """The secret to store and its hint, or None when none was given."""
    if signing_key is not None:
        if kind != LogSink.Kind.WEBHOOK:
            raise ValidationFailed("Only a webhook has a signing key.", field="signing_key")
        return signing_key_secret(signing_key)
    if headers is not None:
        if kind != LogSink.Kind.OTLP_HTTP:
            raise ValidationFailed("Only an OTLP sink sends headers.", field="headers")
        cleaned = _clean_headers(headers)
        return {"headers": cleaned}, "headers: " + ", ".join(sorted(cleaned))
    return None


def _validate(sink: LogSink) -> None:
    if not _NAME.match(sink.name or ""):
        raise ValidationFailed(
            "Use letters, digits, '.', '_' and '-' (up to 64) for the name.", field="name"
        )
    try:
        networks = outbound_http.parse_networks(sink.allow_private)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="allow_private") from exc
    try:
        sink.endpoint = REGISTRY[sink.kind].clean_endpoint(sink.endpoint, networks, tls=sink.tls)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="endpoint") from exc
    sink.allow_private = [str(n) for n in networks]
    if sink.ca_pem and sink.kind != LogSink.Kind.SYSLOG:
        raise ValidationFailed("'ca_pem' applies to syslog sinks only.", field="ca_pem")
    if sink.ca_pem:
        try:
            ssl.create_default_context(cadata=sink.ca_pem)
        except (ssl.SSLError, ValueError) as exc:
            raise ValidationFailed(
                "'ca_pem' holds no readable PEM certificate.", field="ca_pem"
            ) from exc
    if not 1 <= sink.batch_size <= MAX_BATCH_SIZE:
        raise ValidationFailed(f"'batch_size' must be 1 to {MAX_BATCH_SIZE}.", field="batch_size")
    clash = LogSink.objects.for_workspace(sink.workspace_id).filter(name=sink.name)
    if clash.exclude(pk=sink.pk).exists():
        raise Conflict(f"A sink named '{sink.name}' exists already.", field="name")


@transaction.atomic
def create_sink(
    *,
    workspace,
    actor,
    name: str,
    kind: str,
    signing_key: str | None = None,
    headers: dict | None = None,
    backfill: bool = True,
    **fields,
) -> tuple[LogSink, str | None]:
    """Create a sink; returns it and the signing key it generated (None if it took one given).

    `backfill` sends the entries already in the log; otherwise the sink starts at the newest.
    """
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    if kind not in REGISTRY:
        raise ValidationFailed(f"Unknown kind '{kind}'.", field="kind")
    sink = LogSink(workspace=workspace, name=name, kind=kind, **fields)
    _validate(sink)
    generated = None
    if kind == LogSink.Kind.WEBHOOK and signing_key is None:
        generated = signing_key = new_signing_key()
    secret = _secret(kind, signing_key=signing_key, headers=headers)
    if secret:
        sink.secret, sink.secret_hint = crypto.encrypt(secret[0]), secret[1]
    if not backfill:
        head = ChainHead.objects.filter(workspace_id=workspace.pk).values_list("seq", flat=True)
        sink.cursor_seq = head.first() or 0
    sink.save()
    record_change(
        workspace=workspace,
        actor=actor,
        action="sink.create",
        target=sink,
        detail={"kind": kind, "backfill": backfill, "cursor_seq": sink.cursor_seq},
    )
    return sink, generated


@transaction.atomic
def update_sink(
    *, sink: LogSink, actor, signing_key: str | None = None, headers: dict | None = None, **changes
) -> LogSink:
    """Change some fields; a new endpoint or secret gets an attempt at once, not after backoff."""
    unknown = set(changes) - {"name", *FIELDS}
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    changed = sorted(k for k, v in changes.items() if getattr(sink, k) != v)
    for key, value in changes.items():
        setattr(sink, key, value)
    _validate(sink)
    secret = _secret(sink.kind, signing_key=signing_key, headers=headers)
    if secret:
        sink.secret, sink.secret_hint = crypto.encrypt(secret[0]), secret[1]
        changed.append("secret")
    if changed:
        sink.failures, sink.next_attempt_at = 0, None
    sink.save()
    record_change(
        workspace=sink.workspace,
        actor=actor,
        action="sink.update",
        target=sink,
        detail={"fields": changed},
    )
    return sink


@transaction.atomic
def delete_sink(*, sink: LogSink, actor) -> None:
    record_change(
        workspace=sink.workspace,
        actor=actor,
        action="sink.delete",
        target=sink,
        detail={"kind": sink.kind, "cursor_seq": sink.cursor_seq},
    )
    sink.delete()
