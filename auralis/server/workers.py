"""`auralis serve --workers N`: N worker processes on one port, and the supervisor that runs them.

**One port, every core.** Each worker is a whole server (`auralis.server.app.run_worker`): its own
event loop, uvicorn, SoundFont, render threads and stations. Stations are deterministic by seed
and time, so each worker renders its own copy of a station and its listeners hear the same notes
at the same time whichever worker they reached. Each worker binds its own listening socket on the
same address with ``SO_REUSEPORT``, and the kernel spreads new connections over the workers
(by a hash of the client's address and port), so no process hands connections to another.

**One server to ask.** The workers leave their figures on a board (`auralis.monitoring.board`:
a private directory of small files, under ``/dev/shm`` where there is one) and whichever worker
takes `/api/status`, `/api/metrics` or `/metrics` answers for all of them. Each response, and
each WebSocket handshake, names its worker in ``X-Auralis-Worker`` (0 to N-1).

**The supervisor** (the process `auralis serve` started) checks that the port is free, starts
the workers, starts a worker again when one dies (at most `MAX_RESTARTS` in `RESTART_WINDOW_S`;
beyond that it stops the server, exit status 1), and on SIGTERM or SIGINT sends SIGTERM to every
worker and waits `STOP_TIMEOUT_S` for them (each closes its listeners with 1001 within its
shutdown grace) before it kills what is left. A worker whose supervisor dies gets SIGTERM from
the kernel (``PR_SET_PDEATHSIG``), so no worker outlives it.

What each worker counts on its own: ``AURALIS_MAX_CONNECTIONS`` and ``limit_concurrency`` are per
worker (the server takes N times as many), and without ``AURALIS_REDIS_URL`` so are the
production rate limits.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import tempfile
import time
from collections import deque
from collections.abc import Callable
from types import FrameType
from typing import Any

from auralis.monitoring.board import WorkerBoard
from auralis.server.settings import Settings

log = logging.getLogger("auralis.server.workers")

#: Seconds the workers get after SIGTERM before the supervisor kills them.
STOP_TIMEOUT_S = 4.5
#: A worker started again more than MAX_RESTARTS times within RESTART_WINDOW_S stops the server.
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
#: Pending connections each worker's listening socket queues.
BACKLOG = 2048
_PR_SET_PDEATHSIG = 1


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port that the other workers' sockets share (SO_REUSEPORT)."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def check_port_free(host: str, port: int) -> None:
    """OSError (address in use) when anything listens on host:port already, another Auralis
    with its own workers included: workers must not join a stranger's socket group."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no obstacle
        probe.bind((host, port))


def _die_with_parent() -> None:
    """Linux: this process gets SIGTERM when the supervisor dies, however it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return


#: What a worker process runs: a whole server on the shared port, its figures on the board
#: (`auralis.server.app.run_worker`; passed in, so this module does not import the app).
WorkerTarget = Callable[[Settings, WorkerBoard], None]


def _worker_main(
    target: WorkerTarget, index: int, workers: int, board_dir: str, started: float,
    overrides: dict[str, Any], parent: int,
) -> None:
    """A worker process (spawned: a fresh interpreter)."""
    _die_with_parent()
    if os.getppid() != parent:  # the supervisor died before the line above took effect
        return
    settings = Settings(**overrides)
    target(settings, WorkerBoard(board_dir, index, workers, started=started))


def _board_directory() -> str:
    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    return tempfile.mkdtemp(prefix="auralis-workers-", dir=base)


class Supervisor:
    """Starts the workers, restarts one that dies, stops them all on SIGTERM/SIGINT."""

    def __init__(self, settings: Settings, overrides: dict[str, Any], target: WorkerTarget) -> None:
        self.settings = settings
        self.target = target
        self.overrides = overrides
        self.count = settings.workers
        self.started = time.time()
        self._ctx = multiprocessing.get_context("spawn")
        self._procs: dict[int, Any] = {}
        self._stopping = False
        self._restarts: deque[float] = deque()
        self._board_dir = ""

    def _spawn(self, index: int) -> None:
        proc = self._ctx.Process(
            target=_worker_main,
            args=(self.target, index, self.count, self._board_dir, self.started, self.overrides, os.getpid()),
            name=f"auralis-worker-{index}",
        )
        proc.start()
        self._procs[index] = proc
        log.info("worker started", extra={"event": "worker_started", "worker": index, "pid": proc.pid})

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self._stopping:
            log.info("stopping workers", extra={"event": "workers_stopping", "signal": signal.Signals(signum).name})
        self._stopping = True
        self._terminate()

    def _terminate(self) -> None:
        for proc in self._procs.values():
            if proc.exitcode is None and proc.pid is not None:
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def run(self) -> int:
        s = self.settings
        try:
            check_port_free(s.host, s.port)
        except OSError as exc:
            log.error("cannot serve: %s:%d is taken (%s)", s.host, s.port, exc.strerror,
                      extra={"event": "serve_failed", "error": str(exc)})
            return 1
        if s.env == "production" and not s.redis_url:
            log.warning(
                "each worker keeps its own rate-limit counters: set AURALIS_REDIS_URL to share them",
                extra={"event": "workers_rate_limits", "workers": self.count},
            )
        self._board_dir = _board_directory()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        status = 0
        try:
            for i in range(self.count):
                self._spawn(i)
            log.info("serving with workers", extra={"event": "serve_workers", "workers": self.count,
                                                    "url": f"http://{s.host}:{s.port}", "board": self._board_dir})
            while not self._stopping:
                sentinels = [p.sentinel for p in self._procs.values()]
                multiprocessing.connection.wait(sentinels, timeout=0.5)
                for index, proc in list(self._procs.items()):
                    if proc.exitcode is None or self._stopping:
                        continue
                    if not self._may_restart():
                        log.error("workers keep dying; stopping the server",
                                  extra={"event": "workers_failed", "worker": index, "exitcode": proc.exitcode})
                        self._stopping, status = True, 1
                        break
                    log.error("worker died; starting it again",
                              extra={"event": "worker_died", "worker": index, "exitcode": proc.exitcode})
                    self._spawn(index)
        finally:
            self._stopping = True
            self._terminate()
            self._reap()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            shutil.rmtree(self._board_dir, ignore_errors=True)
            log.info("workers stopped", extra={"event": "workers_stopped"})
        return status

    def _may_restart(self) -> bool:
        now = time.monotonic()
        while self._restarts and now - self._restarts[0] > RESTART_WINDOW_S:
            self._restarts.popleft()
        self._restarts.append(now)
        return len(self._restarts) <= MAX_RESTARTS

    def _reap(self) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in self._procs.values():
            proc.join(max(0.0, deadline - time.monotonic()))
        for index, proc in self._procs.items():
            if proc.exitcode is None:
                log.warning("worker killed: not stopped in time", extra={"event": "worker_killed", "worker": index})
                proc.kill()
                proc.join(2.0)


def supervise(settings: Settings, overrides: dict[str, Any], target: WorkerTarget) -> int:
    """Serve with `settings.workers` processes, each running `target`, until SIGTERM/SIGINT;
    the exit status."""
    return Supervisor(settings, overrides, target).run()
