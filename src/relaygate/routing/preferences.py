"""The request's routing wishes: the `provider` object (seed 001; OpenRouter's fields are the
reference) and the top-level `models` array. Parsed and checked once; invalid values are a 400."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection

from relaygate.errors import InvalidRequest

SORTS = frozenset({"price", "latency", "throughput"})
FIELDS = ("order", "only", "ignore", "allow_fallbacks", "sort", "require_parameters", "max_price")
MAX_MODELS = 10


@dataclass(frozen=True, slots=True)
class MaxPrice:
    """USD per 1M tokens; None: no limit on that side."""

    prompt: float | None = None
    completion: float | None = None


@dataclass(frozen=True, slots=True)
class Preferences:
    order: tuple[str, ...] = ()
    only: frozenset[str] | None = None
    ignore: frozenset[str] = frozenset()
    allow_fallbacks: bool = True
    sort: str | None = None
    require_parameters: bool = False
    max_price: MaxPrice | None = None
    models: tuple[str, ...] = ()  # fallback models, after the request's own `model`


NO_PREFERENCES = Preferences()


def parse_preferences(body: dict[str, Any], providers: Collection[str]) -> Preferences:
    raw, models = body.get("provider"), body.get("models")
    if raw is None and models is None:
        return NO_PREFERENCES
    if raw is not None and not isinstance(raw, dict):
        raise _bad("provider", "must be an object")
    raw = raw or {}
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise _bad("provider", f"has unknown field(s) {', '.join(unknown)}; supported: {', '.join(FIELDS)}")
    only = raw.get("only")
    return Preferences(
        order=tuple(_names(raw, "order", providers)),
        only=frozenset(_names(raw, "only", providers)) if only is not None else None,
        ignore=frozenset(_names(raw, "ignore", providers)),
        allow_fallbacks=_flag(raw, "allow_fallbacks", True),
        sort=_sort(raw.get("sort")),
        require_parameters=_flag(raw, "require_parameters", False),
        max_price=_max_price(raw.get("max_price")),
        models=_models(models),
    )


def _bad(param: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"'{param}' {problem}.", param=param)


def _names(raw: dict[str, Any], field: str, providers: Collection[str]) -> list[str]:
    value = raw.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"provider.{field}", "must be an array of provider names")
    unknown = [v for v in value if v not in providers]
    if unknown:
        raise _bad(f"provider.{field}", f"names unknown provider(s) {', '.join(unknown)}; known: {', '.join(providers)}")
    return value


def _flag(raw: dict[str, Any], field: str, default: bool) -> bool:
    value = raw.get(field, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(f"provider.{field}", "must be a boolean")
    return value


def _sort(value: Any) -> str | None:
    if isinstance(value, dict):  # OpenRouter also accepts {"by": "price"}
        value = value.get("by")
    if value is None or (isinstance(value, str) and value in SORTS):
        return value
    raise _bad("provider.sort", f"must be one of {', '.join(sorted(SORTS))}")


def _max_price(value: Any) -> MaxPrice | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"prompt", "completion"}:
        raise _bad("provider.max_price", 'must be an object like {"prompt": 1.0, "completion": 2.0} (USD per 1M tokens)')
    for side in ("prompt", "completion"):
        number = value.get(side)
        if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float)) or number < 0):
            raise _bad(f"provider.max_price.{side}", "must be a non-negative number")
    return MaxPrice(value.get("prompt"), value.get("completion"))


def _models(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _bad("models", "must be an array of model ids")
    if len(value) > MAX_MODELS:
        raise _bad("models", f"may list at most {MAX_MODELS} models")
    return tuple(value)
