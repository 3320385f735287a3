"""This process's resident memory (RSS), read when asked, with one system call.

`psutil.Process().memory_info()` opens `/proc/self/statm`, reads and closes it: about five
system calls, and the event loop gives up the GIL at each one. Under load the render threads
take it meanwhile, and each time the loop may wait up to the interpreter's switch interval
(1 ms in the server) to get it back, which is what a `/api/metrics` answer waited on. Here the
file stays open and each reading is one `pread` at offset 0 (procfs makes the figures afresh at
every read from the start). Where there is no `/proc/self/statm`, psutil answers.

That one `pread` is made **holding the GIL**: `os.pread` gives the GIL up around the call like
any Python I/O, and the C library's `pread` called through `ctypes.PyDLL` does not. Reading
statm cannot block (procfs builds a line of numbers), so nothing is gained by letting other
threads run during its few microseconds, and giving the GIL up cost the loop the wait to get it
back: beside 20 Opus streams rendering in the same process, `os.pread` on the loop took p50 6 us
but p99 1.44 ms (2.8 % of the calls over 0.2 ms), the same read through `PyDLL` p99 19 us, max
0.10 ms (`bench/bench_gil_handover.py` prints both readings; docs/benchmarks.md).
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable

import psutil

STATM = "/proc/self/statm"
#: Bytes read from statm (seven numbers; far less than this).
STATM_BYTES = 256


def _pread_holding_gil() -> Callable[[int], bytes] | None:
    """The C library's `pread`, called without giving the GIL up (`ctypes.PyDLL`); None where
    the C library cannot be found (then `os.pread`)."""
    try:
        libc = ctypes.PyDLL(None, use_errno=True)
        pread = libc.pread
    except (OSError, AttributeError):
        return None
    pread.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long]
    pread.restype = ctypes.c_ssize_t

    def read(fd: int) -> bytes:
        buf = ctypes.create_string_buffer(STATM_BYTES)
        n = pread(fd, buf, STATM_BYTES, 0)
        if n < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return buf.raw[:n]

    return read


_PREAD = _pread_holding_gil()


class ResidentMemory:
    """`rss()`: bytes resident now. Thread-safe; `close()` releases the file."""

    def __init__(self, path: str = STATM) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = os.getpid()
        self._pread = _PREAD or (lambda fd: os.pread(fd, STATM_BYTES, 0))
        try:
            self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            self._read_statm(self._fd)  # a file that does not parse is not used
        except (OSError, ValueError, IndexError):
            self.close()
        self._process = psutil.Process()

    def _read_statm(self, fd: int) -> int:
        # statm: size resident shared text lib data dt, in pages
        return int(self._pread(fd).split()[1]) * self._page

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
