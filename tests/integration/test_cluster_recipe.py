"""The deployment recipe's files, run: the shipped nginx site through `nginx -t`, the systemd unit
through `systemd-analyze verify`, the environment file through the settings; and `make
cluster`'s launcher (scripts/cluster.py up/down) starting and stopping every process cleanly,
checked by pid. The site itself carries traffic in test_cluster.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from scripts.cluster import NGINX, alive, children, free_port
from tests.support.production import SECRET

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def test_the_shipped_nginx_site_passes_nginx_t(tmp_path: Path):
    prefix = tmp_path / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"pid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'};\nevents {{}}\n"
        f"http {{\n    include /etc/nginx/mime.types;\n    client_body_temp_path {prefix / 'tmp'};\n"
        f"    proxy_temp_path {prefix / 'tmp'};\n    include {DEPLOY / 'auralis-nginx.conf'};\n}}\n"
    )
    r = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "syntax is ok" in r.stderr and "test is successful" in r.stderr
    assert "warn" not in r.stderr, r.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_unit_verifies(tmp_path: Path):
    """`systemd-analyze verify` offline (no systemd runs here as PID 1): syntax, keys and the
    executable; the unit's /opt/auralis pointed at this checkout, where the command exists."""
    unit = (DEPLOY / "auralis@.service").read_text().replace("/opt/auralis", str(ROOT))
    assert (ROOT / ".venv" / "bin" / "auralis").exists()
    path = tmp_path / "auralis@8001.service"
    path.write_text(unit)
    r = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr
    broken = tmp_path / "broken@8001.service"
    broken.write_text(unit.replace("Type=exec", "Type=bogus"))
    r = subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True, text=True, timeout=60)
    assert "bogus" in r.stderr  # the check reads what it is given


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile reads them (comments and blanks skipped)."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def test_the_environment_file_starts_a_server_once_its_secret_is_filled_in(tmp_path: Path):
    env = read_env_file(DEPLOY / "auralis.env")
    assert env["AURALIS_ENV"] == "production" and env["AURALIS_JWT_SECRET"] == ""
    run = [sys.executable, "-c", "from auralis.server.settings import Settings; from auralis.server.app import create_app; "
           "s = Settings(); create_app(s); print(s.redis_url, s.refuse_when_unhealthy, s.cluster_max_listeners)"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("AURALIS_")}
    as_shipped = subprocess.run(run, env={**base, **env}, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert as_shipped.returncode != 0 and "AURALIS_JWT_SECRET" in as_shipped.stderr  # refuses to start unsigned
    filled = subprocess.run(run, env={**base, **env, "AURALIS_JWT_SECRET": SECRET}, capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert filled.returncode == 0, filled.stderr
    assert filled.stdout.split() == ["redis://127.0.0.1:6379/0", "True", "400"]


def test_make_cluster_starts_and_stops_every_process_checked_by_pid(tmp_path: Path):
    directory = tmp_path / "cl"
    ports = {"CLUSTER_PORT": str(free_port()), "CLUSTER_INSTANCE_PORTS": f"{free_port()},{free_port()}",
             "CLUSTER_REDIS_PORT": str(free_port()), "CLUSTER_DIR": str(directory)}
    env = {**os.environ, **ports}
    script = [sys.executable, str(ROOT / "scripts" / "cluster.py")]
    up = subprocess.run([*script, "up"], env=env, capture_output=True, text=True, timeout=180, cwd=ROOT)
    state = json.loads((directory / "cluster.json").read_text()) if (directory / "cluster.json").exists() else {}
    pids = dict(state.get("pids", {}))
    workers: list[int] = []
    url = f"http://127.0.0.1:{ports['CLUSTER_PORT']}"
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert set(pids) == {"redis", "auralis-1", "auralis-2", "nginx"}
        workers = children(pids["nginx"])
        assert workers and all(alive(p) for p in [*pids.values(), *workers])
        seen = {httpx.get(f"{url}/health", timeout=5).headers["x-auralis-instance"] for _ in range(6)}
        assert seen == {"auralis-1", "auralis-2"}
        again = subprocess.run([*script, "up"], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        down = subprocess.run([*script, "down"], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert down.returncode == 0, down.stdout + down.stderr
    left = [p for p in [*pids.values(), *workers] if alive(p)]
    assert left == [], f"left running: {left}"
    assert not (directory / "cluster.json").exists()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/health", timeout=2)
