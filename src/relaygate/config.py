"""Typed configuration, loaded and validated once at start; the only place env vars are read."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from relaygate.errors import ConfigError
from relaygate.governance.key_settings import MOST
from relaygate.providers import registry

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeout(_Strict):
    """Seconds; `first_token` bounds the wait for the first streamed event, `idle` the gap between events."""

    connect: float = Field(5.0, gt=0)
    first_token: float = Field(60.0, gt=0)
    idle: float = Field(30.0, gt=0)
    total: float = Field(600.0, gt=0)


class Provider(_Strict):
    type: str
    base_url: str | None = None
    api_key: str | None = None
    api_keys: list[str] | None = None
    mount: str | None = None
    models: list[str] = []
    timeout: Timeout = Timeout()
    headers: dict[str, str] = {}
    skip_without_key: bool = False
    # native model name (or "*") → request parameters used when the client sent none, e.g. max_tokens
    model_defaults: dict[str, dict[str, Any]] = {}
    # native models that answer only when streamed; a non-streaming request is streamed and gathered
    stream_only: list[str] = []

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in registry.TYPES:
            raise ValueError(f"unknown provider type {value!r}; known types: {', '.join(sorted(registry.TYPES))}")
        return value

    @field_validator("mount")
    @classmethod
    def _mount_path(cls, value: str | None) -> str | None:
        return None if value is None else _normalise_mount(value)

    @property
    def keys(self) -> list[str]:
        return [k for k in (self.api_keys or ([self.api_key] if self.api_key else [])) if k]

    @model_validator(mode="after")
    def _needs(self) -> Provider:
        if self.api_key and self.api_keys:
            raise ValueError("give either api_key or api_keys, not both")
        if registry.TYPES[self.type].needs_base_url and not self.base_url:
            raise ValueError(f"provider type {self.type!r} needs base_url")
        return self


class Price(_Strict):
    """USD per 1M tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(None, ge=0)
    cache_write: float | None = Field(None, ge=0)  # prompt tokens written to the provider's cache
    cache_write_1h: float | None = Field(None, ge=0)  # ... to a one-hour cache (Anthropic)
    cached_explicit: float | None = Field(None, ge=0)  # read from a cache the client asked for (DashScope)


class Deployment(_Strict):
    provider: str
    model: str
    weight: float | None = Field(None, gt=0)  # given on any deployment of a model: traffic is shared by weight
    price: Price | None = None


class Backoff(_Strict):
    initial: float = Field(0.1, ge=0)
    max: float = Field(5.0, ge=0)


class Circuit(_Strict):
    failures: int = Field(5, ge=1)
    cooldown: float = Field(30.0, gt=0)


class Routing(_Strict):
    max_attempts: int = Field(3, ge=1)
    deadline: float = Field(120.0, gt=0)
    backoff: Backoff = Backoff()
    circuit: Circuit = Circuit()
    hedge: dict[str, float | Literal["p95"]] = {}


class StaticKey(_Strict):
    key: str = Field(min_length=8)
    name: str = Field(min_length=1)
    models: list[str] | None = None
    rpm: int | None = Field(None, ge=1, le=MOST)
    tpm: int | None = Field(None, ge=1, le=MOST)
    max_concurrency: int | None = Field(None, ge=1, le=MOST)


class MountOptions(_Strict):
    envelope: bool = False


class Server(_Strict):
    max_body_bytes: int = Field(20 * 1024 * 1024, gt=0)
    # Hosts, addresses or networks the image fetcher may reach although private (upstream/fetch.py).
    image_fetch_allow: list[str] = []
    # Seconds a stopping gateway (SIGTERM) gives requests and streams in flight to finish.
    shutdown_timeout: float = Field(30.0, gt=0)


class Logging(_Strict):
    """`json`: every line one JSON object. `access`: one line per chat request (logger
    relaygate.access), whatever the level. `content`: the request's messages in that line too;
    off by default, as prompts are the clients' data."""

    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"
    access: bool = True
    content: bool = False
    output: Literal["stderr", "stdout"] = "stderr"


class Tracing(_Strict):
    """OpenTelemetry traces over OTLP/HTTP (needs the `otel` extra): one span per chat request and
    one per upstream attempt. `otlp_endpoint` is the collector's base URL, e.g. http://127.0.0.1:4318."""

    otlp_endpoint: str | None = None
    service_name: str = "relaygate"
    headers: dict[str, str] = {}


