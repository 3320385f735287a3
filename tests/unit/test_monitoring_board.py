"""The worker board: each worker's figures in a file of its own, read back by the others."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from auralis.monitoring.board import WorkerBoard


def _board(tmp_path: Path, worker: int, workers: int = 3, **kw: float) -> WorkerBoard:
    return WorkerBoard(tmp_path, worker, workers, started=1000.0, **kw)


def test_published_figures_and_windows_come_back_exactly(tmp_path: Path) -> None:
    a, b = _board(tmp_path, 0), _board(tmp_path, 1)
    synth = np.array([[10.0, 1.5], [11.0, 2.5]])
    family = ["auralis_disconnects", "counter", "gone", "", [["auralis_disconnects_total", {}, 2.0]]]
    a.publish({"status": {"active_connections": 4}, "counters": {"disconnects": 2}, "families": [family]},
              {"synthesis": synth, "network": np.empty((0, 2))})
    head, windows = b.read(0)
    assert head["status"] == {"active_connections": 4} and head["counters"] == {"disconnects": 2}
    assert "families" not in head  # parsed only when asked for (/metrics)
    assert b.read(0, families=True)[0]["families"] == [family]
    assert head["worker"] == 0 and head["pid"] == os.getpid()
    np.testing.assert_array_equal(windows["synthesis"], synth)
    assert windows["network"].shape == (0, 2) and windows["end_to_end"].shape == (0, 2)
    # worker 1 sees worker 0 and nobody else; worker 2 has not published
    assert [p is not None for p in b.peers()] == [True, False]


def test_a_new_publication_replaces_the_old_whole(tmp_path: Path) -> None:
    a, b = _board(tmp_path, 0), _board(tmp_path, 1)
    a.publish({"n": 1}, {"synthesis": np.ones((500, 2))})
    a.publish({"n": 2}, {"synthesis": np.zeros((3, 2))})
    head, windows = b.read(0)
    assert head["n"] == 2 and windows["synthesis"].shape == (3, 2)
    assert not list(tmp_path.glob("*.tmp"))


def test_stale_cut_short_and_withdrawn_files_do_not_count(tmp_path: Path) -> None:
    a, b = _board(tmp_path, 0), _board(tmp_path, 1, stale_s=0.2)
    a.publish({"n": 1}, {})
    assert b.read(0) is not None
    time.sleep(0.3)
    assert b.read(0) is None  # a worker that stopped publishing (died) is left out
    a.publish({"n": 1}, {"synthesis": np.ones((4, 2))})
    path = a.path(0)
    path.write_bytes(path.read_bytes()[:-8])  # half a sample missing
    assert b.read(0) is None
    a.publish({"n": 1}, {})
    a.withdraw()
    assert b.read(0) is None and not path.exists()
    a.withdraw()  # twice is fine


def test_bad_worker_numbers_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        WorkerBoard(tmp_path, 2, 2, started=0.0)
    with pytest.raises(ValueError):
        WorkerBoard(tmp_path, 0, 0, started=0.0)
