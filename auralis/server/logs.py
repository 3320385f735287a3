"""Structured logs: one JSON object (or a text line) per record, no client payloads at INFO.

Records carry an ``event`` name and their `extra` fields. JSON is the format in production and
whenever the log stream is not a terminal; on a terminal in development the lines read as text
(``AURALIS_LOG_FORMAT`` picks either). Query strings are cut from uvicorn's access and WebSocket
lines, since they hold client input, and a ``token=`` value is masked wherever it appears in a
record's message or arguments (an absolute-form request line ``GET http://host/ws/stream?token=``
included).
"""

from __future__ import annotations

import json
import re
import logging
import logging.config
import time
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": mask_tokens(record.getMessage()),
    }
    for key, value in vars(record).items():
        if key not in _STANDARD and not key.startswith("_") and key != "color_message":
            out[key] = mask_tokens(value) if isinstance(value, str) else value
    if record.exc_info:
        out["exc"] = logging.Formatter().formatException(record.exc_info)
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """``12:00:01.250 info  auralis.server  server started  max_connections=64``: for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        head = f"{fields.pop('ts')[11:23]} {fields.pop('level'):<7} {fields.pop('logger')}  {fields.pop('msg')}"
        fields.pop("color_message", None)
        extra = exc = ""
        if "exc" in fields:
            exc = "\n" + str(fields.pop("exc"))
        if fields:
            parts = []
            for key, value in fields.items():
                text = str(value)
                parts.append(f"{key}={json.dumps(text) if (' ' in text or '=' in text or not text) else text}")
            extra = "  " + " ".join(parts)
        return head + extra + exc


#: ``token=<value>`` in a query string or anywhere else; the value ends at &, space, quote or #.
_TOKEN = re.compile(r"(?i)(token=)[^&\s\"'#]*")
MASK = "***"


def mask_tokens(text: str) -> str:
    """`text` with every ``token=`` value replaced by ``***``."""
    return _TOKEN.sub(lambda m: m.group(1) + MASK, text) if "oken=" in text or "OKEN=" in text else text


def _cut_query(value: str) -> str:
    """A path's or an absolute-form URL's query string cut off; other text as it is."""
    if "?" in value and (value.startswith("/") or "//" in value.split("?", 1)[0]):
        return value.split("?", 1)[0]
    return value


class RedactQueryFilter(logging.Filter):
    """Cuts ``?query`` off path and absolute-form URL arguments of uvicorn's access and WebSocket
    lines, and masks ``token=`` values anywhere in a record's message and string arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_tokens(record.msg)
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                mask_tokens(_cut_query(a)) if isinstance(a, str) else a for a in record.args
            )
        elif isinstance(record.args, dict):
            record.args = {k: mask_tokens(_cut_query(v)) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def log_config(level: str = "info", fmt: str = "json") -> dict[str, Any]:
    """A `logging.config.dictConfig` for Auralis and uvicorn (also passed to uvicorn)."""
    formatter = "auralis.server.logs.JsonFormatter" if fmt == "json" else "auralis.server.logs.TextFormatter"
    lvl = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "auralis.server.logs.RedactQueryFilter"}},
        "formatters": {"structured": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "structured",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "auralis": {"handlers": ["stderr"], "level": lvl, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": lvl, "propagate": False},
            "uvicorn.error": {"level": lvl},
            "uvicorn.access": {"handlers": ["stderr"], "level": lvl, "propagate": False},
        },
    }


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    logging.config.dictConfig(log_config(level, fmt))
