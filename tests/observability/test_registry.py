"""The hand-written registry renders the Prometheus text format that a strict reader accepts."""

from __future__ import annotations

from relaygate.observability.registry import Counter, Gauge, Histogram, exposition
from tests.observability.exposition import parse_exposition


def test_histogram_buckets_are_cumulative_and_inclusive():
    histogram = Histogram("h_seconds", "help", ("model",), (0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 1.0, 7.0):
        histogram.observe(("m",), value)
    families = parse_exposition(exposition([histogram]).decode())
    assert families["h_seconds_bucket"] == {
        (("le", "0.1"), ("model", "m")): 2, (("le", "1.0"), ("model", "m")): 4, (("le", "+Inf"), ("model", "m")): 5,
    }
    assert families["h_seconds_count"] == {(("model", "m"),): 5}
    assert families["h_seconds_sum"][(("model", "m"),)] == sum((0.05, 0.1, 0.5, 1.0, 7.0))


def test_label_values_are_escaped():
    counter = Counter("c_total", "help", ("key",))
    counter.inc(('a "quoted" \\ key\nname',), 2)
    text = exposition([counter]).decode()
    assert 'c_total{key="a \\"quoted\\" \\\\ key\\nname"} 2\n' in text
    assert parse_exposition(text)["c_total"] == {(("key", 'a \\"quoted\\" \\\\ key\\nname'),): 2}


def test_families_without_samples_still_declare_their_type():
    text = exposition([Counter("none_total", "nothing yet", ("a",)), Gauge("up", "one")]).decode()
    assert text == "# HELP none_total nothing yet\n# TYPE none_total counter\n# HELP up one\n# TYPE up gauge\n"
