"""The C allocator of a process that renders streams: one glibc malloc arena.

glibc gives a thread that finds the arena it would use locked an arena of its own (up to 8 per
core), and memory freed goes back to the arena it came from, each with its own free lists. In a
serving process the render workers create and delete a FluidSynth synth per stream (its voices,
reverb, and mixing buffers for each of its five per-voice outputs) and make numpy
temporaries for every chunk, while the event loop makes the frames, messages and connections:
so the process holds several partly used heaps, and the free space of one serves no allocation
of another thread. Measured with the churn test's 160 connect / first chunk / disconnect cycles
(docs/reliability.md, "Churn"): the server's RSS grew 8.1, 9.5 and 12.3 MB with glibc's default
arenas and 1.5, 4.6 and 7.3 MB with one (starting 25 MB lower), for the same render throughput
(2 workers, 8 streams: 1.85 and 1.94 ms of CPU a chunk by default, 1.93 and 1.87 with one arena;
Python's small objects have their own allocator, so the one arena's lock is rarely taken).

Elsewhere than glibc (macOS, musl) nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("auralis.streaming")

M_ARENA_MAX = -8  # glibc's <malloc.h>


def use_one_malloc_arena() -> bool:
    """``mallopt(M_ARENA_MAX, 1)``: every thread started from now on allocates from the main
    arena. Call it before the render threads start. True where glibc took the setting."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # glibc only  # noqa: B018
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(M_ARENA_MAX, 1) == 1
    log.debug("malloc arenas limited to 1: %s", ok)
    return ok
