"""The reliability harness for the connection gate: hostile clients that hold resources, not data.

Shared by the short CI runs (tests/integration/test_reliability_limits.py) and the full runs
(``scripts/reliability.py flood|idle|lockout``), so both measure the same thing:

- `run_header_flood`: requests with 1-64 MiB heads; the server's CPU for them and the gaps of a
  listener streaming beside them;
- `run_idle_sockets`: many sockets that send nothing or half a request line; how soon the server
  closes them, whether a normal client is served meanwhile, and the fd count afterwards;
- `run_slot_lockout`: one address opening listeners beyond its cap while a second address
  connects.

Everything runs on loopback (127.0.0.1 and 127.0.0.2 as two client addresses), bounded in count
and time; the server's process is measured with psutil (`ServerProbe`).
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from tests.support.reliability import ServerProbe, StreamLog, percentile, read_until

MIB = 1 << 20
#: 20 heads from 1 to 64 MiB, every size of the doubling ladder, largest ones repeated.
FLOOD_SIZES_MIB = (1, 2, 4, 8, 16, 32, 64) * 2 + (64, 32, 16, 8, 4, 2)


# --------------------------------------------------------------------------------------------
# Header flood


def send_huge_head(port: int, size: int, *, path: str = "/api/status", timeout: float = 30.0) -> str:
    """Send a request whose ``Authorization`` header is `size` bytes; the server's answer: its
    status code as text, ``reset`` (closed while we were still sending, the usual case for a head
    far over the limit) or ``timeout``."""
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer ".encode()
    block = b"a" * MIB
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(head)
            left = size
            while left > 0:
                n = min(left, MIB)
                sock.sendall(block[:n])
                left -= n
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except TimeoutError:
            return "timeout"
        try:
            answer = sock.recv(64)
        except ConnectionResetError:
            return "reset"
        except TimeoutError:
            return "timeout"
    if answer.startswith(b"HTTP/1.1 "):
        return answer[9:12].decode()
    return "reset" if not answer else "?"


@dataclass
class HeaderFloodResult:
    sizes_mib: list[int]
    answers: list[str]
    flood_cpu_s: float  # the server's CPU during the flood, less its idle CPU for as long
    idle_cpu_s: float
    seconds: float
    listener_gaps: int
    listener_chunks: int
    listener_max_interval_ms: float
    listener_p99_interval_ms: float
    listener_buffering: int  # `status` messages saying `buffering` (the listener's audio stalled)
    listener_closed: int | None
    status_after: int

    @property
    def refused(self) -> int:
        return sum(1 for a in self.answers if a in ("431", "reset"))

    def as_dict(self) -> dict[str, Any]:
        d = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in vars(self).items()}
        d["refused"] = self.refused
        return d


async def run_header_flood(
    srv: Any, *, sizes_mib: tuple[int, ...] = FLOOD_SIZES_MIB, concurrency: int = 4, headers: dict[str, str] | None = None
) -> HeaderFloodResult:
    """First the flood alone (its CPU: the server's CPU time during it, less the server's idle CPU
    over as long measured just before), then the flood again beside a streaming listener (its
    gaps and largest chunk inter-arrival)."""
    probe = ServerProbe(srv.process.pid)

    async def flood() -> tuple[list[str], float]:
        sem = asyncio.Semaphore(concurrency)

        async def one(size: int) -> str:
            async with sem:
                return await asyncio.to_thread(send_huge_head, srv.port, size * MIB)

        started = time.monotonic()
        answers = await asyncio.gather(*(one(s) for s in sizes_mib))
        return list(answers), time.monotonic() - started

    # the server's idle CPU over a comparable time, then the flood alone
    c0 = probe.sample()["cpu_s"]
    await asyncio.sleep(2.0)
    idle_rate = (probe.sample()["cpu_s"] - c0) / 2.0
    c1 = probe.sample()["cpu_s"]
    answers, seconds = await flood()
    cpu = probe.sample()["cpu_s"] - c1
    flood_cpu = max(0.0, cpu - idle_rate * seconds)

    # the flood beside a listener
    log = StreamLog()
    ws = await websockets.connect(
        f"{srv.ws_url}/ws/stream?seed=77", compression=None, max_queue=256, open_timeout=20,
        additional_headers=headers or {},
    )
    stop = time.monotonic() + 3600
    reader = asyncio.create_task(read_until(ws, log, stop))
    try:
        while len(log.seqs) < 5 and time.monotonic() < stop - 3580:
            await asyncio.sleep(0.05)
        t0 = time.monotonic()
        await flood()
        await asyncio.sleep(1.0)
        t1 = time.monotonic()
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await ws.close()
    intervals = log.intervals_ms(t0, t1)
    async with httpx.AsyncClient(timeout=10) as client:
        status_after = (await client.get(f"{srv.url}/api/status", headers=headers or {})).status_code
    return HeaderFloodResult(
        sizes_mib=list(sizes_mib),
        answers=answers,
        flood_cpu_s=flood_cpu,
        idle_cpu_s=idle_rate * seconds,
        seconds=seconds,
        listener_gaps=log.gaps(),
        listener_chunks=len(log.seqs),
        listener_max_interval_ms=max(intervals) if intervals else float("nan"),
        listener_p99_interval_ms=percentile(intervals, 99),
        listener_buffering=sum(1 for m in log.statuses if m.get("state") == "buffering"),
        listener_closed=log.close_code,
        status_after=status_after,
    )


# --------------------------------------------------------------------------------------------
# Idle sockets


@dataclass
class IdleSocketsResult:
    sockets: int
    opened: int
    closed_by_server: int
    last_closed_after_s: float | None
    normal_requests: int
    normal_failures: int
    normal_max_latency_ms: float
    fds_baseline: int
    fds_with_idle: int
    fds_after: int

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in vars(self).items()}


async def run_idle_sockets(
    srv: Any, *, sockets: int = 500, limit_s: float = 10.0, headers: dict[str, str] | None = None
) -> IdleSocketsResult:
    """Open `sockets` connections: a third send nothing, a third half a request line, a third a
    request line and one header and then stop. Wait (at most `limit_s` after the last opened) for
    the server to close every one. A normal client asks for /api/status every 100 ms from before
    the first socket opens until the last is closed."""
    probe = ServerProbe(srv.process.pid)
    fds_baseline = probe.sample()["fds"]
    latencies: list[float] = []
    failures = 0
    done = asyncio.Event()

    async def normal_client() -> None:
        nonlocal failures
        async with httpx.AsyncClient(timeout=5) as client:
            while not done.is_set():
                t = time.monotonic()
                try:
                    r = await client.get(f"{srv.url}/api/status", headers=headers or {})
                    if r.status_code != 200:
                        failures += 1
                except httpx.HTTPError:
                    failures += 1
                latencies.append((time.monotonic() - t) * 1000)
                await asyncio.sleep(0.1)

    normal = asyncio.create_task(normal_client())
    partial = (b"", b"GET /api/sta", b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for i in range(sockets):
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        if partial[i % 3]:
            writer.write(partial[i % 3])
        conns.append((reader, writer))
    opened_at = time.monotonic()
    await asyncio.sleep(0.5)
    fds_with_idle = int(probe.sample()["fds"])

    closed_after: list[float] = []

    async def wait_closed(reader: asyncio.StreamReader) -> None:
        try:
            while await asyncio.wait_for(reader.read(4096), limit_s + opened_at - time.monotonic()):
                pass
        except (TimeoutError, ConnectionError):
            if time.monotonic() - opened_at >= limit_s:
                return
        closed_after.append(time.monotonic() - opened_at)

    await asyncio.gather(*(wait_closed(r) for r, _ in conns))
    done.set()
    await normal
    for _, writer in conns:
        writer.close()
    # the server's count settles once our side of each socket is gone too
    deadline = time.monotonic() + 10
    fds_after = int(probe.sample()["fds"])
    while fds_after > fds_baseline and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        fds_after = int(probe.sample()["fds"])
    return IdleSocketsResult(
        sockets=sockets,
        opened=len(conns),
        closed_by_server=len(closed_after),
        last_closed_after_s=max(closed_after) if len(closed_after) == len(conns) else None,
        normal_requests=len(latencies),
        normal_failures=failures,
        normal_max_latency_ms=max(latencies) if latencies else float("nan"),
        fds_baseline=int(fds_baseline),
        fds_with_idle=fds_with_idle,
        fds_after=fds_after,
    )


# --------------------------------------------------------------------------------------------
# Slot lock-out


async def connect_from(ws_url: str, source: str, query: str = "", **kwargs: Any) -> Any:
    """A WebSocket listener whose connection comes from loopback address `source` (127.0.0.x)."""
    host, port = ws_url.removeprefix("ws://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    return await websockets.connect(
        f"{ws_url}/ws/stream{query}", sock=sock, compression=None, max_queue=256, open_timeout=20, **kwargs
    )


async def first_message(ws: Any, timeout: float = 20.0) -> tuple[str | None, int | None, str]:
    """(the first frame, close code, close reason): the frame None when the server closed first."""
    try:
        return await asyncio.wait_for(ws.recv(), timeout), None, ""
    except websockets.ConnectionClosed as exc:
        return None, exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else ""


@dataclass
class SlotLockoutResult:
    cap: int
    attempts: int
    accepted_first_address: int
    refused_first_address: int
    refusal_codes: list[int | None]
    refusal_reasons: list[str]
    second_address_connected: bool
    second_address_audio: int
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in vars(self).items()}
        d["refusal_codes"] = sorted(set(self.refusal_codes), key=str)
        d["refusal_reasons"] = sorted(set(self.refusal_reasons))
        return d


async def run_slot_lockout(
    srv: Any,
    *,
    cap: int,
    attempts: int,
    query: str = "",
    second_query: str | None = None,
    headers: dict[str, str] | None = None,
) -> SlotLockoutResult:
    """127.0.0.1 opens `attempts` listeners (with `query`) and keeps them; then 127.0.0.2 opens
    one (with `second_query`, by default the same), which must connect and receive audio."""
    started = time.monotonic()
    kwargs = {"additional_headers": headers or {}}
    held: list[Any] = []
    accepted = 0
    codes: list[int | None] = []
    reasons: list[str] = []
    try:
        for i in range(attempts):
            ws = await connect_from(srv.ws_url, "127.0.0.1", query, **kwargs)
            held.append(ws)
            frame, code, reason = await first_message(ws)
            if frame is not None:
                accepted += 1
            else:
                codes.append(code)
                reasons.append(reason)
        other = await connect_from(srv.ws_url, "127.0.0.2", query if second_query is None else second_query, **kwargs)
        held.append(other)
        frame, code, _ = await first_message(other)
        audio = 0
        if frame is not None:
            deadline = time.monotonic() + 20
            while audio < 3 and time.monotonic() < deadline:
                msg, code, _ = await first_message(other)
                if msg is None:
                    break
                audio += isinstance(msg, str) and msg.startswith('{"type":"audio"')
    finally:
        await asyncio.gather(*(ws.close() for ws in held), return_exceptions=True)
    return SlotLockoutResult(
        cap=cap,
        attempts=attempts,
        accepted_first_address=accepted,
        refused_first_address=len(codes),
        refusal_codes=codes,
        refusal_reasons=reasons,
        second_address_connected=frame is not None,
        second_address_audio=audio,
        seconds=time.monotonic() - started,
    )
