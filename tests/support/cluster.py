"""A loopback cluster for tests: `scripts/cluster.py`'s LocalCluster on free ports.

    with running_cluster(tmp_path, env=production_env(...)) as cl:
        httpx.get(f"{cl.url}/health")          # through nginx
        cl.kill("auralis-1")                     # SIGKILL one instance
        cl.stop("redis"); cl.start_redis()       # Redis away, and back

On exit every process it started is stopped and checked gone by pid (nginx's workers too).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from scripts.cluster import LocalCluster, alive, children, free_port

__all__ = ["LocalCluster", "alive", "children", "running_cluster"]


@contextmanager
def running_cluster(directory: Path, env: Mapping[str, str] | None = None, *, instances: int = 2) -> Iterator[LocalCluster]:
    cl = LocalCluster(
        directory,
        port=free_port(),
        instance_ports=tuple(free_port() for _ in range(instances)),
        redis_port=free_port(),
        env=dict(env or {}),
    )
    cl.up()
    try:
        yield cl
    finally:
        cl.down()
