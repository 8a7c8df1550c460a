"""Provider type name → adapter: the only list of providers."""

from __future__ import annotations

from relaygate.providers import dashscope, deepseek, doubao, emulator, openai_compat
from relaygate.providers import anthropic
from relaygate.providers import gemini
from relaygate.providers.base import Adapter

TYPES: dict[str, Adapter] = {
    "openai": openai_compat.ADAPTER,
    "deepseek": deepseek.ADAPTER,
    "dashscope": dashscope.ADAPTER,
    "doubao": doubao.ADAPTER,
    "anthropic": anthropic.ADAPTER,
    "gemini": gemini.ADAPTER,
    "emulator": emulator.ADAPTER,
}
