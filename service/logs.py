"""Structured logs: one JSON object per line, and the request-id rules.

Every record has ``ts`` (UTC, ISO 8601), ``level``, ``logger`` and ``msg``; access records add
``request_id``, ``method``, ``path``, ``route``, ``status``, ``duration_ms``, once a route has
picked a model ``model_version``, and with a valid API key ``key_id`` (the key's name, never the
key). Request bodies are never logged, so neither ``email_hash``, ``company_hash`` nor
``learner_id`` values (nor API keys, which live in headers) reach a log line.

``python -m service`` hands :func:`log_config` to uvicorn (so its own messages are JSON too) and
turns uvicorn's access log off in favour of the one written by
:class:`service.middleware.RequestContextMiddleware`.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = [
    "ACCESS_LOGGER",
    "FIELDS",
    "JsonFormatter",
    "log_config",
    "request_id_from",
]

#: Logger of the access lines (one per request).
ACCESS_LOGGER = "service.access"
#: The record attributes copied into the JSON object when a call passes them in ``extra``.
FIELDS = (
    "request_id",
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "model_version",
    "key_id",
    "previous_version",
    "reason",
)
# A client's request id is echoed only when it is a plain token (no spaces, quotes or
# control characters that could forge log lines or headers).
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,  # which worker, when there are several
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                out[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
            out["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def log_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict: JSON lines on stdout for ours, uvicorn's and root."""
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"handlers": ["stdout"], "level": upper},
        "loggers": {
            "uvicorn": {"handlers": [], "level": upper, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": upper, "propagate": True},
            # Ours replaces it; kept quiet even if someone turns uvicorn's back on.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def request_id_from(header: str | None) -> str:
    """The client's ``X-Request-ID`` when it is a sane token, else a new random one."""
    if header is not None and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex
