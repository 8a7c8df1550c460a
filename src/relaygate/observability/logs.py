"""Log lines: plain text or one JSON object per line, secrets redacted at the formatter, and the
access log (logger `relaygate.access`): one line per chat request, made from its usage record.

The access line holds no secret (a key's name, never the key) and no message content unless
`logging.content` is on. Every other line passes through the same formatter, so a configured
secret that reaches a message (an upstream echoing its key in an error, say) is replaced.
"""

from __future__ import annotations

import logging
import sys
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
        "request_id": record.request_id, "key": record.key, "model": record.model, "provider": record.provider,
        "upstream_model": record.upstream_model, "status": record.status, "error_code": record.error_code,
        "stream": record.stream, "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens, "reasoning_tokens": record.reasoning_tokens,
        "cached_tokens": record.cached_tokens, "cost": float(record.cost), "latency_ms": record.latency_ms,
        "ttft_ms": record.ttft_ms, "attempts": len(record.attempts),
    }


def refusal_fields(request_id: str, key: str | None, model: Any, status: int, code: str,
                   latency_ms: int) -> dict[str, Any]:
    """The access line of a request refused before it was admitted."""
    return {
        "request_id": request_id, "key": key, "model": model[:200] if isinstance(model, str) else None,
        "provider": None, "status": status, "error_code": code, "latency_ms": latency_ms, "attempts": 0,
    }
