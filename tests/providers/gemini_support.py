"""Helpers the Gemini adapter tests share: fixture payloads and running a stream translator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from relaygate.providers.gemini.stream import GeminiStreamTranslator

FIXTURES = Path(__file__).parent / "fixtures" / "gemini"
CREATED = 1_750_000_000


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return orjson.loads(fixture(name))


def pieces(data: bytes, size: int) -> list[bytes]:
    """The bytes cut every `size` bytes: mid-line, mid-CRLF, mid-character."""
    return [data[i:i + size] for i in range(0, len(data), size)]


def run_stream(
    data: bytes, include_usage: bool = False, size: int | None = None, model: str = "gemini-2.5-flash"
) -> tuple[GeminiStreamTranslator, list[dict[str, Any]]]:
    """Feed a recorded stream through the translator's own decoder, as the pump does; the chunks out."""
    translator = GeminiStreamTranslator(model, CREATED, include_usage)
    out: list[bytes] = []
    for piece in pieces(data, size) if size else [data]:
        for event in translator.decoder.feed(piece):
            out += translator.translate(event)
    for event in translator.decoder.flush():
        out += translator.translate(event)
    out += translator.close()
    return translator, [orjson.loads(chunk) for chunk in out]
