"""Reading an answer's usage and writing its cost, with every other byte left as it came."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from relaygate.wire.usage_cost import cost_text, read_usage, usage_bounds, with_cost

COMPLETION = (
    b'{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",'
    b'"content":"the word \\"usage\\": {not json}"},"finish_reason":"stop"}],'
    b'"usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17,'
    b' "prompt_tokens_details": {"cached_tokens": 2}},"system_fingerprint":"fp_1"}'
)


def test_finds_the_answers_own_usage_past_text_that_mentions_it():
    usage, bounds = read_usage(COMPLETION)
    assert usage == {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17,
                     "prompt_tokens_details": {"cached_tokens": 2}}
    assert COMPLETION[bounds[0]:bounds[1]].startswith(b'{"prompt_tokens": 12')
    assert COMPLETION[bounds[1]:] == b',"system_fingerprint":"fp_1"}'


def test_cost_is_added_as_the_last_field_and_nothing_else_changes():
    usage, bounds = read_usage(COMPLETION)
    priced = with_cost(COMPLETION, usage, bounds, Decimal("0.0000123000"))
    assert orjson.loads(priced)["usage"]["cost"] == pytest.approx(0.0000123)
    assert b'"cached_tokens": 2}, "cost":0.0000123}' in priced or b'"cached_tokens": 2},"cost":0.0000123}' in priced
    assert priced.replace(b',"cost":0.0000123', b"") == COMPLETION


@pytest.mark.parametrize("data", [
    b'{"choices":[],"usage":null}',
    b'{"choices":[]}',
    b'{"usage":{"prompt_tokens":1',  # cut short
    b'{"usage": 5}',
    b'{"usage":{"prompt_tokens":}}',
])
def test_no_usage_object_means_none(data):
    assert read_usage(data) == (None, None)


def test_an_upstreams_own_cost_is_replaced_and_an_empty_usage_gets_one():
    data = b'{"usage":{"prompt_tokens":3,"cost":9.5}}'
    usage, bounds = read_usage(data)
    assert orjson.loads(with_cost(data, usage, bounds, Decimal("0.25")))["usage"] == {"prompt_tokens": 3, "cost": 0.25}
    empty = b'{"usage":{ }}'
    usage, bounds = read_usage(empty)
    assert orjson.loads(with_cost(empty, usage, bounds, Decimal(0))) == {"usage": {"cost": 0}}


def test_cost_is_a_plain_json_number():
    assert cost_text(Decimal("1.2E-7")) == b"0.00000012"
    assert cost_text(Decimal("3.5000000000")) == b"3.5"
    assert cost_text(Decimal("0E-10")) == b"0"
    assert usage_bounds(b'{"usage" : {"a":{"b":{}}}}') == (11, 25)