class Config(_Strict):
    database: str | None = "sqlite:///./relaygate.db"  # null: no store (configured keys only, no usage records)
    usage_journal: str = "./relaygate-usage.jsonl"  # append-only usage journal (metering/journal.py)
    usage_write_interval: float = Field(1.0, gt=0, le=3600)  # seconds between the batches written to the database
    redis: str | None = None  # shared limits for several instances (governance/limiter.py)
    admin_key: str | None = None
    providers: dict[str, Provider] = {}
    models: dict[str, list[Deployment]] = {}
    routing: Routing = Routing()
    keys: list[StaticKey] = []
    mounts: dict[str, MountOptions] = {}
    server: Server = Server()
    logging: Logging = Logging()
    tracing: Tracing = Tracing()

    @field_validator("redis")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")  # the value may hold a password
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        _check_mounts(self)
        _check_catalog(self)
        names = [k.name for k in self.keys]
        if len(names) != len(set(names)):
            raise ValueError("keys: two static keys share a name")
        return self


def _normalise_mount(value: str) -> str:
    if not value.startswith("/") or "//" in value or " " in value:
        raise ValueError(f"mount {value!r} must be an absolute path like /deepseek/v1")
    return value.rstrip("/") or "/"


def _check_mounts(config: Config) -> None:
    seen: dict[str, str] = {"/v1": "the default /v1"}
    mounts = [(p.mount, f"providers.{n}.mount") for n, p in config.providers.items() if p.mount]
    mounts += [(_normalise_mount(m), f"mounts.{m}") for m in config.mounts]
    for mount, where in mounts:
        if mount in seen:
            raise ValueError(f"duplicate mount {mount}: {where} and {seen[mount]}")
        seen[mount] = where


def _check_catalog(config: Config) -> None:
    for model_id, deployments in config.models.items():
        if not deployments:
            raise ValueError(f"models.{model_id}: needs at least one deployment")
        for d in deployments:
            if d.provider not in config.providers:
                raise ValueError(f"models.{model_id}: unknown provider {d.provider!r}")


def expand_env(value: Any, environ: dict[str, str], path: str = "") -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string; a missing VAR without default is an error."""
    if isinstance(value, dict):
        return {k: expand_env(v, environ, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, environ, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if default is not None:
            return environ.get(name) or default  # as in the shell: unset or empty takes the default
        if name in environ:
            return environ[name]
        raise ConfigError(f"{path}: environment variable {name} is not set")

    return _ENV_REF.sub(substitute, value)


def drop_keyless_providers(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Remove providers marked `skip_without_key` whose key is empty, and catalog entries that need them."""
    providers = raw.get("providers") or {}
    skipped = [
        name for name, p in providers.items()
        if isinstance(p, dict) and p.get("skip_without_key") and not _has_key(p)
    ]
    if not skipped:
        return raw, []
    out = dict(raw)
    out["providers"] = {n: p for n, p in providers.items() if n not in skipped}
    catalog = {}
    for model_id, deployments in (raw.get("models") or {}).items():
        kept = [d for d in deployments or [] if not (isinstance(d, dict) and d.get("provider") in skipped)]
        if kept:
            catalog[model_id] = kept
    out["models"] = catalog
    return out, skipped


def _has_key(provider: dict[str, Any]) -> bool:
    keys = provider.get("api_keys")
    return bool(provider.get("api_key")) or (isinstance(keys, list) and any(keys))


def parse_config(raw: Any, environ: dict[str, str] | None = None) -> tuple[Config, list[str]]:
    """Validate a parsed YAML document; returns the config and the providers skipped for want of a key."""
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a YAML mapping")
    expanded = expand_env(raw, dict(os.environ) if environ is None else environ)
    expanded, skipped = drop_keyless_providers(expanded)
    try:
        return Config.model_validate(expanded), skipped
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def load_config(path: str | Path, environ: dict[str, str] | None = None) -> tuple[Config, list[str]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML{_yaml_where(exc)}") from None
    return parse_config(raw, environ)


def _yaml_where(exc: yaml.YAMLError) -> str:
    """Line, column and problem only: the parser's own message quotes the line, which may hold a key."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return where + (f": {problem}" if problem else "")


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown field")
        else:
            lines.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
