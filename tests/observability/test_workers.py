"""Merging the workers' series (observability/workers.py)."""

from relaygate.observability.registry import Counter, Gauge, Histogram, exposition
from relaygate.observability.workers import WorkerFiles, merged, snapshot


def families(requests: int, latency: float, in_flight: int, circuit: int, redis_up: int):
    counter = Counter("relaygate_requests_total", "r", ("model",))
    counter.inc(("m",), requests)
    histogram = Histogram("relaygate_request_duration_seconds", "d", ("model",), (0.1, 1))
    histogram.observe(("m",), latency)
    gauges = [Gauge("relaygate_requests_in_flight", "f"), Gauge("relaygate_circuit_state", "c", ("provider",)),
              Gauge("relaygate_redis_up", "u")]
    gauges[0].set((), in_flight)
    gauges[1].set(("emu",), circuit)
    gauges[2].set((), redis_up)
    return [counter, histogram, *gauges]


def test_counters_and_histograms_add_gauges_merge_by_meaning():
    mine = families(3, 0.05, 1, 0, 1)
    other = snapshot(families(4, 0.5, 2, 2, 0))
    extra = Counter("relaygate_requests_total", "r", ("model",))
    extra.inc(("n",), 5)
    text = exposition(merged(mine, [other, snapshot([extra])])).decode()
    assert 'relaygate_requests_total{model="m"} 7' in text and 'relaygate_requests_total{model="n"} 5' in text
    assert 'relaygate_request_duration_seconds_bucket{model="m",le="0.1"} 1' in text
    assert 'relaygate_request_duration_seconds_bucket{model="m",le="1"} 2' in text
    assert 'relaygate_request_duration_seconds_count{model="m"} 2' in text
    assert "relaygate_requests_in_flight 3" in text
    assert 'relaygate_circuit_state{provider="emu"} 2' in text  # open in one worker
    assert "relaygate_redis_up 0" in text  # lost in one worker
    assert mine[0].values == {("m",): 3}, "this worker's own series are left as they are"


def test_a_worker_reads_its_siblings_files_not_its_own(tmp_path):
    mine = WorkerFiles(tmp_path, lambda: families(3, 0.05, 0, 0, 1))
    mine.write()
    assert mine.others() == []
    (tmp_path / "123.json").write_bytes(b'{"relaygate_requests_total": [[["m"], 4]]}')
    (tmp_path / "124.json").write_bytes(b'{"relaygate_requests_')  # cut short: skipped, never an error
    assert mine.others() == [{"relaygate_requests_total": [[["m"], 4]]}]
