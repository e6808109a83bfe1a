"""Each workspace's log policy: how much of a payload to keep, and for how long.

The writer applies the payload policy as it writes (`apply_payload_policy`), from a copy of the
policies cached for `POLICY_CACHE_SECONDS`: a change reaches every worker within that time, and
at once in the process that made it.
"""

import json
import threading
import time
from dataclasses import dataclass

from django.db import transaction

from audit.models import LogPolicy, PayloadState
from core.errors import ValidationFailed
from teams.changes import record_change

POLICY_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class PayloadRule:
    mode: str = LogPolicy.PayloadMode.FULL
    max_bytes: int = 16 * 1024


_DEFAULT = PayloadRule()
_cache: dict[int, tuple[float, PayloadRule]] = {}
_cache_lock = threading.Lock()


def log_policy_of(workspace) -> LogPolicy:
    """The workspace's policy, created with the defaults the first time it is asked for."""
    policy, _created = LogPolicy.objects.get_or_create(workspace=workspace)
    return policy


def update_log_policy(
    *,
    workspace,
    actor,
    payload_mode: str | None = None,
    payload_max_kb: int | None = None,
    retention_days: int | None = None,
) -> LogPolicy:
    """Change a workspace's log policy and write the admin audit row."""
    if payload_mode is not None and payload_mode not in LogPolicy.PayloadMode.values:
        raise ValidationFailed(
            f"Unknown payload mode '{payload_mode}'; use full, truncated or metadata.",
            field="payload_mode",
        )
    for field, value in (("payload_max_kb", payload_max_kb), ("retention_days", retention_days)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValidationFailed(f"{field} must be a whole number of at least 1.", field=field)
    with transaction.atomic():
        policy = log_policy_of(workspace)
        before = _fields(policy)
        if payload_mode is not None:
            policy.payload_mode = payload_mode
        if payload_max_kb is not None:
            policy.payload_max_kb = payload_max_kb
        if retention_days is not None:
            policy.retention_days = retention_days
        policy.save()
        record_change(
            workspace=workspace,
            actor=actor,
            action="log_policy.update",
            target=workspace,
            detail={"before": before, "after": _fields(policy)},
        )
    forget_cached_policies()
    return policy


def _fields(policy: LogPolicy) -> dict:
    return {
        "payload_mode": policy.payload_mode,
        "payload_max_kb": policy.payload_max_kb,
        "retention_days": policy.retention_days,
    }


def forget_cached_policies() -> None:
    with _cache_lock:
        _cache.clear()


def payload_rules(workspace_ids) -> dict[int, PayloadRule]:
    """The payload rule of each workspace, from the cache or one query for the missing ones."""
    now = time.monotonic()
    rules, missing = {}, []
    with _cache_lock:
        for workspace_id in workspace_ids:
            cached = _cache.get(workspace_id)
            if cached and cached[0] > now:
                rules[workspace_id] = cached[1]
            else:
                missing.append(workspace_id)
    if missing:
        found = {
            row["workspace_id"]: PayloadRule(row["payload_mode"], row["payload_max_kb"] * 1024)
            for row in LogPolicy.objects.filter(workspace_id__in=missing).values(
                "workspace_id", "payload_mode", "payload_max_kb"
            )
        }
        with _cache_lock:
            for workspace_id in missing:
                rule = found.get(workspace_id, _DEFAULT)
                _cache[workspace_id] = (now + POLICY_CACHE_SECONDS, rule)
                rules[workspace_id] = rule
    return rules


def apply_payload_policy(payload, rule: PayloadRule):
    """(payload to store, PayloadState) under `rule`.

    A truncated payload is stored as `{"truncated": true, "bytes": <full size>, "head": <the
    first max_bytes of its JSON text>}`, so what is kept stays valid JSON.
    """
    if payload is None or rule.mode == LogPolicy.PayloadMode.METADATA:
        return None, PayloadState.OMITTED
    if rule.mode == LogPolicy.PayloadMode.TRUNCATED:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        size = len(text.encode())
        if size > rule.max_bytes:
            head = text.encode()[: rule.max_bytes].decode("utf-8", "ignore")
            return {"truncated": True, "bytes": size, "head": head}, PayloadState.TRUNCATED
    return payload, PayloadState.FULL
