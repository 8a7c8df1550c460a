"""The provider flavours the emulator serves; this tuple is the only list of them."""

from __future__ import annotations

from . import dashscope, deepseek, doubao, openai
from .base import CALL, CREATED, ID, Flavour, Meta

FLAVOURS: tuple[Flavour, ...] = (openai.FLAVOUR, deepseek.FLAVOUR, dashscope.FLAVOUR, doubao.FLAVOUR)

__all__ = ["CALL", "CREATED", "FLAVOURS", "ID", "Flavour", "Meta"]
