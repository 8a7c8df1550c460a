"""Thought signatures the emulator issues and later checks, as Gemini does.

With thinking on, Gemini signs the first function call of each step and wants that signature
back, on the same part, when the call is sent in a later request; a call without it, or with
one it did not issue, is a 400 (https://ai.google.dev/gemini-api/docs/thought-signatures).
Here a signature is an HMAC of the call (name and arguments) under a key that lives as long as
the emulator, so only calls this emulator made pass.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any

import orjson

PREFIX = b"\x0a\x24EMU-GEMINI-SIG"


class Signer:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or os.urandom(32)

    def sign(self, name: str, args: Any) -> str:
        message = orjson.dumps([name, args], option=orjson.OPT_SORT_KEYS)
        return base64.b64encode(PREFIX + hmac.new(self._key, message, hashlib.sha256).digest()).decode()

    def signed(self, name: str, args: Any, signature: Any) -> bool:
        return isinstance(signature, str) and hmac.compare_digest(self.sign(name, args), signature)
