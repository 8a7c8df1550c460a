"""What the emulated Gemini API refuses, in the order it checks, with the real API's wording.

Key: `x-goog-api-key` (or `?key=`); none is a 403, a wrong one the recorded 400 API_KEY_INVALID.
Body: JSON with only known fields (the API refuses unknown names), non-empty `contents` of roles
`user`/`model` that alternate, a function-call turn right after a user turn or a function-response
turn, a function-response turn right after a function-call turn with as many responses as calls,
valid base64 in inline data, a thinking level that exists and comes without a budget and, with
thinking on, the first call of each model step in the current turn carrying the thought signature
this emulator issued (https://ai.google.dev/gemini-api/docs/thought-signatures).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .conversation import THINKING_LEVELS, thinking_of
from .signatures import Signer

REQUEST_FIELDS = frozenset({
    "contents", "systemInstruction", "generationConfig", "tools", "toolConfig", "safetySettings", "cachedContent",
})
CONFIG_FIELDS = frozenset({
    "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "responseModalities",
    "candidateCount", "maxOutputTokens", "temperature", "topP", "topK", "seed", "presencePenalty",
    "frequencyPenalty", "responseLogprobs", "logprobs", "enableEnhancedCivicAnswers", "speechConfig",
    "thinkingConfig", "mediaResolution", "imageConfig",
})
PART_FIELDS = frozenset({
    "text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
    "codeExecutionResult", "thought", "thoughtSignature", "videoMetadata",
})
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
CALL_ORDER = ("Please ensure that function call turn comes immediately after a user turn or after a function response "
              "turn.")
RESPONSE_ORDER = "Please ensure that function response turn comes immediately after a function call turn."
RESPONSE_COUNT = ("Please ensure that the number of function response parts is equal to the number of function call "
                  "parts of the function call turn.")
SIGNATURE_MISSING = (
    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
    "correctly, and missing thought_signature may lead to degraded model performance. Additional data, function "
    "call `default_api:{name}` , position {position}. Please refer to "
    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)

Body = dict[str, Any]


@dataclass(frozen=True)
class GeminiError:
    status: int
    message: str
    reason: str | None = None  # google.rpc.ErrorInfo reason, when the real API gives one

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, "INTERNAL" if self.status >= 500 else "INVALID_ARGUMENT")


def key_problem(headers: Mapping[str, str], query: Mapping[str, str], accepted: frozenset[str]) -> GeminiError | None:
    key = headers.get("x-goog-api-key") or query.get("key") or ""
    if not key:
        return GeminiError(403, "Method doesn't allow unregistered callers (callers without established identity). "
                                "Please use API Key or other form of API consumer identity to call this API.")
    if accepted and key not in accepted:
        return GeminiError(400, "API key not valid. Please pass a valid API key.", "API_KEY_INVALID")
    return None


def body_problem(parsed: bool, body: Any, signer: Signer) -> GeminiError | None:
    if not parsed or not isinstance(body, dict):
        return GeminiError(400, "Invalid JSON payload received. Unexpected token.")
    for check in CHECKS:
        message = check(body, signer)
        if message:
            return GeminiError(400, message)
    return None


def _unknown_fields(body: Body, signer: Signer) -> str | None:
    config = body.get("generationConfig") or {}
    parts = [p for c in _contents(body) for p in c.get("parts") or () if isinstance(p, dict)]
    unknown = [*(set(body) - REQUEST_FIELDS), *(set(config) - CONFIG_FIELDS),
               *(key for part in parts for key in set(part) - PART_FIELDS)]
    if not unknown:
        return None
    return f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}": Cannot find field.'


def _contents(body: Body) -> list[Body]:
    contents = body.get("contents")
    return [c for c in contents if isinstance(c, dict)] if isinstance(contents, list) else []


def _contents_shape(body: Body, signer: Signer) -> str | None:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified\n"
    for i, content in enumerate(contents):
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list) or not content["parts"]:
            return f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n"
        if content.get("role", "user") not in ("user", "model"):
            return "Please use a valid role: user, model."
    return None


def _alternation(body: Body, signer: Signer) -> str | None:
    roles = [c.get("role", "user") for c in _contents(body)]
    if any(a == b for a, b in zip(roles, roles[1:])):
        return "Please ensure that multiturn requests alternate between user and model."
    return None


def _kinds(content: Body) -> tuple[int, int, bool]:
    """(function calls, function responses, other parts) of a content."""
    parts = [p for p in content["parts"] if isinstance(p, dict)]
    calls = sum(1 for p in parts if "functionCall" in p)
    responses = sum(1 for p in parts if "functionResponse" in p)
    return calls, responses, len(parts) > calls + responses


def _function_turns(body: Body, signer: Signer) -> str | None:
    previous: tuple[int, int, bool] = (0, 0, False)
    for content in _contents(body):
        calls, responses, other = _kinds(content)
        after_user_or_responses = previous[1] > 0 or previous[2]
        if calls and (content.get("role") != "model" or not after_user_or_responses):
            return CALL_ORDER
        if responses and not previous[0]:
            return RESPONSE_ORDER
        if responses and responses != previous[0]:
            return RESPONSE_COUNT
        previous = (calls, responses, other)
    return None


def _signatures(body: Body, signer: Signer) -> str | None:
    """Only the current turn is checked: the contents after the last user turn with text in it."""
    if not thinking_of(body).on:
        return None
    contents = _contents(body)
    starts = [i for i, c in enumerate(contents) if c.get("role", "user") == "user" and _kinds(c)[2]]
    for content in contents[(starts[-1] if starts else 0):]:
        calls = [p for p in content["parts"] if isinstance(p, dict) and "functionCall" in p]
        if calls and content.get("role") == "model":
            call = calls[0]["functionCall"]
            signature = calls[0].get("thoughtSignature")
            if signature is None:
                return SIGNATURE_MISSING.format(name=call.get("name"), position=content["parts"].index(calls[0]) + 1)
            if not signer.signed(str(call.get("name")), call.get("args") or {}, signature):
                return "Corrupted thought signature."
    return None


def _thinking_config(body: Body, signer: Signer) -> str | None:
    """A level is one of ThinkingLevel's values (lowercase as documented, or the enum's names), and
    never sent with a budget (https://ai.google.dev/gemini-api/docs/thinking#thinking-levels)."""
    config = (body.get("generationConfig") or {}).get("thinkingConfig")
    if not isinstance(config, dict) or "thinkingLevel" not in config:
        return None
    level = config["thinkingLevel"]
    if not isinstance(level, str) or level.lower() not in THINKING_LEVELS:
        return ("Invalid value at 'generation_config.thinking_config.thinking_level' "
                f"(type.googleapis.com/google.ai.generativelanguage.v1beta.ThinkingConfig.ThinkingLevel), {level!r}")
    if "thinkingBudget" in config:
        return "thinking_budget and thinking_level are not supported together."
    return None


def _inline_data(body: Body, signer: Signer) -> str | None:
    for i, content in enumerate(_contents(body)):
        for j, part in enumerate(content["parts"]):
            data = part.get("inlineData") if isinstance(part, dict) else None
            if data is None:
                continue
            if not isinstance(data, dict) or not data.get("mimeType"):
                return (f"* GenerateContentRequest.contents[{i}].parts[{j}].inline_data.mime_type: "
                        "mime_type is required\n")
            try:
                base64.b64decode(str(data.get("data", "")), validate=True)
            except (binascii.Error, ValueError):
                return (f"Invalid value at 'contents[{i}].parts[{j}].inline_data.data' (TYPE_BYTES), "
                        "Base64 decoding failed")
    return None


CHECKS: tuple[Callable[[Body, Signer], str | None], ...] = (
    _contents_shape, _unknown_fields, _thinking_config, _alternation, _function_turns, _inline_data, _signatures,
)
