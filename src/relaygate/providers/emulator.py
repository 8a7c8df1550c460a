"""The bundled local upstream (relaygate.emulator) used by the demo: OpenAI wire, no key needed.

The gateway starts it on a loopback port at start-up; requests still travel over real HTTP.
"""

from __future__ import annotations

from relaygate.providers.base import OpenAIWire

# The emulator, like the providers it imitates, wants a bearer key; any will do.
ADAPTER = OpenAIWire("emulator", needs_base_url=False, default_key="relaygate-demo")
BASE_PATH = "/openai/v1"
