from dataclasses import replace
from datetime import date
from decimal import Decimal

from relaygate.metering.usage import Tokens, UsageRecord, tokens_of

from .records import record


def test_tokens_from_openai_usage():
    usage = {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
             "prompt_tokens_details": {"cached_tokens": 1024},
             "completion_tokens_details": {"reasoning_tokens": 256}}
    assert tokens_of(usage) == Tokens(prompt=1200, completion=300, reasoning=256, cached=1024)


def test_tokens_from_deepseek_cache_fields():
    usage = {"prompt_tokens": 90, "completion_tokens": 10, "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 26}
    assert tokens_of(usage).cached == 64


# Model Studio's usage with its explicit cache (the field names of Alibaba's DashScope SDK,
# GenerationUsage.PromptTokensDetails): a first request writes the marked prefix, the next reads it.
DASHSCOPE_WRITE = {"prompt_tokens": 1589, "completion_tokens": 10, "total_tokens": 1599,
                   "prompt_tokens_details": {"cache_type": "ephemeral", "cached_tokens": 0,
                                             "cache_creation_input_tokens": 1578,
                                             "cache_creation": {"ephemeral_5m_input_tokens": 1578}}}
DASHSCOPE_READ = {"prompt_tokens": 1589, "completion_tokens": 10, "total_tokens": 1599,
                  "prompt_tokens_details": {"cache_type": "ephemeral", "cached_tokens": 1578,
                                            "cache_creation_input_tokens": 0}}


def test_tokens_from_dashscope_explicit_cache_fields():
    assert tokens_of(DASHSCOPE_WRITE) == Tokens(prompt=1589, completion=10, cache_write=1578, explicit=True)
    assert tokens_of(DASHSCOPE_READ) == Tokens(prompt=1589, completion=10, cached=1578, explicit=True)
    hour = {**DASHSCOPE_WRITE, "prompt_tokens_details": {
        **DASHSCOPE_WRITE["prompt_tokens_details"], "cache_creation": {"ephemeral_1h_input_tokens": 1578}}}
    assert tokens_of(hour).cache_write_1h == 1578
    implicit = {"prompt_tokens": 1589, "completion_tokens": 10, "prompt_tokens_details": {"cached_tokens": 1024}}
    assert tokens_of(implicit) == Tokens(prompt=1589, completion=10, cached=1024)


def test_missing_or_malformed_counts_are_zero():
    assert tokens_of(None) == Tokens()
    assert tokens_of({"prompt_tokens": "12", "completion_tokens": -3, "prompt_tokens_details": None}) == Tokens()
    assert tokens_of({"prompt_tokens": True}) == Tokens()
    odd = {"prompt_tokens": 5, "prompt_tokens_details": "cached", "completion_tokens_details": [3]}
    assert tokens_of(odd) == Tokens(prompt=5)  # details that are not objects count nothing, and break nothing


def test_a_record_survives_its_journal_line_exactly():
    original = replace(record(3, cost="123.0000000001"), client_request_id="client-3")
    line = original.to_json()
    assert b"\n" not in line
    copy = UsageRecord.from_json(line)
    assert copy == original
    assert copy.cost == Decimal("123.0000000001") and copy.attempts[0].completion_tokens == 20


def test_the_rollup_day_is_the_utc_date():
    assert record(1, day=2).day == date(2026, 3, 3)
