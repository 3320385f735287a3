"""Stream synths share their group's loaded SoundFont: churn under load, exact deletes."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from auralis.audio import fluid
from auralis.audio.renderer import RenderConfig
from auralis.audio.stereo import check_stereo_image
from auralis.music.params import MusicParams
from auralis.streaming.chunk import CHUNK_SECONDS
from auralis.streaming.engine import StreamEngine
from auralis.audio.renderer import check_palettes  # noqa: E402,I001
from auralis.music.palettes import PALETTES  # noqa: E402,I001
from auralis.audio.soundfont import bank0_programs  # noqa: E402,I001


def test_churn_while_rendering_deletes_every_synth_once(
    soundfont_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 streams opened and closed in random order (some mid-render, some never rendered)
    while 20 others render across the pool: no failure, every synth deleted exactly once and
    only after handing back the shared SoundFont, a stream's audio unchanged by the churn,
    and a prompt close."""
    lib = fluid.library()
    live: set[int] = set()
    handed_back: set[int] = set()
    errors: list[str] = []
    anchor_ptrs: set[int] = set()
    guard = threading.Lock()
    real_new, real_delete, real_remove = lib.new_synth, lib.delete_synth, lib.remove_sfont

    def new_synth(settings):
        synth = real_new(settings)
        with guard:
            if synth in live:
                errors.append(f"new synth {synth:#x} is already live")
            live.add(synth)
        return synth

    def remove_sfont(synth, sfont):
        with guard:
            handed_back.add(synth)
        return real_remove(synth, sfont)

    def delete_synth(synth):
        with guard:
            if synth not in live:
                errors.append(f"synth {synth:#x} deleted twice or never created")
            if synth not in handed_back and synth not in anchor_ptrs:
                errors.append(f"synth {synth:#x} deleted with the shared SoundFont still in it")
            live.discard(synth)
            handed_back.discard(synth)
        real_delete(synth)

    # the engine's stereo-image check (auralis.audio.stereo) renders a test chord once per
    # configuration on a synth of its own: run it before the hooks count synths
    config = RenderConfig()
    check_stereo_image(soundfont_path, config.synth_settings(), config.voices)
    check_palettes(soundfont_path, config, PALETTES)
    bank0_programs(soundfont_path)  # (listed once per file, cached)
    monkeypatch.setattr(lib, "new_synth", new_synth)
    monkeypatch.setattr(lib, "delete_synth", delete_synth)
    monkeypatch.setattr(lib, "remove_sfont", remove_sfont)

    t_start = time.monotonic()
    eng = StreamEngine(soundfont_path, workers=3)
    anchors = {g.anchor._synth for g in eng._groups}
    anchor_ptrs.update(anchors)
    assert len(anchors) == 3
    # two same-seed streams land in different groups: their audio must stay identical
    steady = [eng.open_stream(MusicParams(), seed=7 if i < 2 else i) for i in range(20)]
    assert steady[0]._group is not steady[1]._group
    got: dict[int, list[bytes]] = {0: [], 1: []}
    stop = threading.Event()

    def consume() -> None:  # as listeners do: a chunk of each steady stream per period
        due = time.monotonic()
        while not stop.is_set():
            for i, s in enumerate(steady):
                chunk = s.pop()
                if chunk is not None and i in got:
                    got[i].append(chunk.pcm)
            due += CHUNK_SECONDS
            time.sleep(max(0.0, due - time.monotonic()))

    consumer = threading.Thread(target=consume)
    consumer.start()
    rng = random.Random(1234)
    churn = []
    borrowers_seen = 0
    for k in range(200):
        churn.append(eng.open_stream(MusicParams(), seed=1000 + k, lead_chunks=2))
        if rng.random() < 0.5:
            time.sleep(rng.random() * 0.01)  # let some render, some never start
        if k % 5 == 0:  # and some surely own a synth when closed (the scheduler serves the
            # earliest deadline: a new stream may wait behind the steady ones popped before it)
            deadline = time.monotonic() + 5.0
            while churn[-1]._renderer is None and churn[-1].error is None and time.monotonic() < deadline:
                time.sleep(0.001)
        while len(churn) > rng.randint(0, 12):
            victim = churn.pop(rng.randrange(len(churn)))
            borrowers_seen += victim._renderer is not None
            if rng.random() < 0.5:
                victim.pop()
            victim.close()
    time.sleep(0.5)
    stop.set()
    consumer.join()
    with guard:
        stream_synths = len(live - anchors)
    assert borrowers_seen >= 20  # closed while owning a synth
    assert stream_synths >= 20  # the steady ones (and any churn left open) have synths
    t0 = time.monotonic()
    eng.close()
    assert time.monotonic() - t0 < 2.0
    for s in steady + churn:
        s.close()
    assert not errors, errors[:5]
    assert not live & anchors and not live, f"{len(live)} synths never deleted"
    assert all(s.error is None for s in steady + churn)
    assert eng.stream_failures == 0
    n = min(len(got[0]), len(got[1]))
    assert n >= 5 and got[0][:n] == got[1][:n]
    assert time.monotonic() - t_start < 30
