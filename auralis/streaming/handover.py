"""Handing the GIL to the event loop between a render thread's stages.

A render thread holds the GIL for its Python and NumPy work (the DC blocker, the loudness ride, the
limiter, the 16-bit conversion, the encoder's wrapper: about 1 ms of a 100 ms chunk). Each NumPy
operation on a block gives the GIL up and takes it back a few microseconds later. In CPython 3.11
a thread waiting for the GIL asks the holder to drop it only when a whole switch interval passes
without a signal; each give-up signals it, it wakes to find the GIL taken back, and it waits a
whole interval again (`take_gil` in Python/ceval_gil.h). So the event loop, waking for a request
or a send, could wait out a render thread's whole stretch of NumPy work, then the other render
thread's (a convoy). That was the tail of `/api/metrics` beside Opus listeners.

A short sleep between the stages (FluidSynth, the finishing chain, the encoder) gives the GIL up
long enough for a waiting event loop to take it. With cores to spare it costs the render thread
that sleep, not CPU; with the cores saturated a thread that sleeps waits for a core again, and the
render threads fall behind (Opus capacity on the 2-core machine: 40 listeners passed without them,
failed with them). So a listener stream's render thread hands over only while the render threads
are busy at most `HANDOVER_MAX_LOAD` of the time (`auralis.streaming.headroom`'s measured share):
latency while there is room, throughput when there is not.
`bench/bench_gil_handover.py` measures the event loop's timer lateness beside two render threads
with and without it (docs/benchmarks.md).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from auralis.audio.dither import TpdfDither
from auralis.audio.renderer import Renderer, to_pcm16
from auralis.music.events import Event
from auralis.streaming.chunk import CHUNK_BYTES, CHUNK_FRAMES

#: How long a render thread sleeps at each hand-over: Linux's default timer slack makes any
#: sleep about 50-60 us, long enough for a waiting thread to wake and take the GIL. 0 turns the
#: hand-overs off (the benchmark's comparison).
HANDOVER_S = 50e-6


#: The render threads' measured busy share above which listener streams skip the hand-overs.
HANDOVER_MAX_LOAD = 0.6


def wanted(busy_share: float) -> bool:
    """Whether a chunk rendered now hands the GIL over, at this measured busy share (0-1)."""
    return HANDOVER_S > 0.0 and busy_share <= HANDOVER_MAX_LOAD


def hand_over() -> None:
    """Give the GIL up for about `HANDOVER_S` (a waiting event loop takes it)."""
    if HANDOVER_S > 0.0:
        time.sleep(HANDOVER_S)


def render_pcm16(
    renderer: Renderer, events: Sequence[Event], dither: TpdfDither | None, *, hand_overs: bool
) -> bytes:
    """One chunk's 16-bit PCM (`CHUNK_BYTES`) in two stages, FluidSynth (`Renderer.render_raw`)
    then the finishing chain (`Renderer.finish`) and the dithered conversion, handing the GIL
    over after each when `hand_overs` (a listener stream asks `wanted`; a station always hands
    over)."""
    raw = renderer.render_raw(events, CHUNK_FRAMES)
    if hand_overs:
        hand_over()
    pcm = to_pcm16(renderer.finish(raw), dither)
    if hand_overs:
        hand_over()
    if len(pcm) != CHUNK_BYTES:  # pragma: no cover - guards the wire format
        raise RuntimeError(f"chunk has {len(pcm)} bytes, expected {CHUNK_BYTES}")
    return pcm
