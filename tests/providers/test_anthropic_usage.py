"""providers/anthropic/usage.py: counts are read the same way whether all four are plain counts (one
look at them all) or not (each checked on its own, with its own message)."""

from __future__ import annotations

from typing import Any

import pytest

from relaygate.errors import UpstreamProtocolError
from relaygate.providers.anthropic.usage import COUNTS, LONG_WRITES, chat_usage, counts_of, merged_counts


def test_four_counts_are_taken_as_they_are() -> None:
    usage = {"input_tokens": 12, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 3, "output_tokens": 9,
             "service_tier": "standard", "cache_creation": {"ephemeral_5m_input_tokens": 3}}
    assert counts_of(usage) == {"input_tokens": 12, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 3,
                                "output_tokens": 9, LONG_WRITES: 0}


def test_cache_writes_reach_the_chat_usage_with_the_one_hour_ones_apart() -> None:
    usage = {"input_tokens": 12, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 300, "output_tokens": 9,
             "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 100}}
    assert chat_usage(counts_of(usage)) == {
        "prompt_tokens": 412, "completion_tokens": 9, "total_tokens": 421,
        "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 300, "cache_write_1h_tokens": 100}}
    later = merged_counts(counts_of(usage), {"output_tokens": 20, "cache_creation_input_tokens": 300})
    assert later[LONG_WRITES] == 100 and later["output_tokens"] == 20  # message_delta leaves the breakdown out
    with pytest.raises(UpstreamProtocolError, match="cache_creation"):
        counts_of({**usage, "cache_creation": [1]})


@pytest.mark.parametrize("value", [None, "absent"])
def test_an_absent_or_null_count_is_zero(value: Any) -> None:
    usage: dict[str, Any] = dict.fromkeys(COUNTS, 5)
    if value == "absent":
        del usage["cache_read_input_tokens"]
    else:
        usage["cache_read_input_tokens"] = value
    assert counts_of(usage) == {**dict.fromkeys(COUNTS, 5), "cache_read_input_tokens": 0, LONG_WRITES: 0}


@pytest.mark.parametrize("value", [True, False, 0.0, 1.5, -1, "1", [], {}])
def test_anything_but_a_count_is_a_protocol_error_naming_it(value: Any) -> None:
    with pytest.raises(UpstreamProtocolError, match="usage.output_tokens"):
        counts_of({**dict.fromkeys(COUNTS, 5), "output_tokens": value})
