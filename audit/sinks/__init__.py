"""SIEM streaming: a workspace's log entries delivered, in chain order, to the sinks it set up.

One small transport per kind (`webhook`, `otlp_http`, `syslog`) over one base; `delivery` moves
each sink's cursor through the log, and `services` owns the writes to sinks.
"""

from audit.sinks.otlp import OtlpHttpTransport
from audit.sinks.syslog import SyslogTransport
from audit.sinks.webhook import WebhookTransport

REGISTRY = {t.kind: t for t in (WebhookTransport, OtlpHttpTransport, SyslogTransport)}
