"""providers/aggregate.py: streamed chunks gathered into one chat.completion."""

from __future__ import annotations

from relaygate.providers.aggregate import chunks_to_completion, merged_choices


def chunk(choices, usage=None, **extra):
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "qwq-plus",
            "choices": choices, "usage": usage, **extra}


def test_text_reasoning_finish_and_usage():
    completion = chunks_to_completion([
        chunk([{"index": 0, "delta": {"role": "assistant", "content": None, "reasoning_content": ""}}]),
        chunk([{"index": 0, "delta": {"reasoning_content": "Let me think. "}}]),
        chunk([{"index": 0, "delta": {"reasoning_content": "Done.", "content": None}}]),
        chunk([{"index": 0, "delta": {"content": "Hello"}}]),
        chunk([{"index": 0, "delta": {"content": " world"}, "finish_reason": "stop"}]),
        chunk([], usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}),
    ])
    assert completion == {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 7, "model": "qwq-plus",
        "choices": [{"index": 0, "logprobs": None, "finish_reason": "stop", "message": {
            "role": "assistant", "content": "Hello world", "reasoning_content": "Let me think. Done."}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }


def test_tool_call_deltas_merge_by_index_keeping_the_first_id():
    completion = chunks_to_completion([
        chunk([{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"ci"}},
        ]}}]),
        chunk([{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "", "type": "function", "function": {"arguments": "ty\": \"Oslo\"}"}},  # DashScope: id ""
            {"index": 1, "id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
        ]}}]),
        chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
    ])
    message = completion["choices"][0]["message"]
    assert message["tool_calls"] == [
        {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}},
        {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
    ]
    assert message["content"] is None and completion["choices"][0]["finish_reason"] == "tool_calls"
    assert "usage" not in completion


def test_several_choices_interleaved():
    completion = chunks_to_completion([
        chunk([{"index": 1, "delta": {"content": "B"}}, {"index": 0, "delta": {"content": "A"}}]),
        chunk([{"index": 0, "delta": {"content": "a"}, "finish_reason": "stop"},
               {"index": 1, "delta": {"content": "b"}, "finish_reason": "length"}]),
    ])
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in completion["choices"]] == [
        (0, "Aa", "stop"), (1, "Bb", "length")]


def test_answers_of_one_choice_each_merge_into_one_with_their_usage_added_up():
    def answer(n: int, text: str, usage: dict | None) -> dict:
        return {"id": f"msg_{n}", "object": "chat.completion", "created": 7, "model": "claude-x",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": usage}

    usage = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14,
             "prompt_tokens_details": {"cached_tokens": 6, "cache_write_tokens": 1}}
    bigger = {**usage, "completion_tokens": 5, "total_tokens": 15, "completion_tokens_details": {"reasoning_tokens": 2}}
    merged = merged_choices([answer(1, "a", usage), answer(2, "b", bigger)])
    assert merged["id"] == "msg_1" and [(c["index"], c["message"]["content"]) for c in merged["choices"]] == [
        (0, "a"), (1, "b")]
    assert merged["usage"] == {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29,
                               "prompt_tokens_details": {"cached_tokens": 12, "cache_write_tokens": 2},
                               "completion_tokens_details": {"reasoning_tokens": 2}}
    assert usage["prompt_tokens_details"] == {"cached_tokens": 6, "cache_write_tokens": 1}  # inputs untouched
    assert merged_choices([answer(1, "a", usage), answer(2, "b", None)])["usage"] == usage  # not all counted: the first's
