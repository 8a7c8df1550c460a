"""One `/metrics` for all the workers of `relaygate serve --workers N`.

A scrape reaches whichever worker accepts the connection, and each worker counts only what it
answered. So each worker writes its series once a second (and when it stops) to a file of its own in
a directory the server made for them (WORKERS_METRICS_ENV), and the worker that is scraped adds the
others' latest files to its own live series: counters and histograms summed, requests in flight and
the journals' backlogs summed, a circuit at its worst (most open) state among the workers, Redis up
only if every worker has it. The other workers' figures are at most a second old. A worker's file
stays when the worker ends, so the totals never go down when uvicorn replaces a worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from relaygate.observability.registry import Counter, Family, Gauge, Histogram

log = logging.getLogger("relaygate.metrics")

WORKERS_METRICS_ENV = "RELAYGATE_WORKERS_METRICS"
INTERVAL = 1.0  # seconds between a worker's writes
Snapshot = dict[str, list[list[Any]]]  # family name → [label values, value (or a histogram's counts)]
GAUGE_MERGES: dict[str, Callable[[float, float], float]] = {
    "relaygate_circuit_state": max,  # open somewhere is worth knowing
    "relaygate_redis_up": min,  # up only where every worker has it
}


def snapshot(families: Iterable[Family]) -> Snapshot:
    taken: Snapshot = {}
    for family in families:
        series = family.series if isinstance(family, Histogram) else family.values
        taken[family.name] = [[list(key), value] for key, value in series.items()]
    return taken


def merged(families: Iterable[Family], others: list[Snapshot]) -> Iterable[Family]:
    """`families` (this worker's, left as they are) with the other workers' series added in."""
    for family in families:
        if not others:
            yield family
            continue
        if isinstance(family, Histogram):
            total = Histogram(family.name, family.help, family.labels, family.bounds)
            total.series = {key: list(counts) for key, counts in family.series.items()}
            for other in others:
                for key, counts in other.get(family.name, ()):
                    mine = total.series.setdefault(tuple(key), [0] * len(counts))
                    for i, count in enumerate(counts):
                        mine[i] += count
            yield total
            continue
        both = Counter(family.name, family.help, family.labels) if isinstance(family, Counter) \
            else Gauge(family.name, family.help, family.labels)
        both.values = dict(family.values)
        merge = GAUGE_MERGES.get(family.name, _add)
        for other in others:
            for key, value in other.get(family.name, ()):
                key = tuple(key)
                both.values[key] = merge(both.values[key], value) if key in both.values else value
        yield both


def _add(a: float, b: float) -> float:
    return a + b


class WorkerFiles:
    """This worker's file among its siblings' in `folder`."""

    def __init__(self, folder: str | Path, families: Callable[[], Iterable[Family]]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / f"{os.getpid()}.json"
        self.families = families
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="relaygate-worker-metrics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.write()

    async def _run(self) -> None:
        while True:
            self.write()
            await asyncio.sleep(INTERVAL)

    def write(self) -> None:
        try:
            partial = self.path.with_suffix(".part")
            partial.write_bytes(orjson.dumps(snapshot(self.families())))
            os.replace(partial, self.path)  # a reader sees the last whole file, never half of one
        except OSError as exc:
            log.warning("cannot write this worker's metrics for the other workers (%s)", exc)

    def others(self) -> list[Snapshot]:
        taken = []
        try:
            paths = [p for p in self.folder.glob("*.json") if p != self.path]
        except OSError:
            return []
        for path in paths:
            try:
                taken.append(orjson.loads(path.read_bytes()))
            except (OSError, orjson.JSONDecodeError):
                continue  # gone, or replaced as it was read: the next scrape has it
        return taken
