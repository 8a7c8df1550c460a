"""The Anthropic Messages flavour of the emulator, at `POST /anthropic/v1/messages`.

    checks.py    headers and body as the real API validates them (400/401 with its error body)
    answer.py    the deterministic answer as content blocks (text, tool_use, signed thinking)
    wire.py      message body, SSE event sequence and error body, shaped like the recordings
    signing.py   thinking signatures the emulator issues and checks
    endpoint.py  the aiohttp handler: record, check, script, answer
"""

from .endpoint import PATH, add_routes

__all__ = ["PATH", "add_routes"]
