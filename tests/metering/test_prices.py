from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaygate.config import Price
from relaygate.metering.price_table import PRICES
from relaygate.governance.budgets import _most_in_decimal, max_cost
from relaygate.metering.money import MONEY_QUANTUM
from relaygate.metering.prices import ModelPrice, _priced, cost, cost_of_tokens, price_for, rates_of, table_price
from relaygate.metering.usage import Tokens
from tests.metering.test_usage import DASHSCOPE_READ, DASHSCOPE_WRITE


def test_dated_snapshots_resolve_to_their_model():
    assert table_price("claude-sonnet-4-5-20250929") == PRICES["claude-sonnet-4-5"]
    assert table_price("gpt-4o-2024-08-06") == PRICES["gpt-4o"]
    assert table_price("gpt-4o-mini-2024-07-18") == PRICES["gpt-4o-mini"]
    assert table_price("doubao-seed-1-6-251015") == PRICES["doubao-seed-1-6"]
    assert table_price("qwen-plus-latest") == PRICES["qwen-plus"]
    assert table_price("gpt-4o-audio-preview") is None
    assert table_price("no-such-model") is None


def test_a_configured_price_wins_over_the_table():
    configured = Price(input=0.3, output=1.1, cached_input=0.03)
    assert price_for("gpt-4o", configured) == ModelPrice(Decimal("0.3"), Decimal("1.1"), Decimal("0.03"))
    assert price_for("gpt-4o") == PRICES["gpt-4o"]
    assert price_for("unknown", Price(input=1, output=2)).cached_input is None


def test_cost_is_exact():
    price = PRICES["gpt-4o-mini"]  # 0.15 / 0.60, cached 0.075 per 1M
    usage = {"prompt_tokens": 1, "completion_tokens": 0, "prompt_tokens_details": {"cached_tokens": 1}}
    assert cost(price, usage) == Decimal("0.000000075")
    many = sum((cost(price, {"prompt_tokens": 1, "completion_tokens": 1}) for _ in range(1_000)), Decimal(0))
    assert many == Decimal("0.00075")  # 1000 × (0.15 + 0.60) / 1M, with no float drift


def test_cached_tokens_use_the_cached_price_when_there_is_one():
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000,
             "prompt_tokens_details": {"cached_tokens": 400_000}}
    assert cost(ModelPrice(Decimal(3), Decimal(15), Decimal("0.3")), usage) == Decimal("1.8") + Decimal("0.12") + 15
    assert cost(ModelPrice(Decimal(3), Decimal(15)), usage) == Decimal(18)


def test_cache_writes_use_their_prices_the_one_hour_ones_theirs():
    """Anthropic: 1M prompt tokens of which 100k read from the cache, 300k written to it (100k of
    them for an hour): reads at 0.1x, five-minute writes at 1.25x, one-hour writes at 2x the input."""
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 0,
             "prompt_tokens_details": {"cached_tokens": 100_000, "cache_write_tokens": 300_000,
                                       "cache_write_1h_tokens": 100_000}}
    sonnet = PRICES["claude-sonnet-4-5"]
    assert (sonnet.cache_write, sonnet.cache_write_1h) == (Decimal("3.75"), Decimal(6))
    assert cost(sonnet, usage) == Decimal("1.8") + Decimal("0.03") + Decimal("0.75") + Decimal("0.6")
    five_minutes = ModelPrice(Decimal(3), Decimal(15), Decimal("0.3"), Decimal("3.75"))
    assert cost(five_minutes, usage) == Decimal("1.8") + Decimal("0.03") + Decimal("1.125")  # 1h at the write price
    assert cost(ModelPrice(Decimal(3), Decimal(15), Decimal("0.3")), usage) == Decimal("2.7") + Decimal("0.03")
    overstated = {"prompt_tokens": 10, "completion_tokens": 0,
                  "prompt_tokens_details": {"cached_tokens": 8, "cache_write_tokens": 50, "cache_write_1h_tokens": 90}}
    assert cost(sonnet, overstated) == (8 * Decimal("0.3") + 2 * 6) / 1_000_000  # never more tokens than the prompt
    configured = price_for("claude-x", Price(input=3, output=15, cache_write=3.75, cache_write_1h=6))
    assert (configured.cache_write, configured.cache_write_1h) == (Decimal("3.75"), Decimal("6"))


