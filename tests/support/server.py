"""Run a real Auralis server (`python -m auralis.cli serve`) on a free loopback port.

    from tests.support.server import running_server

    with running_server() as srv:                 # waits until the SoundFont is loaded
        httpx.get(f"{srv.url}/api/status")        # srv.url == "http://127.0.0.1:<port>"
        websockets.connect(f"{srv.ws_url}/ws/stream")

    with running_server(env={"AURALIS_MAX_CONNECTIONS": "2"}, wait_soundfont=False) as srv: ...

    # production mode (tests/support/production.py): `headers` go with the readiness checks
    # and srv.status()/srv.metrics()
    with running_server(env=production_env(), headers=auth_headers()) as srv: ...

The server logs to a file (`srv.log_path`, `srv.logs()`), so a chatty server never blocks on a
full pipe. On exit the server gets SIGTERM, then SIGKILL if it has not exited within 10 s.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    url: str  # http://127.0.0.1:<port>
    ws_url: str  # ws://127.0.0.1:<port>
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.url

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def status(self) -> dict:
        r = httpx.get(f"{self.url}/api/status", headers=self.headers, timeout=5)
        r.raise_for_status()
        return r.json()

    def metrics(self) -> dict:
        r = httpx.get(f"{self.url}/api/metrics", headers=self.headers, timeout=5)
        r.raise_for_status()
        return r.json()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> float:
        """Send `sig` and wait for the process; returns the seconds it took to exit."""
        if self.process.poll() is not None:
            return 0.0
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        return time.monotonic() - started


@contextmanager
def running_server(
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    *,
    wait_soundfont: bool = True,
    timeout: float = 60.0,
    headers: Mapping[str, str] | None = None,
    port: int | None = None,
) -> Iterator[ServerProcess]:
    """Start `auralis serve` on 127.0.0.1 and a free port; yield once `/api/status` answers
    (and, with `wait_soundfont`, reports `soundfont_loaded: true`); stop it afterwards."""
    port = port or free_port()
    full_env = {**os.environ, "AURALIS_LOG_LEVEL": "info", **(env or {})}
    full_env.pop("AURALIS_HOST", None)
    full_env.pop("AURALIS_PORT", None)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), full_env.get("PYTHONPATH")]))
    log_fd, log_name = tempfile.mkstemp(prefix="auralis-server-", suffix=".log")
    log_path = Path(log_name)
    cmd = [sys.executable, "-m", "auralis.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    with os.fdopen(log_fd, "wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=full_env, stdout=log_file, stderr=subprocess.STDOUT)
    srv = ServerProcess(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", port, proc, log_path, dict(headers or {}))
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode} during startup:\n{srv.logs()[-4000:]}")
            try:
                status = srv.status()
                if not wait_soundfont or status["soundfont_loaded"]:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not ready within {timeout:g} s:\n{srv.logs()[-4000:]}")
            time.sleep(0.05)
        yield srv
    finally:
        srv.stop()
        try:
            log_path.unlink()
        except OSError:
            pass
