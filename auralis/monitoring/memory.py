"""This process's resident memory (RSS), read when asked, with one system call.

`psutil.Process().memory_info()` opens `/proc/self/statm`, reads and closes it: about five
system calls, and the event loop gives up the GIL at each one. Under load the render threads
take it meanwhile, and each time the loop may wait up to the interpreter's switch interval
(1 ms in the server) to get it back, which is what a `/api/metrics` answer waited on. Here the
file stays open and each reading is one `pread` at offset 0 (procfs makes the figures afresh at
every read from the start). Where there is no `/proc/self/statm`, psutil answers.
"""

from __future__ import annotations

import os
import threading

import psutil

STATM = "/proc/self/statm"


class ResidentMemory:
    """`rss()`: bytes resident now. Thread-safe; `close()` releases the file."""

    def __init__(self, path: str = STATM) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = os.getpid()
        try:
            self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            self._read_statm(self._fd)  # a file that does not parse is not used
        except (OSError, ValueError, IndexError):
            self.close()
        self._process = psutil.Process()

    def _read_statm(self, fd: int) -> int:
        # statm: size resident shared text lib data dt, in pages
        return int(os.pread(fd, 256, 0).split()[1]) * self._page

    def rss(self) -> int:
        fd = self._fd
        if fd is not None and os.getpid() == self._pid:  # a forked child must not read its parent's
            try:
                return self._read_statm(fd)
            except (OSError, ValueError, IndexError):
                pass
        return int(self._process.memory_info().rss)

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def __del__(self) -> None:
        self.close()
