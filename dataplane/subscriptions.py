"""2026-07-28 `subscriptions/listen`: one request, one stream of the gateway's change notifications.

The stream opens with `notifications/subscriptions/acknowledged` naming the notifications the
gateway will send (the subset of the request's filter it honors), then carries only those, each
tagged with the listen request's id in `_meta` (SEP-2575), as the SDK's own server does. The
gateway honors the three list_changed kinds, sent when its merged lists change (an upstream's
list_changed, a configuration change); resource subscriptions are not honored, so the
acknowledgement leaves them out.
"""

from dataplane import protocol, reply
from servers.sse import frame

# The filter's flag for each notification the gateway sends on listen streams.
FLAGS = {
    "notifications/tools/list_changed": "toolsListChanged",
    "notifications/prompts/list_changed": "promptsListChanged",
    "notifications/resources/list_changed": "resourcesListChanged",
}


def honored(params) -> dict:
    """The part of the request's `notifications` filter the gateway will deliver."""
    requested = params.get("notifications") if isinstance(params, dict) else None
    if not isinstance(requested, dict):
        return {}
    return {flag: True for flag in FLAGS.values() if requested.get(flag) is True}


async def listen(receive, send, snapshot, request_id, params) -> None:
    """Serve one listen stream until the client leaves or the worker stops."""
    filter_ = honored(params)
    meta = {protocol.META_SUBSCRIPTION_ID: request_id}
    acknowledged = {
        "jsonrpc": "2.0",
        "method": "notifications/subscriptions/acknowledged",
        "params": {"notifications": filter_, "_meta": meta},
    }

    def shape(message: dict) -> dict | None:
        if not isinstance(message, dict) or not filter_.get(FLAGS.get(message.get("method"))):
            return None
        return {**message, "params": {**(message.get("params") or {}), "_meta": meta}}

    await reply.notification_stream(
        receive, send, snapshot.id, first=frame(acknowledged), shape=shape
    )
