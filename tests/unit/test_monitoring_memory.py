"""The process's RSS read with one pread: the same figure as psutil's, read afresh each time."""

from __future__ import annotations

import sys
import threading
import time

import psutil

from auralis.monitoring.memory import ResidentMemory


def test_rss_is_psutils_figure_and_follows_an_allocation() -> None:
    mem = ResidentMemory()
    try:
        before = mem.rss()
        assert abs(before - psutil.Process().memory_info().rss) < 8 << 20
        block = bytearray(64 << 20)
        for i in range(0, len(block), 4096):  # touch every page: resident now
            block[i] = 1
        after = mem.rss()
        assert after - before > 60 << 20
        assert abs(after - psutil.Process().memory_info().rss) < 8 << 20
        del block
    finally:
        mem.close()


def test_without_the_proc_file_psutil_answers(tmp_path) -> None:
    mem = ResidentMemory(str(tmp_path / "no-such-statm"))
    assert abs(mem.rss() - psutil.Process().memory_info().rss) < 8 << 20
    mem.close()
    mem.close()  # idempotent


def test_a_reading_keeps_the_gil() -> None:
    """The pread is made holding the GIL: a Python thread waiting for it does not run during a
    reading. With `os.pread` it takes the GIL in some of the readings (and keeps it for a switch
    interval): 300 readings gave it the GIL every time this test was tried so."""
    mem = ResidentMemory()
    count = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            count[0] += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.2)
    spinner = threading.Thread(target=spin, daemon=True)
    try:
        spinner.start()
        time.sleep(0.05)  # the spinner runs; this thread waits for the GIL back
        before = count[0]
        rss = [mem.rss() for _ in range(300)]  # a few ms, far within the switch interval
        assert count[0] == before  # nothing else ran while the readings were made
        assert all(r > 0 for r in rss)
    finally:
        stop.set()
        sys.setswitchinterval(interval)
        spinner.join(5)
        mem.close()
