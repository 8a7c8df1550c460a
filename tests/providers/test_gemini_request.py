"""OpenAI chat request → Gemini generateContent body (providers/gemini/request.py, contents.py)."""

from __future__ import annotations

import base64

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relaygate.errors import InvalidRequest
from relaygate.providers.gemini import ADAPTER, model_path
from relaygate.providers.gemini.request import chat_to_generate_content, thinks_in_levels
from relaygate.providers.thinking import EFFORT_BUDGETS
from relaygate.wire.openai_chat import check_chat_request

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                       "additionalProperties": False},
        "strict": True,
    },
}
NOW = {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}
SIGNATURE = "CiQBVKhc7kR2ZWxheWdhdGU="


def body(**fields):
    return chat_to_generate_content({"model": "gemini-2.5-pro", "messages": [{"role": "user", "content": "Hi"}],
                                     **fields})


def test_roles_become_user_and_model_and_system_goes_to_system_instruction():
    out = chat_to_generate_content({"model": "m", "messages": [
        {"role": "system", "content": "Be terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
        {"role": "user", "content": "Name a prime."},
        {"role": "assistant", "content": "7"},
        {"role": "user", "content": "Another?"},
    ]})
    assert out["systemInstruction"] == {"parts": [{"text": "Be terse."}, {"text": "Answer in English."}]}
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "Name a prime."}]},
        {"role": "model", "parts": [{"text": "7"}]},
        {"role": "user", "parts": [{"text": "Another?"}]},
    ]
    assert set(out) == {"systemInstruction", "contents"}


def test_adjacent_turns_of_one_role_are_merged_so_roles_alternate():
    out = chat_to_generate_content({"model": "m", "messages": [
        {"role": "user", "content": "One."}, {"role": "user", "content": [{"type": "text", "text": "Two."}]},
        {"role": "assistant", "content": ""}, {"role": "assistant", "content": "Three."},
    ]})
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "One."}, {"text": "Two."}]},
        {"role": "model", "parts": [{"text": "Three."}]},
    ]


def test_generation_config_rule_table():
    config = body(temperature=0.3, top_p=0.9, top_k=40, max_tokens=50, max_completion_tokens=64, stop="END", n=2,
                  seed=7, presence_penalty=0.5, frequency_penalty=-0.5, user="u1", logit_bias={"1": 2})
    assert config["generationConfig"] == {
        "temperature": 0.3, "topP": 0.9, "topK": 40, "maxOutputTokens": 64, "stopSequences": ["END"],
        "candidateCount": 2, "seed": 7, "presencePenalty": 0.5, "frequencyPenalty": -0.5,
    }
    assert set(config) == {"contents", "generationConfig"}  # no `user`, no `logit_bias`


def test_gateway_and_stream_fields_never_reach_gemini():
    out = body(stream=True, stream_options={"include_usage": True}, provider={"order": ["x"]},
               parallel_tool_calls=False)
    assert set(out) == {"contents"}


def test_json_object_mode():
    assert body(response_format={"type": "json_object"})["generationConfig"] == {"responseMimeType": "application/json"}


def test_json_schema_mode_sends_the_gemini_subset_of_the_schema():
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"city": {"type": "string", "format": "uri"}, "when": {"type": "string", "format": "date-time"},
                       "temp": {"type": ["number", "null"], "exclusiveMinimum": -300}},
        "required": ["city"],
        "additionalProperties": False,
    }
    out = body(response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": schema, "strict": True}})
    assert out["generationConfig"] == {"responseMimeType": "application/json", "responseSchema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "when": {"type": "string", "format": "date-time"},
                       "temp": {"type": "number", "nullable": True}},
        "required": ["city"],
    }}


def test_json_schema_without_a_schema_is_a_400():
    with pytest.raises(InvalidRequest):
        body(response_format={"type": "json_schema", "json_schema": {"name": "w"}})


