"""How the figures of several worker processes combine into the whole server's.

- Listeners, counters, memory (RSS), GC collections and Prometheus counters and histograms
  (bucket by bucket) add up.
- ``buffer_depth`` is the lowest among the workers that have streams (0 when none has).
- ``soundfont_loaded`` holds when every worker has loaded it (a worker that has not published
  yet has not); ``synthesis_active`` when any worker synthesizes.
- Latency percentiles come from the union of the workers' rolling windows (each keeps its own
  last samples), never from averaging percentiles.
- Prometheus gauges add up except those that name a bound or a moment (`MIN_GAUGES`,
  `MAX_GAUGES`); ``*_created`` samples keep the earliest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from prometheus_client.metrics_core import Metric

#: A Prometheus metric family as JSON: [name, type, documentation, unit, [[sample, labels, value]...]]
Family = list[Any]

MIN_GAUGES = frozenset({
    "process_start_time_seconds", "process_max_fds", "auralis_buffer_depth", "auralis_soundfont_loaded",
})
MAX_GAUGES = frozenset({"auralis_uptime_seconds", "auralis_synthesis_active", "python_info"})


def merge_status(parts: Sequence[Mapping[str, Any]], *, complete: bool) -> dict[str, Any]:
    """The server's status figures from each worker's (``active_connections``, ``buffer_depth``,
    ``streams``, ``soundfont_loaded``, ``synthesis_active``); `complete`: every worker is there."""
    depths = [int(p["buffer_depth"]) for p in parts if p.get("streams", 0) > 0]
    return {
        "active_connections": sum(int(p["active_connections"]) for p in parts),
        "buffer_depth": min(depths) if depths else 0,
        "streams": sum(int(p.get("streams", 0)) for p in parts),
        "soundfont_loaded": complete and all(bool(p["soundfont_loaded"]) for p in parts),
        "synthesis_active": any(bool(p["synthesis_active"]) for p in parts),
    }


def sum_counts(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Key-by-key sums of the workers' counters."""
    total: dict[str, int] = {}
    for part in parts:
        for key, n in part.items():
            total[key] = total.get(key, 0) + int(n)
    return total


def window_values(windows: Iterable[np.ndarray], cutoff: float) -> list[float]:
    """The values of every worker's ``(time, value)`` samples taken at or after `cutoff`."""
    out: list[float] = []
    for pairs in windows:
        if len(pairs):
            out.extend(pairs[pairs[:, 0] >= cutoff, 1].tolist())
    return out


def families_of(metrics: Iterable[Metric]) -> list[Family]:
    """A registry's collected families, as JSON-able lists."""
    return [
        [m.name, m.type, m.documentation, m.unit, [[s.name, s.labels, s.value] for s in m.samples]]
        for m in metrics
    ]


def merge_families(
    workers: Sequence[Sequence[Family]], *, replace: Mapping[str, float] | None = None
) -> list[Metric]:
    """The workers' families combined (see the module docstring); `replace` sets the value of
    an unlabelled gauge outright (figures merged elsewhere, such as ``auralis_buffer_depth``)."""
    replace = replace or {}
    order: list[str] = []
    heads: dict[str, tuple[str, str, str]] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for families in workers:
        for name, typ, doc, unit, samples in families:
            if name not in heads:
                order.append(name)
                heads[name] = (typ, doc, unit)
                values[name] = {}
            acc = values[name]
            for sample, labels, value in samples:
                key = (sample, tuple(sorted(labels.items())))
                value = float(value)
                if key not in acc:
                    acc[key] = value
                elif sample.endswith("_created") or (typ == "gauge" and name in MIN_GAUGES):
                    acc[key] = min(acc[key], value)
                elif typ in ("gauge", "info") and (name in MAX_GAUGES or typ == "info"):
                    acc[key] = max(acc[key], value)
                else:
                    acc[key] += value
    merged = []
    for name in order:
        typ, doc, unit = heads[name]
        family = Metric(name, doc, typ, unit)
        for (sample, labels), value in values[name].items():
            if name in replace and not labels:
                value = replace[name]
            family.add_sample(sample, dict(labels), value)
        merged.append(family)
    return merged
