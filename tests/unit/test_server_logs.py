"""Log lines (auralis.server.logs): token masking anywhere, the text format for a terminal, and
which format a server picks."""

from __future__ import annotations

import io
import json
import logging

import pytest

from auralis.server.logs import JsonFormatter, RedactQueryFilter, TextFormatter, mask_tokens
from auralis.server.settings import Settings


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_tokens_masked_anywhere():
    assert mask_tokens("GET http://h/ws/stream?key=1&token=abc.def HTTP/1.1") == (
        "GET http://h/ws/stream?key=1&token=*** HTTP/1.1"
    )
    assert mask_tokens("id_token=x&Token=y 'token=z'") == "id_token=***&Token=*** 'token=***'"
    assert mask_tokens("nothing to see") == "nothing to see"


def test_filter_cuts_queries_of_paths_and_absolute_urls_and_masks_the_rest():
    f = RedactQueryFilter()
    rec = record('%s - "WebSocket %s" 403', "127.0.0.1:5", "http://host:8000/ws/stream?token=SECRET")
    f.filter(rec)
    assert rec.getMessage() == '127.0.0.1:5 - "WebSocket http://host:8000/ws/stream" 403'
    rec = record('%s - "WebSocket %s" 403', "127.0.0.1:5", "http%3A//host%3A8000/ws/stream?token=SECRET")
    f.filter(rec)
    assert "SECRET" not in rec.getMessage() and "?" not in rec.getMessage()
    rec = record("bad request line: GET http://h/x?token=SECRET HTTP/1.1")  # in the message itself
    f.filter(rec)
    assert "SECRET" not in rec.getMessage() and "token=***" in rec.getMessage()


def test_formatters_mask_extra_fields_too():
    rec = record("refused", origin="https://x.example/?token=SECRET")
    assert "SECRET" not in JsonFormatter().format(rec) and "SECRET" not in TextFormatter().format(rec)


def test_text_lines_read_as_text():
    rec = record("server started", event="startup", max_connections=64)
    line = TextFormatter().format(rec)
    assert line.split(" ", 1)[1].startswith("info    uvicorn.error  server started  ")
    assert line.endswith("event=startup max_connections=64")
    assert json.loads(JsonFormatter().format(rec))["max_connections"] == 64


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    ("settings", "tty", "expected"),
    [
        ({}, True, "text"),  # development on a terminal
        ({}, False, "json"),  # development, logs to a file or a pipe
        ({"env": "production", "jwt_secret": "k" * 40, "allowed_hosts": "a.example"}, True, "json"),
        ({"log_format": "json"}, True, "json"),
        ({"log_format": "text"}, False, "text"),
    ],
)
def test_log_format_text_on_a_terminal_in_development_only(settings, tty, expected):
    assert Settings(**settings).resolved_log_format(_Stream(tty)) == expected
