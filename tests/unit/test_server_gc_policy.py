"""A serving process gets the collector's serving policy once started (`tune_gc_for_serving`): the
start-up heap frozen, the serving thresholds set. Run in a child interpreter: freezing is
process-wide and must not touch the test process."""

from __future__ import annotations

import json
import subprocess
import sys

from auralis.server.gc_policy import GC_THRESHOLDS

CHILD = """
import gc, json
from auralis.server.gc_policy import tune_gc_for_serving
keep = [[i] for i in range(1000)]  # live objects made at start-up
frozen = tune_gc_for_serving()
print(json.dumps({"frozen": frozen, "count": gc.get_freeze_count(), "thresholds": gc.get_threshold(),
                  "young": len(gc.get_objects(generation=0)), "old": len(gc.get_objects(generation=2))}))
"""


def test_the_start_up_heap_is_frozen_and_the_serving_thresholds_set() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["thresholds"] == list(GC_THRESHOLDS)
    assert got["frozen"] == got["count"] > 1000  # the libraries, the module and `keep`
    assert got["young"] < 100 and got["old"] < 100  # nothing left for the next collections to walk
    assert GC_THRESHOLDS[0] > 700 and GC_THRESHOLDS[1] >= 10  # rarer young collections than Python's
