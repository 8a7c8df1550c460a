"""The formatters: one JSON object per line, access fields in place of the message, and every
configured secret replaced wherever it appears (message or traceback)."""

from __future__ import annotations

import logging

import orjson

from relaygate.observability.logs import REDACTED, JsonFormatter, TextFormatter

SECRET = "sk-upstream-secret-9"


def record(message: str, *args: object, exc_info: object = None, access: dict | None = None) -> logging.LogRecord:
    made = logging.LogRecord("relaygate.chat", logging.WARNING, __file__, 1, message, args, exc_info)
    if access is not None:
        made.access = access
    return made


def test_json_lines_redact_secrets_in_messages_and_tracebacks():
    try:
        raise RuntimeError(f"upstream said: bad key {SECRET}")
    except RuntimeError as exc:
        line = JsonFormatter([SECRET]).format(record("failed with %s", SECRET, exc_info=(type(exc), exc, None)))
    data = orjson.loads(line)
    assert (data["level"], data["logger"], data["message"]) == ("warning", "relaygate.chat", f"failed with {REDACTED}")
    assert REDACTED in data["exception"] and SECRET not in line


def test_access_fields_replace_the_message():
    fields = {"request_id": "req_1", "key": "team-a", "status": 200, "error_code": None, "stream": True}
    data = orjson.loads(JsonFormatter().format(record("request", access=fields)))
    assert "message" not in data and {k: data[k] for k in fields} == fields
    text = TextFormatter([SECRET]).format(record("request", access=fields))
    assert text.endswith("WARNING relaygate.chat: request_id=req_1 key=team-a status=200 stream=True")
