"""metering/estimate.py: tokens counted from the chunks a stream sent, when its usage never came."""

import orjson

from relaygate.metering.estimate import completion_estimate, streamed_text_bytes, tokens_in, usage_so_far


def frame(delta: dict) -> bytes:
    return b"data: " + orjson.dumps({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}) + b"\n\n"


def test_text_of_every_kind_is_counted_across_pieces_split_anywhere():
    stream = b"".join([
        frame({"role": "assistant", "content": ""}),
        frame({"reasoning_content": "think"}),  # 5 bytes
        frame({"content": "héllo"}),  # 6 bytes of UTF-8
        frame({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": '{"a":1}'}}]}),  # 1 + 7
        b'data: {"error": {"message": "cut", "code": "upstream_error"}}\n\n',
        b"data: [DONE]\n\n",
    ])
    pieces = [stream[i : i + 7] for i in range(0, len(stream), 7)]  # split inside frames and characters
    assert streamed_text_bytes(pieces) == 5 + 6 + 8
    assert completion_estimate(pieces, len(stream)) == tokens_in(19) == 5


def test_a_stream_longer_than_its_sample_is_scaled_to_every_byte_sent():
    piece = frame({"content": "abcd" * 10})
    assert completion_estimate([piece] * 3, sent=len(piece) * 30) == 300


def test_nothing_sent_counts_nothing():
    assert completion_estimate([], 0) == 0 and tokens_in(0) == 0 and tokens_in(1) == 1


def test_the_upstreams_counts_win_unless_they_fall_short_of_the_text_sent():
    assert usage_so_far(None, 12, 30) == ({"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}, True)
    opening = {"prompt_tokens": 25, "completion_tokens": 1}  # an Anthropic stream's first usage
    assert usage_so_far(opening, 12, 30) == ({"prompt_tokens": 25, "completion_tokens": 12, "total_tokens": 37}, True)
    final = {"prompt_tokens": 25, "completion_tokens": 14, "total_tokens": 39}
    assert usage_so_far(final, 12, 30) == (final, False)
