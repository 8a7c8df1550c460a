"""An OpenAI chat request → a Gemini `generateContent` request body.

Fields per https://ai.google.dev/api/generate-content#request-body: `contents` and
`systemInstruction` (contents.py), `generationConfig` (the rule table below, JSON mode and
`thinkingConfig`), `tools.functionDeclarations` and `toolConfig.functionCallingConfig`.
Parameters with no Gemini counterpart (`logit_bias`, `user`, `parallel_tool_calls`,
`stream_options`, ...) are not sent; usage always comes with the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from relaygate.errors import InvalidRequest
from relaygate.providers.gemini.contents import messages_to_contents
from relaygate.providers.gemini.schema import to_gemini_schema
from relaygate.providers.thinking import requested_thinking


def _same(value: Any) -> Any:
    return value


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class ParamRule:
    """One OpenAI request parameter and the GenerationConfig field it becomes."""

    source: str
    target: str
    transform: Callable[[Any], Any] = _same


# https://ai.google.dev/api/generate-content#generationconfig. Applied in order, so
# `max_completion_tokens` (OpenAI's current name) wins over `max_tokens`.
GENERATION_RULES: tuple[ParamRule, ...] = (
    ParamRule("temperature", "temperature"),
    ParamRule("top_p", "topP"),
    ParamRule("top_k", "topK"),
    ParamRule("max_tokens", "maxOutputTokens"),
    ParamRule("max_completion_tokens", "maxOutputTokens"),
    ParamRule("stop", "stopSequences", _as_list),
    ParamRule("n", "candidateCount"),
    ParamRule("seed", "seed"),
    ParamRule("presence_penalty", "presencePenalty"),
    ParamRule("frequency_penalty", "frequencyPenalty"),
)

DYNAMIC_BUDGET = -1  # the model decides how much to think (https://ai.google.dev/gemini-api/docs/thinking)
# Gemini 3 and later are steered by `thinkingLevel` (Google: thinkingBudget "is accepted for backwards
# compatibility" but may make Gemini 3 Pro do worse; the two together are a 400). Which levels a model
# takes varies (3 Pro: low and high); the closest to no thinking is "minimal", which Pro models refuse:
# they cannot think less.
LEVELS_FROM = 3
_GENERATION = re.compile(r"(?:^|/)gemini-(\d+)")
LEVEL_OF_EFFORT = {"none": "minimal", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high",
                   "xhigh": "high", "max": "high"}

# tool_choice → FunctionCallingConfig.mode (https://ai.google.dev/api/caching#FunctionCallingConfig)
TOOL_CHOICE_MODES: dict[str, str] = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def chat_to_generate_content(request: dict[str, Any], model: str = "") -> dict[str, Any]:
    """`model`: the upstream's name for the model, which decides the form thinking is asked in."""
    system, contents = messages_to_contents(request["messages"])
    body: dict[str, Any] = {"contents": contents}
    if system is not None:
        body["systemInstruction"] = system
    config = generation_config(request, model)
    if config:
        body["generationConfig"] = config
    declarations = function_declarations(request.get("tools"))
    if declarations:
        body["tools"] = [{"functionDeclarations": declarations}]
        choice = tool_config(request.get("tool_choice"))
        if choice is not None:
            body["toolConfig"] = choice
    return body


def generation_config(request: dict[str, Any], model: str = "") -> dict[str, Any]:
    config = {rule.target: rule.transform(request[rule.source])
              for rule in GENERATION_RULES if request.get(rule.source) is not None}
    config.update(response_format_config(request.get("response_format")))
    thinking = thinking_config(request, model)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def response_format_config(response_format: Any) -> dict[str, Any]:
    """JSON mode: `responseMimeType`, plus `responseSchema` for a json_schema format
    (https://ai.google.dev/gemini-api/docs/structured-output)."""
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind != "json_schema":
        return {}
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise InvalidRequest("'response_format.json_schema.schema' must be an object.", param="response_format")
    return {"responseMimeType": "application/json", "responseSchema": to_gemini_schema(schema)}


def thinks_in_levels(model: str) -> bool:
    """Gemini 3 and later, by the model's name (`gemini-3-flash-preview`, `models/gemini-3.1-pro`);
    any other name (2.5 and older, tuned models) is asked with a budget."""
    match = _GENERATION.search(model)
    return match is not None and int(match.group(1)) >= LEVELS_FROM


def thinking_config(request: dict[str, Any], model: str = "") -> dict[str, Any] | None:
    """The request's thinking wish (`thinking`, else `reasoning_effort`, mapped to a budget by the
    shared table in providers/thinking.py) as `thinkingConfig`. `includeThoughts` asks Gemini for
    thought summaries, which become `reasoning_content`. For a model steered by levels, an effort
    is its level and a wish without a budget leaves the model its default level; a budget the
    client named is still sent as one (the models accept it, and it says exactly what was asked)."""
    if thinks_in_levels(model):
        return _level_config(request)
    thinking = requested_thinking(request)
    if not thinking:
        return None
    if thinking.get("type") == "disabled":
        return {"thinkingBudget": 0}
    return {"thinkingBudget": thinking.get("budget_tokens") or DYNAMIC_BUDGET, "includeThoughts": True}


def _level_config(request: dict[str, Any]) -> dict[str, Any] | None:
    thinking = request.get("thinking")
    if thinking:
        if thinking.get("type") == "disabled":
            return {"thinkingLevel": LEVEL_OF_EFFORT["none"]}
        budget = thinking.get("budget_tokens")
        return {"thinkingBudget": budget, "includeThoughts": True} if budget else {"includeThoughts": True}
    effort = request.get("reasoning_effort")
    if effort is None:
        return None
    level = LEVEL_OF_EFFORT.get(effort, "medium")
    return {"thinkingLevel": level} if effort == "none" else {"thinkingLevel": level, "includeThoughts": True}


def function_declarations(tools: Any) -> list[dict[str, Any]]:
    declarations = []
    for i, tool in enumerate(tools or ()):
        function = tool.get("function")
        if tool.get("type", "function") != "function" or not isinstance(function, dict):
            raise InvalidRequest("Gemini models take tools of type 'function' only.", param=f"tools[{i}]")
        declarations.append(_declaration(function))
    return declarations


def _declaration(function: dict[str, Any]) -> dict[str, Any]:
    """Gemini refuses an OBJECT schema without properties ("properties: should be non-empty for
    OBJECT type"), so a function without parameters is declared without `parameters`."""
    declaration = {"name": function.get("name")}
    if function.get("description"):
        declaration["description"] = function["description"]
    parameters = function.get("parameters")
    if isinstance(parameters, dict) and (parameters.get("properties") or parameters.get("type") != "object"):
        declaration["parameters"] = to_gemini_schema(parameters)
    return declaration


def tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in TOOL_CHOICE_MODES:
        return {"functionCallingConfig": {"mode": TOOL_CHOICE_MODES[choice]}}
    function = choice.get("function") if isinstance(choice, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidRequest("'tool_choice' must be auto, none, required or a named function.", param="tool_choice")
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [function["name"]]}}
