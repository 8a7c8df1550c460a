"""The HTTP edge: raw ASGI endpoints that parse once and answer in OpenAI shapes."""
