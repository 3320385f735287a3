"""The process's RSS read with one pread: the same figure as psutil's, read afresh each time."""

from __future__ import annotations

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
