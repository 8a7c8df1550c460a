"""OpenAI chat request → Anthropic Messages request (https://docs.anthropic.com/en/api/messages).

    OpenAI                               Anthropic                          how
    model                                model                              the deployment's upstream name
    messages: system, developer          system                             text blocks (messages.py)
    messages: user, assistant, tool      messages                           content blocks (messages.py)
    max_tokens, max_completion_tokens    max_tokens (required)              else DEFAULT_MAX_TOKENS
    temperature                          temperature                        clamped to Anthropic's 0..1 (OpenAI
                                                                            allows 0..2); a clamp, not a 400, so
                                                                            requests tuned for OpenAI still run
    top_p, top_k (extra)                 top_p, top_k                       as they are
    stop                                 stop_sequences                     a string becomes a one-item list
    stream                               stream                             usage always comes in the stream
    tools                                tools                              name, description, input_schema
    tool_choice auto/none/required/named tool_choice auto/none/any/tool     dropped when there are no tools
    parallel_tool_calls: false           tool_choice.disable_parallel_tool_use
    response_format json_schema          output_config.format           structured outputs, where the model
                                                                            and the schema allow (json_mode.py)
    response_format json_object/other    a forced tool (json_mode.py)
    thinking, reasoning_effort           thinking                           thinking.py; drops temperature,
                                                                            top_p and top_k. A forced tool_choice
                                                                            (required, named) is still sent:
                                                                            Anthropic's 400 says why it cannot be
    user                                 metadata.user_id
    n, seed, presence_penalty, frequency_penalty, logit_bias, logprobs, top_logprobs, stream_options,
    service_tier, store, metadata, modalities, audio, prediction, web_search_options, provider and
    any other field                      dropped: the Messages API has no equivalent. For `n` > 1 the
                                         gateway makes n calls (at most 8) and merges their answers, or
                                         their streams as one
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from relaygate.errors import InvalidRequest
from relaygate.providers.anthropic.json_mode import INSTRUCTION, JSON_TOOL, json_schema_of, json_tool, output_format
from relaygate.providers.anthropic.messages import chat_messages_to_anthropic
from relaygate.providers.anthropic.thinking import thinking_budget, with_thinking

DEFAULT_MAX_TOKENS = 4096
TEMPERATURE_RANGE = (0.0, 1.0)


def _same(value: Any) -> Any:
    return value


def clamp_temperature(value: float) -> float:
    low, high = TEMPERATURE_RANGE
    return min(max(value, low), high)


def stop_sequences(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def user_metadata(value: str) -> dict[str, str]:
    return {"user_id": value}


@dataclass(frozen=True)
class ParamRule:
    """An OpenAI parameter that maps one to one: where it goes and how its value changes."""

    target: str
    transform: Callable[[Any], Any] = _same


PARAMS: dict[str, ParamRule] = {
    "temperature": ParamRule("temperature", clamp_temperature),
    "top_p": ParamRule("top_p"),
    "top_k": ParamRule("top_k"),
    "stop": ParamRule("stop_sequences", stop_sequences),
    "user": ParamRule("metadata", user_metadata),
}
# What `tool_params` reads (`parallel_tool_calls` too, but that only counts with tools): without any,
# there are no tools to send.
TOOL_FIELDS = frozenset({"tools", "tool_choice", "response_format"})
TOOL_CHOICES: dict[str, dict[str, str]] = {
    "auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"},
}


def chat_request_to_messages(request: dict[str, Any], model: str, stream: bool) -> dict[str, Any]:
    """The Messages request body for an OpenAI chat request (already checked by the ingress)."""
    system, turns = chat_messages_to_anthropic(request["messages"])
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens(request), "messages": turns}
    body.update(mapped_params(request))
    budget = thinking_budget(request)
    native = output_format(request, model)
    if native is not None:
        body["output_config"] = {"format": native}
    schema = None if native is not None else json_schema_of(request)
    tools, instruct = tool_params(request, schema, budget is not None) if TOOL_FIELDS & request.keys() else ({}, False)
    body.update(tools)
    if instruct:
        system.append({"type": "text", "text": INSTRUCTION})
    if system:
        body["system"] = system
    if stream:
        body["stream"] = True
    return with_thinking(body, budget) if budget is not None else body


def max_tokens(request: dict[str, Any]) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        if request.get(name) is not None:
            return int(request[name])
    return DEFAULT_MAX_TOKENS


def mapped_params(request: dict[str, Any]) -> dict[str, Any]:
    return {
        rule.target: rule.transform(request[name])
        for name, rule in PARAMS.items()
        if name in request and request[name] is not None  # `in` first: most requests set none of them
    }


def tool_params(
    request: dict[str, Any], schema: dict[str, Any] | None, thinking: bool
) -> tuple[dict[str, Any], bool]:
    """(`tools` and `tool_choice`, with the JSON-mode tool for `schema` when there is one; whether
    the system prompt must ask for that tool because it cannot be forced)."""
    tools = [tool_to_anthropic(tool, f"tools[{i}]") for i, tool in enumerate(request.get("tools") or [])]
    choice = tool_choice_to_anthropic(request.get("tool_choice"))
    instruct = False
    if schema is not None and (choice or {}).get("type") != "none":
        instruct = bool(tools) or thinking
        if not instruct:
            choice = {"type": "tool", "name": JSON_TOOL}
        tools.append(json_tool(schema))
    if not tools:
        return {}, False
    out: dict[str, Any] = {"tools": tools}
    if choice is not None or request.get("parallel_tool_calls") is False:
        out["tool_choice"] = with_parallel_rule(choice or {"type": "auto"}, request.get("parallel_tool_calls"))
    return out, instruct


def tool_to_anthropic(tool: dict[str, Any], where: str) -> dict[str, Any]:
    function = tool.get("function")
    if tool.get("type", "function") != "function" or not isinstance(function, dict) or not function.get("name"):
        raise InvalidRequest(f"'{where}' must be a function tool with a name.", param=where)
    out = {"name": function["name"], "input_schema": function.get("parameters") or {"type": "object", "properties": {}}}
    if function.get("description"):
        out["description"] = function["description"]
    if "cache_control" in tool:
        out["cache_control"] = tool["cache_control"]
    return out


def tool_choice_to_anthropic(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in TOOL_CHOICES:
        return dict(TOOL_CHOICES[choice])
    function = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return {"type": "tool", "name": function["name"]}
    raise InvalidRequest(
        "'tool_choice' must be 'auto', 'none', 'required' or {\"type\": \"function\", \"function\": {\"name\": ...}}.",
        param="tool_choice",
    )


def with_parallel_rule(choice: dict[str, Any], parallel: Any) -> dict[str, Any]:
    """`parallel_tool_calls: false` is a flag on Anthropic's tool choice; `none` takes no flag."""
    if parallel is False and choice["type"] != "none":
        return {**choice, "disable_parallel_tool_use": True}
    return choice
