"""The garbage collector's policy in a serving process (`serve`, each `run_worker`; not tests,
which build many apps in one process).

Python's cyclic collector stops the event loop while it walks the objects of the generations it
collects. With a thousand station listeners a full collection walked ~320,000 objects (~142,000
from start-up: the libraries, the app, the SoundFont's presets; ~177 per listener: its ASGI
middleware frames, coroutines, tasks) in about 240 ms of CPU, and young collections ran several
times a second, each walking the few young objects every waiting listener holds (docs/benchmarks.md,
"`/api/metrics` beside 1,000 station listeners"). So, once the stations have started:

- one collection, then `gc.freeze()`: every object alive then goes out of the collector's reach
  (they are still freed when their last reference goes; only a cycle among them would never be
  collected), so a full collection walks only what was made since;
- thresholds `GC_THRESHOLDS` instead of Python's (700, 10, 10): young collections about 7 times
  rarer (each walks about as many live objects as before) and older ones far rarer.

Rarer collections cost memory only for garbage that waits for them: objects in reference cycles.
A listener's session, stream and tasks are freed by reference counting when it goes (the
sessions break their cycles as they close; `tests/unit/test_server_connection_garbage.py`), so a
connection's buffers do not wait for a collection however rare it is.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("auralis.server")

#: The collector's thresholds while serving (`gc.set_threshold`; Python's are 700, 10, 10).
GC_THRESHOLDS = (5000, 20, 10)


def tune_gc_for_serving() -> int:
    """After start-up: one collection, the heap frozen (`gc.freeze`), the serving thresholds set
    (`GC_THRESHOLDS`). Returns how many objects were frozen."""
    t0 = time.perf_counter()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    frozen = gc.get_freeze_count()
    log.info(
        "start-up heap frozen: %d objects, %.0f ms; gc thresholds %s",
        frozen,
        (time.perf_counter() - t0) * 1000,
        GC_THRESHOLDS,
        extra={"event": "gc_tuned", "objects": frozen},
    )
    return frozen