def test_tools_become_function_declarations_and_empty_parameters_are_left_out():
    out = body(tools=[WEATHER, NOW])
    assert out["tools"] == [{"functionDeclarations": [
        {"name": "get_weather", "description": "Weather for a city",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        {"name": "now"},
    ]}]
    assert "toolConfig" not in out


@pytest.mark.parametrize(("choice", "config"), [
    ("auto", {"mode": "AUTO"}),
    ("none", {"mode": "NONE"}),
    ("required", {"mode": "ANY"}),
    ({"type": "function", "function": {"name": "now"}}, {"mode": "ANY", "allowedFunctionNames": ["now"]}),
])
def test_tool_choice_becomes_function_calling_config(choice, config):
    assert body(tools=[WEATHER, NOW], tool_choice=choice)["toolConfig"] == {"functionCallingConfig": config}


def test_tool_choice_without_tools_is_not_sent_and_a_bad_one_is_a_400():
    assert "toolConfig" not in body(tool_choice="required")
    with pytest.raises(InvalidRequest):
        body(tools=[WEATHER], tool_choice={"type": "function"})


def test_non_function_tools_are_a_400():
    with pytest.raises(InvalidRequest) as caught:
        body(tools=[{"type": "web_search"}])
    assert caught.value.param == "tools[0]"


def tool_round(signature_on_first: bool = True):
    first = {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    if signature_on_first:
        first["extra_content"] = {"google": {"thought_signature": SIGNATURE}}
    second = {"id": "call_b", "type": "function", "function": {"name": "now", "arguments": ""}}
    return [
        {"role": "user", "content": "Weather in Oslo, and the time?"},
        {"role": "assistant", "content": None, "reasoning_content": "thinking...", "tool_calls": [first, second]},
        {"role": "tool", "tool_call_id": "call_b", "content": '{"time": "12:00"}'},
        {"role": "tool", "tool_call_id": "call_a", "content": "Sunny, 21 C"},
    ]


def test_tool_calls_and_results_round_trip_with_names_from_ids_and_results_in_one_turn():
    out = chat_to_generate_content({"model": "m", "messages": tool_round()})
    assert out["contents"][1:] == [
        {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}, "thoughtSignature": SIGNATURE},
            {"functionCall": {"name": "now", "args": {}}},
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "now", "response": {"time": "12:00"}}},
            {"functionResponse": {"name": "get_weather", "response": {"output": "Sunny, 21 C"}}},
        ]},
    ]


def test_a_user_message_after_tool_results_joins_their_turn():
    messages = [*tool_round(), {"role": "user", "content": "Thanks!"}]
    contents = chat_to_generate_content({"model": "m", "messages": messages})["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[-1]["parts"][-1] == {"text": "Thanks!"}


def test_the_signature_on_an_answers_text_goes_back_on_its_text_part():
    extra = {"google": {"thought_signature": SIGNATURE}}
    messages = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A", "extra_content": extra},
                {"role": "assistant", "content": None, "extra_content": extra}, {"role": "user", "content": "Q2"}]
    contents = chat_to_generate_content({"model": "m", "messages": messages})["contents"]
    assert contents[1] == {"role": "model", "parts": [{"text": "A", "thoughtSignature": SIGNATURE},
                                                      {"text": "", "thoughtSignature": SIGNATURE}]}


def test_a_tool_result_for_an_unknown_call_is_a_400():
    messages = [{"role": "user", "content": "Q"}, {"role": "tool", "tool_call_id": "call_zz", "content": "x"}]
    with pytest.raises(InvalidRequest) as caught:
        chat_to_generate_content({"model": "m", "messages": messages})
    assert caught.value.param == "messages[1]"


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]"])
def test_tool_call_arguments_that_are_not_a_json_object_are_a_400(arguments):
    messages = tool_round()
    messages[1]["tool_calls"][0]["function"]["arguments"] = arguments
    with pytest.raises(InvalidRequest) as caught:
        chat_to_generate_content({"model": "m", "messages": messages})
    assert caught.value.param == "messages[1].tool_calls[0].function.arguments"


def test_images_as_data_urls_become_inline_data():
    png = base64.b64encode(b"\x89PNG\r\n").decode()
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "data:image/svg+xml,%3Csvg%2F%3E"}},
    ]
    parts = body(messages=[{"role": "user", "content": content}])["contents"][0]["parts"]
    assert parts == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": png}},
        {"inlineData": {"mimeType": "image/svg+xml", "data": base64.b64encode(b"<svg/>").decode()}},
    ]


def test_an_image_url_that_was_not_inlined_is_a_400():
    content = [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]
    with pytest.raises(InvalidRequest) as caught:
        body(messages=[{"role": "user", "content": content}])
    assert caught.value.code == "invalid_image_url"
    assert caught.value.param == "messages[0].content[0].image_url.url"


def test_unknown_content_parts_are_a_400():
    with pytest.raises(InvalidRequest):
        body(messages=[{"role": "user", "content": [{"type": "video_url", "video_url": {"url": "x"}}]}])


@pytest.mark.parametrize(("fields", "config"), [
    ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, {"thinkingBudget": 2048, "includeThoughts": True}),
    ({"thinking": {"type": "enabled"}}, {"thinkingBudget": -1, "includeThoughts": True}),
    ({"thinking": {"type": "auto"}}, {"thinkingBudget": -1, "includeThoughts": True}),
    ({"thinking": {"type": "disabled"}}, {"thinkingBudget": 0}),
    ({"reasoning_effort": "high"}, {"thinkingBudget": EFFORT_BUDGETS["high"], "includeThoughts": True}),
    ({"reasoning_effort": "none"}, {"thinkingBudget": 0}),
    ({"thinking": {"type": "enabled", "budget_tokens": 100}, "reasoning_effort": "high"},
     {"thinkingBudget": 100, "includeThoughts": True}),
])
def test_one_thinking_control_becomes_thinking_config(fields, config):
    assert body(**fields)["generationConfig"]["thinkingConfig"] == config


