"""A strict reader of the Prometheus text format for the tests: every line must parse."""

from __future__ import annotations

import re

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_exposition(text: str) -> dict[str, dict[tuple, float]]:
    """Sample name → {sorted ((label, value), ...): value}; checks HELP/TYPE precede each family."""
    families: dict[str, dict[tuple, float]] = {}
    typed: set[str] = set()
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, _, labels, value = match.groups()
        assert any(name == t or name.startswith(t + "_") for t in typed), f"{name} has no TYPE line"
        pairs = tuple(sorted((k, v) for k, v, _ in LABEL.findall(labels or "")))
        series = families.setdefault(name, {})
        assert pairs not in series, f"duplicate series {line!r}"
        series[pairs] = float(value)
    return families


def samples(families: dict[str, dict[tuple, float]], name: str) -> dict[tuple, float]:
    return families.get(name, {})
