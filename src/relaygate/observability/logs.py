"""Log lines: plain text or one JSON object per line, secrets redacted at the formatter, and the
access log (logger `relaygate.access`): one line per chat request, made from its usage record.

The access line holds no secret (a key's name, never the key) and no message content unless
`logging.content` is on. Every other line passes through the same formatter, so a configured
secret that reaches a message (an upstream echoing its key in an error, say) is replaced.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sys
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import orjson

from relaygate.config import Config, Logging
from relaygate.metering.usage import UsageRecord

ACCESS = "relaygate.access"
REDACTED = "[redacted]"


def redact(line: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret in line:
            line = line.replace(secret, REDACTED)
    return line


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message"}`, or the access line's fields in place of the message."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc),  # orjson writes it as RFC 3339
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "access", None)
        if fields is not None:
            data.update(fields)
        else:
            data["message"] = record.getMessage()
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return redact(orjson.dumps(data, default=str).decode(), self.secrets)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`; an access line's fields as `name=value` pairs."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "access", None)
        if fields is not None:
            message = " ".join([f"{k}={_text(v)}" for k, v in fields.items() if v is not None])
        else:
            message = record.getMessage()
        line = f"{self.formatTime(record)} {record.levelname} {record.name}: {message}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line, self.secrets)


def _text(value: Any) -> str:
    return orjson.dumps(value, default=str).decode() if isinstance(value, (list, dict)) else str(value)


def configured_secrets(config: Config) -> list[str]:
    """Every secret the configuration holds: client keys, the admin key, provider keys."""
    secrets = [k.key for k in config.keys]
    if config.admin_key:
        secrets.append(config.admin_key)
    for provider in config.providers.values():
        secrets += provider.keys
    return secrets


class AccessWriter:
    """Access lines, made without the logging module and written straight to the log's file in
    small batches: a line costs a few microseconds instead of a LogRecord, a formatter, a lock and
    a write with flush each. The lines are the formatters' own (same fields, time and redaction);
    they reach the file within FLUSH_AFTER seconds, at once outside an event loop, and at exit."""

    FLUSH_AFTER = 0.05  # seconds
    BATCH = 256  # lines

    def __init__(self, fd: int, json: bool, secrets: Iterable[str] = ()) -> None:
        self.fd = fd
        self.json = json
        self.secrets = tuple(s for s in secrets if s)
        self.pending: list[str] = []
        self.scheduled = False
        self._second = -1
        self._stamp = ""

    def write(self, fields: dict[str, Any]) -> None:
        if self.json:
            line = orjson.dumps({"time": datetime.fromtimestamp(time.time(), timezone.utc), "level": "info",
                                 "logger": ACCESS, **fields}, default=str).decode()
            self._add(redact(line, self.secrets) if self.secrets else line)
        else:
            self.write_text(" ".join([f"{k}={_text(v)}" for k, v in fields.items() if v is not None]))

    def write_text(self, message: str) -> None:
        """A text line's message, made by the caller (`access_text`)."""
        line = f"{self._text_time(time.time())} INFO {ACCESS}: {message}"
        self._add(redact(line, self.secrets) if self.secrets else line)

    def _add(self, line: str) -> None:
        self.pending.append(line)
        if len(self.pending) >= self.BATCH:
            self.flush()
        elif not self.scheduled:
            try:
                asyncio.get_running_loop().call_later(self.FLUSH_AFTER, self.flush)
                self.scheduled = True
            except RuntimeError:  # no event loop: write now
                self.flush()

    def _text_time(self, now: float) -> str:
        """logging.Formatter's default time (`2026-11-23 20:15:01,042`), the seconds made once a second."""
        second = int(now)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._stamp},{int((now - second) * 1000):03d}"

    def flush(self) -> None:
        self.scheduled = False
        if not self.pending:
            return
        data = ("\n".join(self.pending) + "\n").encode()
        self.pending.clear()
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError:
            pass  # a closed or full log output loses access lines, never a request


_access_writer: AccessWriter | None = None


def access_writer() -> AccessWriter | None:
    """The configured writer of access lines, when logging was configured with access lines on."""
    return _access_writer


def configure_logging(settings: Logging, secrets: Iterable[str] = (), level: str | None = None) -> None:
    """The root logger's one handler (uvicorn's loggers propagate to it); `level` overrides the
    configured one. Access lines are written whatever the level, when `access` is on."""
    stream = sys.stdout if settings.output == "stdout" else sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(secrets) if settings.format == "json" else TextFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or settings.level).upper())
    access = logging.getLogger(ACCESS)
    access.setLevel(logging.INFO if settings.access else logging.CRITICAL + 1)
    global _access_writer
    if _access_writer is not None:
        _access_writer.flush()
    _access_writer = AccessWriter(stream.fileno(), settings.format == "json", secrets) if settings.access else None
    if _access_writer is not None:
        atexit.register(_access_writer.flush)
    # No line names a thread or process: skip gathering them for every record (logging HOWTO, "Optimization").
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


def log_access(logger: logging.Logger, fields: dict[str, Any]) -> None:
    """One access line. The record is made here rather than by `logger.info`, which would walk the
    stack to find its caller for every request, a third of the line's cost (bench/metrics.py);
    and it names no source file, which the record would otherwise take apart every time."""
    record = logging.LogRecord(ACCESS, logging.INFO, "", 0, "request", None, None)
    record.access = fields
    logger.handle(record)


def access_fields(record: UsageRecord) -> dict[str, Any]:
    """The access line of a settled request (everything but secrets and content)."""
    return {
        "request_id": record.request_id, "client_request_id": record.client_request_id, "key": record.key,
        "model": record.model, "provider": record.provider,
        "upstream_model": record.upstream_model, "status": record.status, "error_code": record.error_code,
        "stream": record.stream, "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens, "reasoning_tokens": record.reasoning_tokens,
        "cached_tokens": record.cached_tokens, "cost": float(record.cost), "latency_ms": record.latency_ms,
        "ttft_ms": record.ttft_ms, "attempts": len(record.attempts),
    }


def access_text(r: UsageRecord) -> str:
    """The text message of `access_fields(r)`, made in one go: a fifth of the cost of joining the
    fields one by one, on every request (tests/observability check the two agree)."""
    text = f"request_id={r.request_id}"
    if r.client_request_id is not None:
        text += f" client_request_id={r.client_request_id}"
    text += f" key={r.key} model={r.model}"
    if r.provider is not None:
        text += f" provider={r.provider}"
    if r.upstream_model is not None:
        text += f" upstream_model={r.upstream_model}"
    text += f" status={r.status}"
    if r.error_code is not None:
        text += f" error_code={r.error_code}"
    text += (f" stream={r.stream} prompt_tokens={r.prompt_tokens} completion_tokens={r.completion_tokens}"
             f" reasoning_tokens={r.reasoning_tokens} cached_tokens={r.cached_tokens} cost={float(r.cost)}")
    if r.latency_ms is not None:
        text += f" latency_ms={r.latency_ms}"
    if r.ttft_ms is not None:
        text += f" ttft_ms={r.ttft_ms}"
    return text + f" attempts={len(r.attempts)}"


def refusal_fields(request_id: str, client_request_id: str | None, key: str | None, model: Any, status: int,
                   code: str, latency_ms: int) -> dict[str, Any]:
    """The access line of a request refused before it was admitted."""
    return {
        "request_id": request_id, "client_request_id": client_request_id,
        "key": key, "model": model[:200] if isinstance(model, str) else None,
        "provider": None, "status": status, "error_code": code, "latency_ms": latency_ms, "attempts": 0,
    }
