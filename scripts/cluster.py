"""A local Auralis cluster on loopback: 2 instances, a real nginx in front, a real redis-server.

    make cluster          # up: http://127.0.0.1:8080 (state, logs and pids in .cluster/)
    make cluster-down     # every process it started stopped, checked by pid
    .venv/bin/python scripts/cluster.py status

It is the tested version of the recipe in deploy/ (docs/deploy.md): nginx runs the site rendered
from deploy/nginx-site.conf.template with the instances as upstreams, and the instances run with
the settings of deploy/auralis.env that matter between them (AURALIS_REDIS_URL,
AURALIS_REFUSE_WHEN_UNHEALTHY, AURALIS_HLS_DIR, an AURALIS_INSTANCE_ID each), in development
mode unless the environment says otherwise. Ports: CLUSTER_PORT (8080), CLUSTER_INSTANCE_PORTS
(8081,8082), CLUSTER_REDIS_PORT (6390); CLUSTER_DIR (.cluster). Any AURALIS_* variable set when
it starts goes to the instances.

The tests (tests/integration/test_cluster_*.py, tests/browser/test_cluster_failover.py) drive
the same `LocalCluster` on free ports: kill an instance, restart nginx, take Redis away.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deploy.nginx_site import render_site  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
INSTANCE_HEADER = "x-auralis-instance"
STATE_FILE = "cluster.json"
#: What each kind of process's command line contains (a recorded pid is signalled only if its
#: process still is what was started: pids are reused).
MARKERS = {"nginx": "nginx", "redis": "redis-server", "instance": "auralis.cli"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int, marker: str | None = None) -> bool:
    """The process exists (not a zombie) and, with `marker`, its command line contains it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return marker is None or marker in _cmdline(pid)


