"""What a provider flavour declares, and the small helpers the flavours' wire shapes share.

Shapes are built with placeholders for the per-response values (id, created, tool-call token);
`render.py` renders them once to bytes and swaps in fresh values for every response.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..answers import Answer, ToolCall
from ..errors import ErrorSpec

ID = "@@rg-id@@"
CALL = "@@rg-call@@"
CREATED = "@@rg-created@@"

Body = dict[str, Any]


@dataclass(frozen=True)
class Meta:
    """Request facts a shape needs besides the answer."""

    model: str
    include_usage: bool


@dataclass(frozen=True)
class Flavour:
    """One provider's dialect of Chat Completions, served under its own path prefixes."""

    name: str
    prefixes: tuple[str, ...]
    models: tuple[str, ...]
    owned_by: str
    new_id: Callable[[], str]
    new_call_token: Callable[[], str]
    thinks: Callable[[Body], bool]
    completion: Callable[[Answer, Meta], Body]
    chunks: Callable[[Answer, Meta], list[Body]]
    errors: Mapping[str | int, ErrorSpec]
    error_body: Callable[[ErrorSpec, str], Body]


def interleave(per_choice: Sequence[Sequence[Body]]) -> list[tuple[int, Body]]:
    """Deltas of several choices, round-robin, each tagged with its choice index (see n=3 recording)."""
    steps: list[tuple[int, Body]] = []
    for position in range(max((len(d) for d in per_choice), default=0)):
        steps += [(index, d[position]) for index, d in enumerate(per_choice) if position < len(d)]
    return steps


def tool_call_in_message(call: ToolCall, call_id: str) -> Body:
    return {"id": call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def tool_call_header(call: ToolCall, call_id: str, arguments: str = "") -> Body:
    """The first streamed delta of a call: index, id, type, name, and (usually empty) arguments."""
    return {
        "index": call.index,
        "id": call_id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def tool_call_fragment(call: ToolCall, fragment: str) -> Body:
    return {"index": call.index, "function": {"arguments": fragment}}


def uuid_like(raw: bytes) -> str:
    """Sixteen random bytes formatted as a UUID string."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
