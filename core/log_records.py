"""What a log line says besides its message: the time, and the MCP call it belongs to.

The data plane names each call with a correlation id (the one its audit entries carry) and sets
it here; `CorrelationFilter` puts it on every record logged while the call runs, so an operator
finds a call's log lines from its audit entries and back. `LOG_FORMAT=json` writes one JSON
object per line for log shippers.
"""

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

# Set per call by the data plane; tasks a call starts inherit it.
correlation_id: ContextVar[str] = ContextVar("correlation_id", default="")


class CorrelationFilter(logging.Filter):
    """Adds `correlation_id`, and `correlation` (" [id]" or ""), to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = correlation_id.get()
        if len(current) == 32:
            # Written as the console, the API and exports show it (a UUID), only when logged.
            current = (
                f"{current[:8]}-{current[8:12]}-{current[12:16]}-{current[16:20]}-{current[20:]}"
            )
        record.correlation_id = current
        record.correlation = f" [{current}]" if current else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, and the
    correlation id and exception when there are."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "correlation_id", ""):
            entry["correlation_id"] = record.correlation_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)
