"""Thinking signatures the emulator issues and later checks, as the real API does.

Anthropic signs every thinking block and encrypts redacted thinking; a request that sends back a
block whose signature or data Anthropic did not issue is a 400 ("Extended thinking" guide,
"Thinking encryption" and "Preserving thinking blocks"). Here a signature is an HMAC of the thinking
text under a key that lives as long as the emulator, so only blocks this emulator issued pass.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

SIGNATURE_PREFIX = b"\x12\x08EMU-SIG"
REDACTED_PREFIX = b"\x12\x08EMU-RED"
MAC_BYTES = 32


class Signer:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or os.urandom(32)

    def _mac(self, text: bytes) -> bytes:
        return hmac.new(self._key, text, hashlib.sha256).digest()

    def sign(self, thinking: str) -> str:
        return base64.b64encode(SIGNATURE_PREFIX + self._mac(thinking.encode())).decode()

    def signed(self, thinking: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(thinking), signature)

    def seal(self, thinking: str) -> str:
        """Opaque `redacted_thinking.data` that carries the thinking and its MAC."""
        text = thinking.encode()
        return base64.b64encode(REDACTED_PREFIX + self._mac(text) + text).decode()

    def sealed(self, data: str) -> bool:
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            return False
        mac, text = raw[len(REDACTED_PREFIX):][:MAC_BYTES], raw[len(REDACTED_PREFIX) + MAC_BYTES:]
        return raw.startswith(REDACTED_PREFIX) and hmac.compare_digest(mac, self._mac(text))