def children(pid: int) -> list[int]:
    """Direct children of `pid` (nginx's workers)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def http_get(url: str, timeout: float = 2.0, headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


@dataclass
class LocalCluster:
    """The processes of a loopback cluster; `up()` starts them, `down()` stops them (by pid)."""

    dir: Path
    port: int = 8080
    instance_ports: tuple[int, ...] = (8081, 8082)
    redis_port: int = 6390
    env: dict[str, str] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)

    # --- names and paths ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def hls_dir(self) -> Path:
        return self.dir / "hls"

    @property
    def instances(self) -> dict[str, int]:
        """Instance id -> port."""
        return {f"auralis-{i + 1}": port for i, port in enumerate(self.instance_ports)}

    def instance_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.instances[name]}"

    def log_path(self, name: str) -> Path:
        return self.dir / f"{name}.log"

    def logs(self, name: str) -> str:
        try:
            return self.log_path(name).read_text(errors="replace")
        except OSError:
            return ""

    # --- whole cluster -------------------------------------------------------------------------

    def up(self, timeout: float = 120.0) -> None:
        """Start redis, the instances and nginx; return once nginx reaches every instance
        and each says it can render. On failure everything started is stopped."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.hls_dir.mkdir(exist_ok=True)
        try:
            self.start_redis()
            for name in self.instances:
                self.start_instance(name)
            self.start_nginx()
            self.wait_ready(timeout)
        except BaseException:
            self.down()
            raise

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        for name in self.instances:
            self.wait_instance(name, deadline - time.monotonic())
        self.wait_nginx(deadline - time.monotonic())

    def down(self, timeout: float = 15.0) -> list[int]:
        """Stop nginx, the instances, then redis; every pid checked gone. Returns the pids."""
        stopped = []
        for name in ["nginx", *self.instances, "redis"]:
            pid = self.pids.get(name)
            if pid is not None:
                stopped += self.stop(name, timeout=timeout)
        left = [pid for pid in stopped if alive(pid)]
        if left:
            raise RuntimeError(f"processes still running after cluster down: {left}")
        self._save()
        return stopped

    # --- one process ---------------------------------------------------------------------------

    def _spawn(self, name: str, cmd: list[str], env: Mapping[str, str] | None = None) -> int:
        with open(self.log_path(name), "ab") as log:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=dict(env or os.environ), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,  # not stopped by the shell's Ctrl-C
            )
        self.pids[name] = proc.pid
        self._popen[name] = proc
        self._save()
        return proc.pid

    def __post_init__(self) -> None:
        self.dir = Path(self.dir).resolve()
        self._popen: dict[str, subprocess.Popen[bytes]] = {}

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> list[int]:
        """Signal `name` (nginx: its master; its workers are checked too) and wait for it to
        be gone; SIGKILL after `timeout`. Returns the pids that were running."""
        pid = self.pids.pop(name, None)
        if pid is None:
            return []
        marker = MARKERS["instance" if name in self.instances else name]
        if not alive(pid, marker):
            self._reap(name)
            self._save()
            return []
        group = [pid, *children(pid)] if name == "nginx" else [pid]
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while any(alive(p) for p in group) and time.monotonic() < deadline:
            self._reap(name)
            time.sleep(0.05)
        for p in group:
            if alive(p):
                os.kill(p, signal.SIGKILL)
        while any(alive(p) for p in group) and time.monotonic() < deadline + 5:
            self._reap(name)
            time.sleep(0.05)
        self._reap(name)
        self._save()
        return group

    def kill(self, name: str) -> int:
        """SIGKILL `name` at once (a crash); returns its pid."""
        pid = self.pids[name]
        self.stop(name, sig=signal.SIGKILL, timeout=5)
        return pid

    def _reap(self, name: str) -> None:
        proc = self._popen.get(name)
        if proc is not None and proc.poll() is not None:
            self._popen.pop(name, None)

    def start_redis(self) -> int:
        pid = self._spawn(
            "redis",
            [REDIS_SERVER, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no"],
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return pid
            except OSError:
                pass
            if not alive(pid) or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{self.logs('redis')[-2000:]}")
            time.sleep(0.05)

    def instance_env(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("AURALIS_HOST", "AURALIS_PORT")}
        env.update(
            {
                "AURALIS_REDIS_URL": self.redis_url,
                "AURALIS_INSTANCE_ID": name,
                "AURALIS_REFUSE_WHEN_UNHEALTHY": "true",
                "AURALIS_HLS_DIR": str(self.hls_dir),
                "AURALIS_LOG_FORMAT": "json",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            }
        )
        env.update(self.env)
        return env

    def start_instance(self, name: str, env: Mapping[str, str] | None = None) -> int:
        port = self.instances[name]
        cmd = [sys.executable, "-m", "auralis.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        return self._spawn(name, cmd, {**self.instance_env(name), **(env or {})})

    def wait_instance(self, name: str, timeout: float = 60.0, *, status: int = 200) -> dict:
        """Wait until `name`'s /health answers `status`; returns its body."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            pid = self.pids.get(name)
            if pid is None or not alive(pid):
                raise RuntimeError(f"{name} exited:\n{self.logs(name)[-3000:]}")
            try:
                code, _, body = http_get(f"{self.instance_url(name)}/health", headers={"X-Forwarded-Proto": "https"})
                last = (code, body[:300])
                if code == status:
                    return json.loads(body)
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not at /health {status} within {timeout:g} s (last {last}):\n{self.logs(name)[-3000:]}")
            time.sleep(0.1)

    def nginx_conf(self) -> Path:
        """Write nginx.conf (the main file, for this directory) and site.conf (the template)."""
        ng = self.dir / "nginx"
        (ng / "tmp").mkdir(parents=True, exist_ok=True)
        site = render_site(
            [f"127.0.0.1:{p}" for p in self.instance_ports],
            listen=[f"127.0.0.1:{self.port}"],
            server_name="localhost 127.0.0.1",
            hls_dir=str(self.hls_dir),
        )
        (ng / "site.conf").write_text(site)
        user = f"user {pwd.getpwuid(os.getuid()).pw_name};\n" if os.getuid() == 0 else ""
        temp = "\n".join(
            f"    {kind}_temp_path {ng / 'tmp' / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        conf = ng / "nginx.conf"
        conf.write_text(
            f"# written by scripts/cluster.py for the loopback cluster in {self.dir}\n"
            f"{user}daemon off;\nworker_processes 1;\npid {ng / 'nginx.pid'};\n"
            f"error_log {ng / 'error.log'} warn;\n"
            "events {\n    worker_connections 4096;\n}\n"
            "http {\n    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n"
            f"    access_log {ng / 'access.log'};\n{temp}\n    include {ng / 'site.conf'};\n}}\n"
        )
        return conf

    def nginx_cmd(self, *extra: str) -> list[str]:
        ng = self.dir / "nginx"
        return [NGINX, "-p", str(ng), "-c", str(ng / "nginx.conf"), "-e", str(ng / "error.log"), *extra]

    def check_nginx(self) -> str:
        """`nginx -t` on the cluster's configuration; returns its output (raises if it fails)."""
        self.nginx_conf()
        r = subprocess.run(self.nginx_cmd("-t"), capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{r.stderr}")
        return r.stderr

    def start_nginx(self) -> int:
        self.check_nginx()
        pid = self._spawn("nginx", self.nginx_cmd())
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return pid
            except OSError:
                pass
            if not alive(pid) or time.monotonic() > deadline:
                ng = self.dir / "nginx"
                raise RuntimeError(f"nginx did not start:\n{self.logs('nginx')}\n{(ng / 'error.log').read_text(errors='replace') if (ng / 'error.log').exists() else ''}")
            time.sleep(0.05)

    def wait_nginx(self, timeout: float = 30.0) -> None:
        """Wait until nginx answers through an instance (X-Auralis-Instance on its answer)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                _, headers, _ = http_get(f"{self.url}/health")
                if INSTANCE_HEADER in headers:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"nginx at {self.url} does not reach the instances")
            time.sleep(0.1)

    # --- state (for `make cluster-down` from another process) ----------------------------------

    def _save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        state = {
            "port": self.port, "instance_ports": list(self.instance_ports), "redis_port": self.redis_port,
            "pids": self.pids, "url": self.url,
        }
        (self.dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> LocalCluster:
        state = json.loads((Path(directory) / STATE_FILE).read_text())
        return cls(Path(directory), state["port"], tuple(state["instance_ports"]), state["redis_port"],
                   pids={k: int(v) for k, v in state["pids"].items()})


def _ports(value: str) -> tuple[int, ...]:
    return tuple(int(p) for p in value.split(",") if p.strip())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="A local Auralis cluster: 2 instances, nginx, redis (loopback).")
    p.add_argument("command", choices=("up", "down", "status"))
    p.add_argument("--dir", default=os.environ.get("CLUSTER_DIR", str(ROOT / ".cluster")))
    args = p.parse_args(argv)
    directory = Path(args.dir)
    state = directory / STATE_FILE
    if args.command == "up":
        if state.exists() and any(alive(pid) for pid in LocalCluster.load(directory).pids.values()):
            print(f"cluster: already running (state in {state}); `make cluster-down` first", file=sys.stderr)
            return 1
        cluster = LocalCluster(
            directory,
            port=int(os.environ.get("CLUSTER_PORT", "8080")),
            instance_ports=_ports(os.environ.get("CLUSTER_INSTANCE_PORTS", "8081,8082")),
            redis_port=int(os.environ.get("CLUSTER_REDIS_PORT", "6390")),
        )
        for tool in (NGINX, REDIS_SERVER):
            if not Path(tool).exists():
                print(f"cluster: {tool} missing: run `bash scripts/setup.sh --cluster`", file=sys.stderr)
                return 3
        started = time.monotonic()
        cluster.up()
        print(f"cluster: up in {time.monotonic() - started:.1f} s at {cluster.url} "
              f"(instances {', '.join(f'{n}:{p}' for n, p in cluster.instances.items())}, "
              f"redis {cluster.redis_url}); pids {cluster.pids}; logs in {directory}")
        return 0
    if not state.exists():
        print("cluster: not running (no state file)")
        return 0
    cluster = LocalCluster.load(directory)
    if args.command == "status":
        for name, pid in cluster.pids.items():
            print(f"{name:12} pid {pid:7} {'running' if alive(pid) else 'gone'}")
        return 0
    stopped = cluster.down()
    print(f"cluster: stopped pids {stopped}; none left running")
    state.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
