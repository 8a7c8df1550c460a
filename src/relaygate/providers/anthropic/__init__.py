"""Provider type `anthropic`: OpenAI chat in, Anthropic Messages upstream, OpenAI chat out.

    request.py    chat request → Messages request (parameter table; messages.py, thinking.py, json_mode.py)
    response.py   Messages response → chat.completion
    stream.py     Messages event stream → chat.completion.chunk
    errors.py     Anthropic status and error body → GatewayError
"""

from relaygate.providers.anthropic.adapter import AnthropicAdapter

ADAPTER = AnthropicAdapter()

__all__ = ["ADAPTER", "AnthropicAdapter"]