def test_dashscope_explicit_cache_writes_and_reads_at_their_prices():
    """Model Studio: explicit-cache writes at 125% of input, its reads at 10%; implicit reads at 20%."""
    plus = PRICES["qwen-plus"]  # input $0.40, output $1.20 per 1M tokens
    assert (plus.cache_write, plus.cached_explicit, plus.cached_input) == (Decimal("0.5"), Decimal("0.04"),
                                                                         Decimal("0.08"))
    assert cost(plus, DASHSCOPE_WRITE) == (11 * Decimal("0.4") + 1578 * Decimal("0.5") + 10 * Decimal("1.2")) / 10**6
    assert cost(plus, DASHSCOPE_READ) == (11 * Decimal("0.4") + 1578 * Decimal("0.04") + 10 * Decimal("1.2")) / 10**6
    implicit = {"prompt_tokens": 1589, "completion_tokens": 10, "prompt_tokens_details": {"cached_tokens": 1578}}
    assert cost(plus, implicit) == (11 * Decimal("0.4") + 1578 * Decimal("0.08") + 10 * Decimal("1.2")) / 10**6
    no_explicit_price = plus._replace(cached_explicit=None)
    assert cost(no_explicit_price, DASHSCOPE_READ) == cost(plus, implicit)
    configured = price_for("qwen-x", Price(input=0.4, output=1.2, cached_input=0.08, cache_write=0.5,
                                           cached_explicit=0.04))
    assert configured == plus


def test_reasoning_tokens_are_not_billed_twice():
    usage = {"prompt_tokens": 0, "completion_tokens": 1000, "completion_tokens_details": {"reasoning_tokens": 900}}
    assert cost(ModelPrice(Decimal(1), Decimal(10)), usage) == Decimal("0.01")


def test_no_price_no_cost():
    assert cost(None, {"prompt_tokens": 10, "completion_tokens": 10}) == 0


@pytest.mark.parametrize("model", sorted(PRICES))
def test_table_entries_are_sane(model):
    price = PRICES[model]
    assert 0 < price.input <= price.output
    assert price.cached_input is None or 0 < price.cached_input < price.input
    assert price.cache_write is None or price.input < price.cache_write <= (price.cache_write_1h or price.cache_write)
    assert price.cached_explicit is None or 0 < price.cached_explicit < (price.cached_input or price.input)


# Prices as configured and tabled: USD per 1M tokens to at most ten places, some absurd; and a few
# with more places than the money scale, which have no units and are summed in Decimal.
_on_scale = st.decimals(min_value=0, max_value=100_000, places=10)
_usd = st.one_of(_on_scale, st.decimals(min_value=0, max_value=10, places=14), st.sampled_from(
    [Decimal("0.0375"), Decimal("2.5"), Decimal("1E+3"), Decimal("0E-7"), Decimal("0.00000000005")]))
_prices = st.builds(ModelPrice, _usd, _usd, *[st.none() | _usd] * 4)
_counts = st.integers(0, 2**31 - 1) | st.integers(0, 100)
_tokens = st.builds(Tokens, _counts, _counts, _counts, _counts, _counts, _counts, st.booleans())


@settings(max_examples=3000, deadline=None)
@given(_prices, _tokens)
def test_a_cost_summed_in_units_has_the_digits_of_the_decimal_sum(price, tokens):
    expected = (_priced(price, tokens) / 1_000_000).quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)  # in Decimal
    got = cost_of_tokens(price, tokens)
    assert got == expected and str(got) == str(expected)  # the same digits, in the journal and the answer
    assert (rates_of(price) is None) == any(p is not None and p != p.quantize(MONEY_QUANTUM) for p in price)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.none() | _prices, max_size=4), _counts, _counts)
def test_the_most_a_request_can_cost_summed_in_units_is_the_decimal_sum(prices, prompt, output):
    most = max_cost(prices, prompt, output)
    if any(p is not None for p in prices):
        assert most == _most_in_decimal(prices, prompt, output)
    else:
        assert most == 0


def test_halves_of_a_unit_round_to_even():
    half = ModelPrice(Decimal("0.0000000001"), Decimal(0))  # a unit per 1M tokens: 500k tokens are half a unit
    assert cost_of_tokens(half, Tokens(prompt=500_000)) == 0
    assert cost_of_tokens(half, Tokens(prompt=1_500_000)) == Decimal("2E-10")
    assert cost_of_tokens(half, Tokens(prompt=1_499_999)) == Decimal("1E-10")
    assert rates_of(half) == (1, 0, None, None, None, None, 1)
