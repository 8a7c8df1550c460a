"""Chat Completions request checks: the shapes the gateway relies on, declared as a table.

Only what the gateway reads or what any upstream would reject is checked here; everything else in
the body passes through untouched (the seeds: unknown parameters reach the upstream as they came).
"""

from __future__ import annotations

from typing import Any, Callable

from relaygate.errors import InvalidRequest

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
THINKING_TYPES = frozenset({"enabled", "disabled", "auto"})
REASONING_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh", "max"})


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_stop(v: Any) -> bool:
    """A string, a list of strings, or a list of token ids (DashScope, seed 002); never a mix."""
    if isinstance(v, str):
        return True
    return isinstance(v, list) and (all(isinstance(s, str) for s in v) or all(_is_int(s) for s in v))


def _one_of(choices: frozenset[str]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and v in choices


# parameter → (test, what the error says it must be); None is always accepted (OpenAI's "nullable")
PARAM_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "stream": (lambda v: isinstance(v, bool), "a boolean"),
    "stream_options": (lambda v: isinstance(v, dict), "an object"),
    "temperature": (_is_number, "a number"),
    "top_p": (_is_number, "a number"),
    "presence_penalty": (_is_number, "a number"),
    "frequency_penalty": (_is_number, "a number"),
    "max_tokens": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "max_completion_tokens": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "n": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "seed": (_is_int, "an integer"),
    "top_logprobs": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
    "logprobs": (lambda v: isinstance(v, bool), "a boolean"),
    "parallel_tool_calls": (lambda v: isinstance(v, bool), "a boolean"),
    "stop": (_is_stop, "a string or an array of strings"),
    "tools": (lambda v: isinstance(v, list) and all(isinstance(t, dict) for t in v), "an array of objects"),
    "tool_choice": (lambda v: isinstance(v, (str, dict)), "a string or an object"),
    "response_format": (lambda v: isinstance(v, dict) and isinstance(v.get("type"), str), "an object with a type"),
    "user": (lambda v: isinstance(v, str), "a string"),
    "reasoning_effort": (_one_of(REASONING_EFFORTS), "one of " + ", ".join(sorted(REASONING_EFFORTS))),
}


def check_chat_request(body: Any) -> dict[str, Any]:
    """Raise InvalidRequest naming the first problem; return the body when the gateway can use it."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("'model' is required and must be a non-empty string.", param="model")
    _check_messages(body.get("messages"))
    for name, value in body.items():
        rule = PARAM_TYPES.get(name)
        if rule is not None and value is not None and not rule[0](value):
            raise InvalidRequest(f"'{name}' must be {rule[1]}.", param=name)
    if body.get("stream_options") and not body.get("stream"):
        raise InvalidRequest("'stream_options' is only allowed when 'stream' is true.", param="stream_options")
    _check_thinking(body.get("thinking"))
    return body


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' is required and must be a non-empty array.", param="messages")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"'{where}' must be an object.", param=where)
        role = message.get("role")
        if not (isinstance(role, str) and role in ROLES):
            raise InvalidRequest(
                f"'{where}.role' must be one of {', '.join(sorted(ROLES))}.", param=f"{where}.role"
            )
        _check_content(message.get("content"), where)


def _check_content(content: Any, where: str) -> None:
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise InvalidRequest(f"'{where}.content' must be a string or an array of parts.", param=f"{where}.content")
    for j, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise InvalidRequest(
                f"'{where}.content[{j}]' must be an object with a 'type'.", param=f"{where}.content[{j}]"
            )


def _check_thinking(thinking: Any) -> None:
    if thinking is None:
        return
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if not (isinstance(kind, str) and kind in THINKING_TYPES):
        raise InvalidRequest(
            "'thinking' must be an object like {\"type\": \"enabled\", \"budget_tokens\": 8000}.", param="thinking"
        )
    budget = thinking.get("budget_tokens")
    if budget is not None and not (_is_int(budget) and budget > 0):
        raise InvalidRequest("'thinking.budget_tokens' must be a positive integer.", param="thinking.budget_tokens")


def wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return bool(options and options.get("include_usage"))
