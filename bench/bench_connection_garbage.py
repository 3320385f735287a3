"""Cyclic garbage that listeners leave behind when they go: what waits for the garbage collector.

A real server (`auralis serve`, run through this script) keeps every object a collection finds
unreachable (``gc.DEBUG_SAVEALL``). Listeners connect, get their first audio and go (every
fourth cut without a close frame); then, on SIGUSR1, the server collects and reports what the
collection found since the last report: objects, their bytes (with the ``bytes`` and arrays
they hold), their commonest types, and the reference cycles among them (strongly connected
components, by the types of their members). Objects freed by reference counting never get
there: with no cycle left per connection the report is (nearly) empty, however many came and went.

    .venv/bin/python bench/bench_connection_garbage.py [--kind personal|station] [--warmup 16] [--listeners 40]

``personal``: WebSocket personal streams (``?seed=N``), 8 at a time, as the churn test does.
``station``: station ``focus`` listeners, half WebSocket ``opus`` and half HTTP ``.ogg``, all at
once, each for 3 s. A warm-up round first (its report is not printed: the server's own start-up
garbage is in it), then the measured round.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# --- in the server -----------------------------------------------------------------------------


def _name(o: Any) -> str:
    t = type(o)
    n = f"{t.__module__}.{t.__qualname__}"
    if t.__name__ == "frame":
        n += f"[{o.f_code.co_name}]"
    elif t.__name__ == "coroutine":
        n += f"[{o.cr_code.co_name}]"
    elif t.__name__ == "function":
        n += f"[{o.__qualname__}]"
    return n


def _nbytes(o: Any) -> int:
    if type(o).__name__ == "ndarray":
        return int(o.nbytes) if o.base is None else 0
    return sys.getsizeof(o, 0)


def _cycles(edges: list[list[int]]) -> list[list[int]]:
    """Strongly connected components with a cycle (Tarjan, iterative)."""
    n = len(edges)
    index, low, on_stack = [-1] * n, [0] * n, [False] * n
    stack: list[int] = []
    found: list[list[int]] = []
    counter = 0
    for root in range(n):
        if index[root] != -1:
            continue
        work = [(root, 0)]
        while work:
            v, i = work[-1]
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack[v] = True
            if i < len(edges[v]):
                work[-1] = (v, i + 1)
                w = edges[v][i]
                if index[w] == -1:
                    work.append((w, 0))
                elif on_stack[w]:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in edges[v]:
                    found.append(comp)
    return found


def _report(out: Path) -> None:
    gc.collect()
    garbage = list(gc.garbage)
    gc.garbage.clear()
    ids = {id(o): i for i, o in enumerate(garbage)}
    edges = [[ids[id(r)] for r in gc.get_referents(o) if id(r) in ids] for o in garbage]
    held = {}  # untracked bytes and arrays the garbage holds
    for o in garbage:
        for r in gc.get_referents(o):
            if id(r) not in ids and (isinstance(r, (bytes, bytearray)) or type(r).__name__ == "ndarray"):
                held[id(r)] = _nbytes(r)
    kinds: Counter[tuple[tuple[str, int], ...]] = Counter()
    for comp in _cycles(edges):
        kinds[tuple(sorted(Counter(_name(garbage[i]) for i in comp).items()))] += 1
    total = sum(_nbytes(o) for o in garbage) + sum(held.values())
    with out.open("a") as f:
        f.write(f"garbage objects {len(garbage)}, bytes {total} (of which bytes/arrays held {sum(held.values())}), "
                f"reference cycles {sum(kinds.values())}\n")
        for k, v in Counter(_name(o) for o in garbage).most_common(12):
            f.write(f"  {v:6d} {k}\n")
        f.write("  cycles (how many x their members):\n")
        for key, v in kinds.most_common(12):
            f.write(f"  {v:6d} x " + ", ".join(f"{x} {k}" for k, x in key) + "\n")
        f.write("END\n")
    del garbage, edges, ids, held
    gc.set_debug(0)  # free what was reported, then keep the next round's again
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)


def serve_child(argv: list[str]) -> int:
    out = Path(os.environ["AURALIS_GARBAGE_FILE"])
    gc.set_debug(gc.DEBUG_SAVEALL)
    signal.signal(signal.SIGUSR1, lambda *_: _report(out))
    from auralis.cli import main

    return main(argv)


# --- the driver --------------------------------------------------------------------------------


async def _personal(srv: Any, n: int, offset: int) -> None:
    from tests.support.reliability import StreamLog, connect, read_until

    todo = iter(range(offset, offset + n))

    async def worker() -> None:
        for i in todo:
            ws = await connect(srv.ws_url, f"?seed={i}")
            log = StreamLog()
            deadline = time.monotonic() + 20
            while not log.seqs and log.close_code is None and time.monotonic() < deadline:
                await read_until(ws, log, min(deadline, time.monotonic() + 1))
            if i % 4 == 3:
                ws.transport.abort()
            else:
                await ws.close()

    await asyncio.gather(*(worker() for _ in range(8)))


async def _station(srv: Any, n: int, offset: int) -> None:
    from tests.support.reliability import connect

    async def ws_one(i: int) -> None:
        ws = await connect(srv.ws_url, "?station=focus&format=opus")
        end = time.monotonic() + 3
        while time.monotonic() < end:
            try:
                await asyncio.wait_for(ws.recv(), 1)
            except TimeoutError:
                pass
        if i % 4 == 3:
            ws.transport.abort()
        else:
            await ws.close()

    async def http_one(i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"GET /stream/focus.ogg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        end = time.monotonic() + 3
        while time.monotonic() < end:
            try:
                await asyncio.wait_for(reader.read(65536), 1)
            except TimeoutError:
                pass
        if i % 4 == 3:
            writer.transport.abort()
        else:
            writer.close()

    await asyncio.gather(*(ws_one(i) for i in range(n // 2)), *(http_one(i) for i in range(n - n // 2)))


def _collect_report(srv: Any, out: Path) -> str:
    done = out.read_text().count("END\n") if out.exists() else 0
    srv.process.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if out.exists() and out.read_text().count("END\n") > done:
            return out.read_text().split("END\n")[done]
    raise TimeoutError("no report from the server")


def _start_server(out: Path) -> Any:
    """`auralis serve` on a free loopback port, through this script (`serve-child`); returns it
    once the SoundFont is loaded (stopped by pid: `ServerProcess.stop`)."""
    import subprocess

    import httpx

    from tests.support.server import ServerProcess, free_port

    port = free_port()
    env = {**os.environ, "AURALIS_GARBAGE_FILE": str(out), "AURALIS_LOG_LEVEL": "warning",
           "PYTHONPATH": str(ROOT)}
    log_path = out.with_name("server.log")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "serve-child", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    srv = ServerProcess(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", port, proc, log_path)
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {srv.logs()[-2000:]}")
        try:
            if srv.status()["soundfont_loaded"]:
                return srv
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            srv.stop()
            raise TimeoutError("server not ready")
        time.sleep(0.1)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "serve-child":
        return serve_child(sys.argv[2:])
    from tests.support.reliability import _wait_connections

    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=("personal", "station"), default="personal")
    ap.add_argument("--warmup", type=int, default=16)
    ap.add_argument("--listeners", type=int, default=40)
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench-garbage-")) / "report.txt"
    run = _personal if args.kind == "personal" else _station

    async def round_(srv: Any, n: int, offset: int) -> None:
        await run(srv, n, offset)
        await _wait_connections(srv, 0)
        await asyncio.sleep(1.0)

    srv = _start_server(out)
    try:
        asyncio.run(round_(srv, args.warmup, 0))
        _collect_report(srv, out)
        asyncio.run(round_(srv, args.listeners, args.warmup))
        report = _collect_report(srv, out)
    finally:
        srv.stop()
    print(f"{args.listeners} {args.kind} listeners came and went; what they left for the collector:")
    print(report, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