@pytest.mark.parametrize(("fields", "config"), [
    ({"reasoning_effort": "low"}, {"thinkingLevel": "low", "includeThoughts": True}),
    ({"reasoning_effort": "minimal"}, {"thinkingLevel": "minimal", "includeThoughts": True}),
    ({"reasoning_effort": "medium"}, {"thinkingLevel": "medium", "includeThoughts": True}),
    ({"reasoning_effort": "xhigh"}, {"thinkingLevel": "high", "includeThoughts": True}),
    ({"reasoning_effort": "none"}, {"thinkingLevel": "minimal"}),
    ({"thinking": {"type": "disabled"}}, {"thinkingLevel": "minimal"}),
    ({"thinking": {"type": "enabled"}}, {"includeThoughts": True}),
    ({"thinking": {"type": "enabled", "budget_tokens": 3000}}, {"thinkingBudget": 3000, "includeThoughts": True}),
    ({"thinking": {"type": "enabled", "budget_tokens": 100}, "reasoning_effort": "high"},
     {"thinkingBudget": 100, "includeThoughts": True}),
])
def test_gemini_3_is_asked_in_thinking_levels(fields, config):
    request = {"model": "google/gemini-3-flash-preview", "messages": [{"role": "user", "content": "Hi"}], **fields}
    assert chat_to_generate_content(request, "gemini-3-flash-preview")["generationConfig"]["thinkingConfig"] == config
    assert "thinkingLevel" not in body(**fields)["generationConfig"]["thinkingConfig"], "2.5 keeps budgets"


@pytest.mark.parametrize(("model", "levels"), [
    ("gemini-3-pro-preview", True), ("gemini-3.1-pro", True), ("models/gemini-3-flash-preview", True),
    ("gemini-4-flash", True), ("gemini-2.5-pro", False), ("gemini-2.0-flash", False), ("gemini-flash-latest", False),
    ("tunedModels/my-model", False), ("", False), ("gemma-3-27b-it", False),
])
def test_which_models_take_levels(model, levels):
    assert thinks_in_levels(model) is levels


def test_no_thinking_wish_sends_no_thinking_config():
    assert "generationConfig" not in body()
    assert "generationConfig" not in chat_to_generate_content(
        {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}, "gemini-3-pro-preview")


def test_adapter_urls_headers_and_body():
    assert ADAPTER.chat_url("http://h/gemini/", "gemini-2.5-pro") == \
        "http://h/gemini/v1beta/models/gemini-2.5-pro:generateContent"
    assert ADAPTER.chat_url("https://generativelanguage.googleapis.com", "tunedModels/my-model", True) == \
        "https://generativelanguage.googleapis.com/v1beta/tunedModels/my-model:streamGenerateContent?alt=sse"
    assert model_path("models/gemini-2.0-flash") == "models/gemini-2.0-flash"
    assert ADAPTER.auth_headers("AIza-key") == {"Content-Type": "application/json", "x-goog-api-key": "AIza-key"}
    assert "Authorization" not in ADAPTER.auth_headers("AIza-key")
    request = {"model": "gemini-2.5-pro", "messages": [{"role": "user", "content": "Hi"}]}
    assert orjson.loads(ADAPTER.chat_body(request, b"", "gemini-2.5-pro", stream=True)) == {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    assert ADAPTER.passthrough is False and ADAPTER.inline_remote_images is True

# Keys the request transform reads, so that generated messages and tools reach its corners.
FIELDS = ["content", "tool_calls", "tool_call_id", "name", "extra_content", "google", "thought_signature", "type",
          "text", "image_url", "url", "input_audio", "file", "file_data", "function", "arguments", "id",
          "parameters", "properties", "json_schema", "schema"]
JSON = st.recursive(
    # integers as a parsed body holds them: orjson reads any wider one as a float
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4),
    max_leaves=8,
)


MESSAGE_KEYS = ["content", "tool_calls", "tool_call_id", "name", "extra_content"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant", "tool", "function"])},
                                      optional={key: JSON for key in MESSAGE_KEYS}), min_size=1, max_size=3),
       st.dictionaries(st.sampled_from(["tools", "tool_choice", "response_format", "stop", "top_k"]), JSON,
                       max_size=2))
def test_odd_requests_are_a_400_or_a_body_never_a_crash(messages, fields):
    request = {"model": "m", "messages": messages, **fields}
    try:
        check_chat_request(request)
    except InvalidRequest:
        return  # the gateway refuses it before any adapter sees it
    try:
        orjson.dumps(chat_to_generate_content(request))
    except InvalidRequest:
        pass
