"""Model id → candidate deployments, by the contract's four addressing rules, in order:

1. under a provider's mount, the model is that upstream's native name;
2. a catalog id (`models:` in the configuration) gives its deployments in fallback order;
3. `provider/model`, where the part before the first `/` names a configured provider;
4. a bare name that exactly one provider lists in its `models`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Iterator

from relaygate.config import Config, Price, Timeout
from relaygate.errors import ModelNotFound
from relaygate.metering.prices import ModelPrice, price_for
from relaygate.providers.base import Adapter

THINKING_SUFFIX = "-thinking"


@dataclass(eq=False)
class Upstream:
    """A configured provider at run time: where to send, with which keys, within which timeouts."""

    name: str
    adapter: Adapter
    adapter_type: str
    base_url: str
    keys: tuple[str, ...]
    timeout: Timeout
    mount: str | None
    models: tuple[str, ...]
    headers: dict[str, str]
    model_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    stream_only: frozenset[str] = frozenset()
    _key_cycle: Iterator[str | None] = field(init=False, repr=False)
    _keys_out: dict[str, float] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._key_cycle = itertools.cycle(self.keys or (None,))

    def next_key(self, now: float = 0.0) -> str | None:
        """The next key in turn, skipping keys the provider rejected (until their time is up)."""
        for _ in range(len(self.keys) or 1):
            key = next(self._key_cycle)
            if key is None or self._keys_out.get(key, 0.0) <= now:
                return key
        return None

    def take_key_out(self, key: str | None, until: float) -> None:
        if key is not None:
            self._keys_out[key] = until

    def has_usable_key(self, now: float) -> bool:
        if not self._keys_out:
            return True
        return not self.keys or any(self._keys_out.get(k, 0.0) <= now for k in self.keys)

    def chat_url(self, model: str, stream: bool) -> str:
        return self.adapter.chat_url(self.base_url, model, stream)

    def defaults_for(self, model: str) -> dict[str, Any] | None:
        return self.model_defaults.get(model) or self.model_defaults.get("*")


@dataclass(frozen=True, slots=True)
class Target:
    """One deployment: an upstream and its native model name, with the catalog's weight and price."""

    upstream: Upstream
    model: str
    weight: float | None = None
    price: Price | None = None
    key: tuple[str, str] = field(init=False, compare=False)  # (provider, model): health is kept per key
    model_price: ModelPrice | None = field(init=False, compare=False)  # configured, else the bundled table

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.upstream.name, self.model))
        object.__setattr__(self, "model_price", price_for(self.model, self.price))


class Resolver:
    def __init__(self, upstreams: dict[str, Upstream], config: Config):
        self.upstreams = upstreams
        self.catalog: dict[str, list[Target]] = {
            model_id: [Target(upstreams[d.provider], d.model, d.weight, d.price) for d in deployments]
            for model_id, deployments in config.models.items()
        }
        listed: dict[str, list[Upstream]] = {}
        for upstream in upstreams.values():
            for name in dict.fromkeys(upstream.models):
                listed.setdefault(name, []).append(upstream)
        self.bare = {name: Target(ups[0], name) for name, ups in listed.items() if len(ups) == 1}
        self.ambiguous = {name: [u.name for u in ups] for name, ups in listed.items() if len(ups) > 1}

    def resolve(self, model: str, scope: Upstream | None = None) -> list[Target]:
        if scope is not None:
            return [Target(scope, model)]
        if model in self.catalog:
            return self.catalog[model]
        prefix, slash, rest = model.partition("/")
        if slash and rest and prefix in self.upstreams:
            return [Target(self.upstreams[prefix], rest)]
        if model in self.bare:
            return [self.bare[model]]
        raise ModelNotFound(self._not_found_message(model), param="model")

    def resolve_request(self, model: str, scope: Upstream | None = None) -> tuple[list[Target], bool]:
        """As `resolve`, plus the `-thinking` alias (seed 004): `X-thinking` means `X` with thinking
        on, when `X-thinking` is not itself a model. Returns the targets and whether the alias applied."""
        base = model.removesuffix(THINKING_SUFFIX)
        if base != model and base:
            if scope is not None and model not in scope.models and base in scope.models:
                return self.resolve(base, scope), True
            if scope is None and not self._known(model) and self._known(base):
                return self.resolve(base), True
        return self.resolve(model, scope), False

    def _known(self, model: str) -> bool:
        try:
            self.resolve(model)
        except ModelNotFound:
            return False
        return True

    def _not_found_message(self, model: str) -> str:
        if model in self.ambiguous:
            names = ", ".join(self.ambiguous[model])
            return f"The model `{model}` is listed by several providers ({names}); use `provider/{model}`."
        return f"The model `{model}` does not exist or is not served by this gateway."
