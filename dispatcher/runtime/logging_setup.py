"""Logging configuration for the entry points (text or JSON lines), and the request-id contextvar.

Library modules only do ``logger = logging.getLogger(__name__)``; handlers are configured
here, called once from ``dispatcher serve`` (never at import). Every record carries the
``request_id`` of the gRPC call it was logged under (set by ``dispatcher.api.call_observer``).
"""

from __future__ import annotations

import json
import logging
import logging.config
import time
from contextvars import ContextVar
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("dispatch_request_id", default=None)
"""Request id of the gRPC call being handled (``x-request-id`` metadata or a generated one)."""

# Attributes every LogRecord has; anything else was passed via ``extra=`` and is emitted.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "request_id"}
)


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (``"-"`` outside a call)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, msg, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        created = time.gmtime(record.created)
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", created)
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "-")
        if request_id != "-":
            out["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send logs to stderr as ``text`` (human) or ``json`` (one object per line)."""
    formatter: dict[str, Any]
    if fmt == "json":
        formatter = {"()": JsonFormatter}
    else:
        formatter = {
            "format": "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s",
        }
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"request_id": {"()": RequestIdFilter}},
            "formatters": {"default": formatter},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "stream": "ext://sys.stderr",
                    "formatter": "default",
                    "filters": ["request_id"],
                }
            },
            "root": {"level": level, "handlers": ["stderr"]},
            # Third-party chatter stays at WARNING unless we debug.
            "loggers": {
                name: {"level": "DEBUG" if level == "DEBUG" else "WARNING"}
                for name in ("grpc", "asyncio", "redis", "urllib3")
            },
        }
    )
