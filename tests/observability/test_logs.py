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


def test_the_access_writer_writes_the_formatters_lines_in_batches(tmp_path):
    import asyncio
    import os
    import re

    from relaygate.observability.logs import AccessWriter

    path = tmp_path / "access.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    fields = {"request_id": "req-1", "key": "team-a", "model": f"echo {SECRET}", "provider": None, "status": 200}
    AccessWriter(fd, json=True, secrets=[SECRET]).write(fields)  # outside a loop: written at once
    line = orjson.loads(path.read_text().splitlines()[0])
    assert line["level"] == "info" and line["logger"] == "relaygate.access" and line["time"].endswith("+00:00")
    assert (line["request_id"], line["model"], line["provider"]) == ("req-1", f"echo {REDACTED}", None)

    async def burst() -> int:
        writer = AccessWriter(fd, json=False)
        for n in range(3):
            writer.write({**fields, "request_id": f"req-{n + 2}"})
        waiting = len(path.read_text().splitlines())
        await asyncio.sleep(AccessWriter.FLUSH_AFTER * 3)
        return waiting

    assert asyncio.run(burst()) == 1  # the three lines wait for the batch
    text = path.read_text().splitlines()[1:]
    assert len(text) == 3 and SECRET in text[0]  # no secrets configured for this writer
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO relaygate\.access: request_id=req-2 "
                        r"key=team-a model=echo \S+ status=200", text[0])
    os.close(fd)


def test_the_text_access_line_is_the_fields_joined():
    """`access_text` writes a settled request's line in one go; it must say exactly what joining
    `access_fields` says, whichever fields are empty."""
    from dataclasses import replace
    from datetime import datetime, timezone
    from decimal import Decimal

    from relaygate.metering.usage import Attempt, UsageRecord
    from relaygate.observability.logs import _text, access_fields, access_text

    full = UsageRecord(
        request_id="req_1", key="team-a", model="gpt-4o", created_at=datetime.now(timezone.utc), provider="openai",
        upstream_model="gpt-4o-2024-08-06", prompt_tokens=12, completion_tokens=7, reasoning_tokens=2,
        cached_tokens=4, cost=Decimal("0.0000405"), latency_ms=120, ttft_ms=30, status=200, stream=True,
        attempts=(Attempt("openai", "gpt-4o", 200, 120),), client_request_id="retry-7",
    )
    bare = replace(full, provider=None, upstream_model=None, latency_ms=None, ttft_ms=None, status=502,
                   error_code="upstream_error", cost=Decimal(0), stream=False, attempts=(),
                   client_request_id=None)
    for r in (full, bare, replace(full, error_code="client_disconnected", status=499)):
        joined = " ".join(f"{k}={_text(v)}" for k, v in access_fields(r).items() if v is not None)
        assert access_text(r) == joined
