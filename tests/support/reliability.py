"""The reliability harness: real WebSocket listeners against a real server, and server probes.

Shared by the short CI runs (tests/integration/test_reliability_*.py) and the full runs
(scripts/reliability.py, scripts/soak.py), so both measure exactly the same thing:

- `generate_hostile_frames` / `run_fuzz`: hypothesis-generated malformed and hostile client
  frames, sent over a few real connections while their audio streams;
- `generate_hostile_queries` / `run_query_fuzz`: hostile `/ws/stream` query strings;
- `run_slow_consumer`: the chunk inter-arrival of reading listeners with and without one
  listener that stops reading;
- `run_churn`: connect / first chunk / disconnect cycles, then leaks (RSS, threads, fds);
- `run_soak`: many listeners for a long time that ping and report telemetry like the browser.

Everything runs on loopback, bounded in count and time. The server's process is measured with
psutil (`ServerProbe`); its own figures come from /api/status and /api/metrics.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import psutil
import websockets
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from auralis.music.params import MODES, PRESETS
from auralis.streaming.frames import unpack_frame

AUDIO_PREFIX = '{"type":"audio"'
_SEQ = re.compile(r'"seq":(\d+)')
CHUNK_S = 0.1


# --------------------------------------------------------------------------------------------
# Probes


class ServerProbe:
    """The server process as the OS sees it (psutil): RSS, threads, open file descriptors."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)

    def sample(self) -> dict[str, float]:
        with self.process.oneshot():
            return {
                "rss_mb": self.process.memory_info().rss / 2**20,
                "threads": self.process.num_threads(),
                "fds": self.process.num_fds(),
                "cpu_s": sum(self.process.cpu_times()[:2]),
            }


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation; nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


async def get_json(url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(url, headers=headers)
        r.raise_for_status()
        return r.json()


def underrun_timeline(logs: str) -> list[str]:
    """Each server underrun in a server's JSON log, with when it came (seconds since the server
    started serving), its listener, the lead it was raised to, and how many listeners had
    connected by then and how long before: what a report needs to tell a crowd's start
    transient from a stall later on."""
    start: float | None = None
    connected: dict[str, float] = {}  # client id -> when it connected, in log order
    out: list[str] = []
    for line in logs.splitlines():
        if not any(f'"event":"{e}"' in line for e in ("serve", "ws_connect", "server_underrun")):
            continue
        try:
            entry = json.loads(line)
            ts = datetime.fromisoformat(entry["ts"]).timestamp()
        except (ValueError, KeyError, TypeError):
            continue
        client = str(entry.get("client_id"))
        if entry.get("event") == "serve":
            start = ts
        elif entry.get("event") == "ws_connect":
            connected[client] = ts
        elif start is not None:
            opened = connected.get(client)
            age = f"{ts - opened:.2f} s after it connected" if opened is not None else "connect not logged"
            last = f", the last {ts - max(connected.values()):.2f} s before" if connected else ""
            out.append(f"t={ts - start:.2f} s: {client} ({age}), lead now {entry.get('lead_chunks')}, "
                       f"{len(connected)} listeners connected so far{last}")
    return out


# --------------------------------------------------------------------------------------------
# A listener


@dataclass
class StreamLog:
    """What one listener saw."""

    seqs: list[int] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() of each audio frame
    messages: Counter[str] = field(default_factory=Counter)  # non-audio messages by type
    errors: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    client_id: str | None = None
    last_rtt_ms: float | None = None  # from the latest pong, for the next ping (as the browser does)

    def gaps(self) -> int:
        return sum(1 for a, b in zip(self.seqs, self.seqs[1:]) if b != a + 1)

    def intervals_ms(self, since: float = -math.inf, until: float = math.inf) -> list[float]:
        """Inter-arrival times (ms) of audio frames that arrived in [since, until)."""
        times = [t for t in self.arrivals if since <= t < until]
        return [(b - a) * 1000.0 for a, b in zip(times, times[1:])]


def record(log: StreamLog, frame: str | bytes) -> None:
    now = time.monotonic()
    if isinstance(frame, bytes):  # a binary audio frame (format=pcm|opus): AUR2, seq at 16
        log.seqs.append(unpack_frame(frame).seq)
        log.arrivals.append(now)
        return
    if isinstance(frame, str) and frame.startswith(AUDIO_PREFIX):
        match = _SEQ.search(frame, 0, 64)
        log.seqs.append(int(match.group(1)) if match else -1)
        log.arrivals.append(now)
        return
    msg = json.loads(frame)
    kind = msg.get("type", "?")
    log.messages[kind] += 1
    if kind == "pong" and isinstance(msg.get("client_timestamp"), (int, float)):
        log.last_rtt_ms = max(0.0, (time.time() - msg["client_timestamp"]) * 1000.0)
    elif kind == "error":
        log.errors.append(msg)
    elif kind == "status":
        log.statuses.append(msg)
        if log.client_id is None:
            log.client_id = msg.get("client_id")


async def read_until(ws: Any, log: StreamLog, deadline: float) -> None:
    """Record frames until `deadline` (monotonic) or the connection closes.

    Bounded with `asyncio.timeout`, not `asyncio.wait_for`: Python 3.11's `wait_for` returns the
    inner result instead of raising when a cancellation arrives as a frame does, so a reader
    cancelled while frames stream in (every 100 ms here) could keep reading until `deadline`
    and its canceller's `gather` would hang (seen in CI: the slow-consumer test, 300 s)."""
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                async with asyncio.timeout(remaining):
                    frame = await ws.recv()
            except TimeoutError:
                return
            record(log, frame)
    except websockets.ConnectionClosed as exc:
        log.close_code = exc.rcvd.code if exc.rcvd else 1006
        log.close_reason = exc.rcvd.reason if exc.rcvd else ""


async def connect(ws_url: str, query: str = "", **kwargs: Any) -> Any:
    return await websockets.connect(
        f"{ws_url}/ws/stream{query}", compression=None, max_queue=256, open_timeout=20, **kwargs
    )


async def first_chunks(
    ws_url: str, query: str, n: int, on_audio: Callable[[Any, int], Awaitable[None]] | None = None
) -> tuple[list[dict[str, Any]], list[Any]]:
    """The text messages and the audio (dicts for json `audio`, `Frame`s for binary) of the first
    `n` chunks of one connection; `on_audio(ws, count)` runs after each audio chunk (to steer)."""
    texts: list[dict[str, Any]] = []
    audio: list[Any] = []
    async with await connect(ws_url, query) as ws:
        while len(audio) < n:
            msg = await asyncio.wait_for(ws.recv(), 20)
            if isinstance(msg, bytes):
                audio.append(unpack_frame(msg))
            else:
                m = json.loads(msg)
                (audio if m["type"] == "audio" else texts).append(m)
                if m["type"] != "audio":
                    continue
            if on_audio is not None:
                await on_audio(ws, len(audio))
    return texts, audio


async def fault_one_of(srv: Any, queries: list[str], fault_query: str, after: int) -> tuple[list[StreamLog], dict[str, Any]]:
    """Connect one listener per query, inject a fault (POST /debug/fault/ID`fault_query`) into the
    first once every listener has 10 chunks, and record until the first is closed and the others
    have `after` more chunks; returns the logs and /api/status then."""
    logs = [StreamLog() for _ in queries]
    conns = [await connect(srv.ws_url, q) for q in queries]
    end = time.monotonic() + 60
    tasks = [asyncio.create_task(read_until(ws, log, end)) for ws, log in zip(conns, logs)]
    while any(len(log.seqs) < 10 for log in logs):
        await asyncio.sleep(0.05)
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{srv.url}/debug/fault/{logs[0].client_id}{fault_query}")
        assert r.status_code == 202
        mark = [len(log.seqs) for log in logs]
        while logs[0].close_code is None or any(len(log.seqs) < m + after for log, m in zip(logs[1:], mark[1:])):
            await asyncio.sleep(0.05)
        status = (await client.get(f"{srv.url}/api/status")).json()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for ws in conns:
        await ws.close()
    return logs, status


# --------------------------------------------------------------------------------------------
# Fuzzing


_MSG_TYPES = ("update_params", "select_preset", "ping", "telemetry")
_FIELDS = ("preset", "timestamp", "rtt_ms", "played_seq", "played_at", "buffered_ms", "underruns", "params")
_EDGE_NUMBERS = (
    0, -1, 1, 39, 40, 40.0, 59, 60, 62, 71, 72, 89.999, 90, 90.0001, 0.5, 1.0, 1.0000001, -0.0,
    1e308, -1e308, 5e-324, 2**31, 2**53 + 1, 2**63, 2**64, -(2**63), 10**30, 10**400, -(10**400),
)
_EDGE_STRINGS = (
    "", " ", "dorian", "DORIAN", "aeolian ", "focus", "Focus", "sleep\x00", "../../etc/passwd",
    "<script>alert(1)</script>", "%s%s%n", "\u202e", "\ud800", "\udfff", "🎹" * 30, "null", "NaN",
    "1e309", "-Infinity", "update_params", *MODES, *PRESETS,
)


def _strategies() -> tuple[Any, Any]:
    strings = st.text(max_size=60) | st.sampled_from(_EDGE_STRINGS)
    numbers = (
        st.sampled_from(_EDGE_NUMBERS)
        | st.integers()
        | st.floats(allow_nan=True, allow_infinity=True)
    )
    scalars = st.none() | st.booleans() | numbers | strings
    values = st.recursive(
        scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(strings, c, max_size=4), max_leaves=10
    )
    return strings, numbers | scalars | values


_TEMPLATES: dict[str, dict[str, Any]] = {
    "update_params": {"type": "update_params", "params": {"key": 62, "mode": "dorian", "bpm": 70.0, "intensity": 0.6}},
    "select_preset": {"type": "select_preset", "preset": "focus"},
    "ping": {"type": "ping", "timestamp": 1764107400.0, "rtt_ms": 12.5},
    "telemetry": {
        "type": "telemetry", "played_seq": 0, "played_at": 1764107440.61, "buffered_ms": 240.0, "underruns": 0,
    },
}


def _encode(draw: Any, msg: Any) -> str:
    text = json.dumps(msg, allow_nan=True, ensure_ascii=draw(st.booleans()))
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate cannot travel raw in a text frame: escape it
        text = json.dumps(msg, allow_nan=True)
    return text


@st.composite
def hostile_frames(draw: Any) -> str | bytes:
    """One malformed or hostile client frame (text or binary)."""
    strings, anything = _strategies()
    kind = draw(st.integers(0, 12))
    if kind <= 3:  # protocol-shaped: a known (or near) type with fields of any shape
        msg: dict[str, Any] = {}
        if draw(st.integers(0, 9)):
            msg["type"] = draw(st.sampled_from(_MSG_TYPES) | strings | anything)
        if msg.get("type") == "update_params" or draw(st.booleans()):
            msg["params"] = draw(
                st.dictionaries(st.sampled_from(("key", "mode", "bpm", "intensity")) | strings, anything, max_size=5)
                | anything
            )
        for name in draw(st.lists(st.sampled_from(_FIELDS) | strings, max_size=6)):
            msg[name] = draw(anything)
        return _encode(draw, msg)
    if kind <= 6:  # a valid message with one field made hostile (or removed, or one added)
        msg = json.loads(json.dumps(_TEMPLATES[draw(st.sampled_from(_MSG_TYPES))]))
        target = msg["params"] if "params" in msg and draw(st.booleans()) else msg
        name = draw(st.sampled_from(sorted(target)) | strings)
        value = draw(st.sampled_from(_EDGE_NUMBERS) | anything)
        if draw(st.integers(0, 5)) == 0:
            target.pop(name, None)
        else:
            target[name] = value
        return _encode(draw, msg)
    if kind == 7:
        return _encode(draw, draw(anything))
    if kind == 8:
        return draw(st.text(max_size=300))
    if kind == 9:
        return draw(st.binary(max_size=300))
    if kind == 10:  # a valid message, cut or corrupted
        valid = json.dumps(_TEMPLATES[draw(st.sampled_from(_MSG_TYPES))])
        cut = draw(st.integers(0, len(valid)))
        return valid[:cut] + draw(st.text(max_size=5)) + valid[cut + draw(st.integers(0, 3)) :]
    if kind == 11:  # over the 4 KiB limit (still under the frame limit)
        size = draw(st.integers(4097, 65_536))
        return json.dumps({"type": "ping", "timestamp": 1.0, "pad": "x" * size})
    depth = draw(st.integers(10, 3000))  # deep nesting
    return "[" * depth + "]" * depth if draw(st.booleans()) else '{"a":' * depth + "1" + "}" * depth


def generate_hostile_frames(n: int, seed_value: int = 0) -> list[str | bytes]:
    """`n` frames from `hostile_frames`, generated by hypothesis in-process (deterministic per seed)."""
    frames: list[str | bytes] = []
    attempt = 0
    while len(frames) < n:

        @settings(
            max_examples=n - len(frames),
            database=None,
            phases=[Phase.generate],
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @seed(seed_value + attempt)
        @given(hostile_frames())
        def collect(frame: str | bytes) -> None:
            frames.append(frame)

        collect()
        attempt += 1
    return frames[:n]


def is_telemetry(frame: str | bytes) -> bool:
    """Valid telemetry gets no reply; anything else gets exactly one (error, pong or params)."""
    try:
        msg = json.loads(frame)
    except (ValueError, RecursionError, TypeError):
        return False
    return isinstance(msg, dict) and msg.get("type") == "telemetry"


@dataclass
class FuzzResult:
    frames_sent: int
    connections: int
    seconds: float
    replies: Counter[str]
    error_codes: Counter[str]
    unanswered_non_telemetry: int
    gaps: int
    closed: list[int | None]
    chunks_after: list[int]
    server_alive: bool
    error_log_lines: list[str]
    suspects: list[str]

    @property
    def ok(self) -> bool:
        return (
            self.server_alive
            and not self.error_log_lines
            and self.gaps == 0
            and all(c is None for c in self.closed)
            and min(self.chunks_after, default=0) >= 10
            and self.unanswered_non_telemetry == 0
            and set(self.error_codes) <= {"INVALID_MESSAGE"}
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames_sent": self.frames_sent,
            "connections": self.connections,
            "seconds": round(self.seconds, 1),
            "replies": dict(self.replies),
            "error_codes": dict(self.error_codes),
            "unanswered_non_telemetry": self.unanswered_non_telemetry,
            "seq_gaps": self.gaps,
            "closed": self.closed,
            "min_chunks_after_fuzz": min(self.chunks_after, default=0),
            "server_alive": self.server_alive,
            "error_log_lines": len(self.error_log_lines),
            "suspects": self.suspects,
            "ok": self.ok,
        }


async def run_fuzz(
    srv: Any, frames: list[str | bytes], *, connections: int = 5, per_conn_rate: float = 400.0
) -> FuzzResult:
    """Send `frames` round-robin over `connections` streaming listeners, then check every stream
    goes on: no close, no seq gap, >= 10 chunks after the last frame, every non-telemetry frame
    answered, no server error in its log."""
    log_offset = len(srv.logs())
    shares = [frames[i::connections] for i in range(connections)]
    suspects: list[str] = []
    started = time.monotonic()

    async def one(share: list[str | bytes], i: int) -> tuple[StreamLog, int, int]:
        log = StreamLog()
        async with await connect(srv.ws_url, f"?seed={1000 + i}") as ws:
            reader = asyncio.create_task(read_until(ws, log, time.monotonic() + 3600))
            gap = 1.0 / per_conn_rate
            sent: list[str | bytes] = []
            try:
                for frame in share:
                    await ws.send(frame)
                    sent.append(frame)
                    await asyncio.sleep(gap)
                    if log.close_code is not None:
                        break
            except websockets.ConnectionClosed:
                pass
            if log.close_code is not None or len(sent) < len(share):
                suspects.append(f"connection {i} closed after {len(sent)} frames; last sent: {sent[-3:]!r}"[:2000])
            expected = sum(1 for f in sent if not is_telemetry(f))
            # the replies settle, then the stream must keep going
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and _answered(log) < expected and log.close_code is None:
                await asyncio.sleep(0.1)
            seq_at_end = log.seqs[-1] if log.seqs else -1
            await asyncio.sleep(1.5)
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        after = sum(1 for s in log.seqs if s > seq_at_end)
        return log, max(0, expected - _answered(log)), after

    results = await asyncio.gather(*(one(share, i) for i, share in enumerate(shares)))
    seconds = time.monotonic() - started
    logs = [log for log, _, _ in results]
    replies: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    for log in logs:
        replies.update(log.messages)
        codes.update(e.get("code", "?") for e in log.errors)
    alive = srv.process.poll() is None
    new_log = srv.logs()[log_offset:]
    bad_lines = [line for line in new_log.splitlines() if _is_error_line(line)]
    return FuzzResult(
        frames_sent=len(frames),
        connections=connections,
        seconds=seconds,
        replies=replies,
        error_codes=codes,
        unanswered_non_telemetry=sum(u for _, u, _ in results),
        gaps=sum(log.gaps() for log in logs),
        closed=[log.close_code for log in logs],
        chunks_after=[after for _, _, after in results],
        server_alive=alive,
        error_log_lines=bad_lines,
        suspects=suspects,
    )


def _answered(log: StreamLog) -> int:
    return log.messages["error"] + log.messages["pong"] + log.messages["params"]


def _is_error_line(line: str) -> bool:
    try:
        rec = json.loads(line)
    except ValueError:
        return "Traceback" in line
    return rec.get("level") in ("error", "critical") or "exc" in rec


#: Handshake request lines stay under websockets' 8 KiB line limit: uvicorn's websockets-sansio
#: protocol leaves a longer one unanswered (docs/reliability.md, known limits).
MAX_QUERY_CHARS = 7000
_QUERY_NAMES = ("key", "mode", "bpm", "intensity", "preset", "seed", "format")
_QUERY_EDGES = (
    "", " ", "60", " 60", "60.0", "6e1", "0x3c", "-0", "nan", "NaN", "inf", "-inf", "1e400", "1" * 400,
    "9" * 3000, "-1", "72", "40", "90.5", "0.5", "1.5", "dorian", "DORIAN", "focus", "json", "pcm", "opus", "OPUS", "mp3", "binary", "\x00",
    "%00", "../", "2147483648", "9223372036854775807", "9223372036854775808",
)


@st.composite
def hostile_queries(draw: Any) -> str:
    """A query string for /ws/stream with known and unknown names and hostile values."""
    strings, _ = _strategies()
    names = st.sampled_from(_QUERY_NAMES) | strings
    values = st.sampled_from(_QUERY_EDGES) | st.text(max_size=40) | st.integers().map(str) | st.floats().map(str)
    pairs = draw(st.lists(st.tuples(names, values), min_size=1, max_size=5))
    # lone surrogates become invalid UTF-8 percent-escapes: hostile too
    query = urlencode(pairs, quote_via=quote, errors="surrogatepass")
    while len(query) > MAX_QUERY_CHARS and len(pairs) > 1:  # see MAX_QUERY_CHARS
        pairs.pop()
        query = urlencode(pairs, quote_via=quote, errors="surrogatepass")
    return query[:MAX_QUERY_CHARS]


def generate_hostile_queries(n: int, seed_value: int = 0) -> list[str]:
    out: list[str] = []

    @settings(max_examples=n, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @seed(seed_value)
    @given(hostile_queries())
    def collect(q: str) -> None:
        out.append(q)

    while len(out) < n:
        collect()
    return out[:n]


@dataclass
class QueryFuzzResult:
    queries: int
    streamed: int
    refused_1008: int
    failures: list[str]
    error_log_lines: list[str]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.error_log_lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "streamed": self.streamed,
            "refused_1008_naming_the_parameter": self.refused_1008,
            "failures": self.failures[:10],
            "error_log_lines": len(self.error_log_lines),
            "ok": self.ok,
        }


async def run_query_fuzz(srv: Any, queries: list[str], *, concurrency: int = 4) -> QueryFuzzResult:
    """Each hostile query either streams (status connected, then audio seq 0) or is closed with
    1008 and a reason that names a parameter; anything else is a failure."""
    log_offset = len(srv.logs())
    streamed = refused = 0
    failures: list[str] = []
    todo = iter(queries)

    async def one(q: str) -> None:
        nonlocal streamed, refused
        log = StreamLog()
        try:
            async with await connect(srv.ws_url, "?" + q) as ws:
                deadline = time.monotonic() + 15
                while not log.seqs and log.close_code is None and time.monotonic() < deadline:
                    await read_until(ws, log, min(deadline, time.monotonic() + 1))
        except Exception as exc:  # the handshake itself failed
            failures.append(f"?{q[:200]}: {exc!r}"[:400])
            return
        if log.close_code == 1008 and any(n in log.close_reason for n in _QUERY_NAMES):
            refused += 1
        elif log.close_code is None and log.seqs[:1] == [0] and log.statuses[0].get("state") == "connected":
            streamed += 1
        else:
            failures.append(f"?{q[:200]}: close {log.close_code} {log.close_reason!r}, seqs {log.seqs[:2]}")

    async def worker() -> None:
        for q in todo:
            await one(q)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    bad_lines = [line for line in srv.logs()[log_offset:].splitlines() if _is_error_line(line)]
    return QueryFuzzResult(len(queries), streamed, refused, failures, bad_lines)


# --------------------------------------------------------------------------------------------
# Slow consumer


def non_reading_socket(port: int, rcvbuf: int = 4096) -> socket.socket:
    """A connected TCP socket with a small receive buffer, for a client that will stop reading."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    return sock


@dataclass
class SlowConsumerResult:
    readers: int
    phase_s: float
    p99_without_ms: float
    p99_with_ms: float
    p50_without_ms: float
    p50_with_ms: float
    gaps: int
    reader_drops: int
    slow_dropped_after_s: float | None
    rss_before_mb: float
    rss_max_with_mb: float
    server_underruns: int

    @property
    def ratio(self) -> float:
        return self.p99_with_ms / self.p99_without_ms

    def as_dict(self) -> dict[str, Any]:
        d = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in vars(self).items()}
        d["p99_ratio"] = round(self.ratio, 3)
        d["rss_growth_with_mb"] = round(self.rss_max_with_mb - self.rss_before_mb, 2)
        return d


async def run_slow_consumer(
    srv: Any, *, readers: int = 19, phase_s: float = 20.0, warmup_s: float = 3.0
) -> SlowConsumerResult:
    """`readers` listeners stream throughout. Phase A: one more listener that reads (20 in all).
    Phase B: that listener is replaced by one that stops reading. The readers' p99 chunk
    inter-arrival in B is compared with A; the server's RSS is sampled through B; the slow
    listener must be dropped by the server."""
    probe = ServerProbe(srv.process.pid)
    logs = [StreamLog() for _ in range(readers)]
    stop = time.monotonic() + 3600
    conns = [await connect(srv.ws_url, f"?seed={2000 + i}") for i in range(readers)]
    tasks = [asyncio.create_task(read_until(ws, log, stop)) for ws, log in zip(conns, logs)]
    try:
        # phase A: a 20th listener that reads
        extra_log = StreamLog()
        extra = await connect(srv.ws_url, "?seed=2999")
        extra_task = asyncio.create_task(read_until(extra, extra_log, stop))
        await asyncio.sleep(warmup_s)
        a0 = time.monotonic()
        await asyncio.sleep(phase_s)
        a1 = time.monotonic()
        extra_task.cancel()
        await asyncio.gather(extra_task, return_exceptions=True)
        await extra.close()
        await _wait_connections(srv, readers)

        # phase B: a 20th listener that stops reading after its first frames
        rss_before = probe.sample()["rss_mb"]
        sock = non_reading_socket(srv.port)
        slow = await websockets.connect(
            f"{srv.ws_url}/ws/stream?seed=3999", sock=sock, compression=None, max_queue=1, open_timeout=20
        )
        first = json.loads(await asyncio.wait_for(slow.recv(), 20))  # then it never reads again
        assert first.get("state") == "connected", first
        b0 = time.monotonic()
        rss_max = rss_before
        dropped_after = None
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() < b0 + phase_s or (dropped_after is None and time.monotonic() < b0 + 120):
                await asyncio.sleep(0.5)
                rss_max = max(rss_max, probe.sample()["rss_mb"])
                if dropped_after is None:
                    status = (await client.get(f"{srv.url}/api/status")).json()
                    if status["active_connections"] <= readers:
                        dropped_after = time.monotonic() - b0
        b1 = b0 + phase_s
        slow.transport.abort()
        metrics = await get_json(f"{srv.url}/api/metrics")
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # together: each close is bounded by websockets' close_timeout, one after another they add up
        await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
    without = [x for log in logs for x in log.intervals_ms(a0, a1)]
    with_slow = [x for log in logs for x in log.intervals_ms(b0, b1)]
    return SlowConsumerResult(
        readers=readers,
        phase_s=phase_s,
        p99_without_ms=percentile(without, 99),
        p99_with_ms=percentile(with_slow, 99),
        p50_without_ms=percentile(without, 50),
        p50_with_ms=percentile(with_slow, 50),
        gaps=sum(log.gaps() for log in logs),
        reader_drops=sum(1 for log in logs if log.close_code is not None),
        slow_dropped_after_s=dropped_after,
        rss_before_mb=rss_before,
        rss_max_with_mb=rss_max,
        server_underruns=metrics["buffer_underruns"],
    )


async def _wait_connections(srv: Any, count: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            active = (await client.get(f"{srv.url}/api/status")).json()["active_connections"]
            if active == count or time.monotonic() > deadline:
                return active
            await asyncio.sleep(0.05)


# --------------------------------------------------------------------------------------------
# Churn


@dataclass
class ChurnResult:
    cycles: int
    seconds: float
    failures: int
    aborted: int
    checkpoints: list[dict[str, float]]  # after warm-up, then every `every` cycles, each at rest
    active_after: int
    disconnects_counted: int

    @property
    def baseline(self) -> dict[str, float]:
        return self.checkpoints[0]

    @property
    def after(self) -> dict[str, float]:
        return self.checkpoints[-1]

    def rss_growth_mb(self) -> float:
        """Median RSS of the last third of the checkpoints minus that of the first third: the
        allocator's free lists make single RSS readings wander by several MB either way."""
        rss = [c["rss_mb"] for c in self.checkpoints]
        k = max(1, len(rss) // 3)
        return statistics.median(rss[-k:]) - statistics.median(rss[:k])

    def rss_slope_mb_per_1000(self) -> float:
        if len(self.checkpoints) < 3:
            return math.nan
        xs = [c["cycle"] for c in self.checkpoints]
        ys = [c["rss_mb"] for c in self.checkpoints]
        return statistics.linear_regression(xs, ys).slope * 1000

    def as_dict(self) -> dict[str, Any]:
        return {
            "cycles": self.cycles,
            "seconds": round(self.seconds, 1),
            "cycles_per_s": round(self.cycles / self.seconds, 1),
            "failures": self.failures,
            "aborted_without_close": self.aborted,
            "rss_first_checkpoint_mb": round(self.baseline["rss_mb"], 2),
            "rss_last_checkpoint_mb": round(self.after["rss_mb"], 2),
            "rss_max_checkpoint_mb": round(max(c["rss_mb"] for c in self.checkpoints), 2),
            "rss_growth_mb": round(self.rss_growth_mb(), 2),
            "rss_slope_mb_per_1000_cycles": round(self.rss_slope_mb_per_1000(), 2),
            "threads": [self.baseline["threads"], self.after["threads"], max(c["threads"] for c in self.checkpoints)],
            "fds": [self.baseline["fds"], self.after["fds"], max(c["fds"] for c in self.checkpoints)],
            "active_after": self.active_after,
            "disconnects_counted": self.disconnects_counted,
        }


async def run_churn(
    srv: Any, *, cycles: int = 2000, concurrency: int = 8, warmup: int = 200, every: int = 100
) -> ChurnResult:
    """`warmup` cycles, then `cycles` more: connect, take the first audio chunk, disconnect (every
    4th by cutting TCP without a close frame). The server is measured at rest (0 listeners) after
    the warm-up and after every `every` cycles."""
    probe = ServerProbe(srv.process.pid)
    failures = aborted = 0

    async def cycle(i: int) -> None:
        nonlocal failures, aborted
        try:
            ws = await connect(srv.ws_url, f"?seed={i}")
            log = StreamLog()
            deadline = time.monotonic() + 20
            while not log.seqs and log.close_code is None and time.monotonic() < deadline:
                await read_until(ws, log, min(deadline, time.monotonic() + 1))
            if not log.seqs or log.seqs[0] != 0:
                failures += 1
            if i % 4 == 3:
                ws.transport.abort()
                aborted += 1
            else:
                await ws.close()
        except Exception:
            failures += 1

    async def run(n: int, offset: int) -> None:
        todo = iter(range(offset, offset + n))

        async def worker() -> None:
            for i in todo:
                await cycle(i)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def at_rest(cycle_no: int) -> dict[str, float]:
        await _wait_connections(srv, 0)
        await asyncio.sleep(0.5)
        return {"cycle": cycle_no, **probe.sample()}

    await run(warmup, 0)
    failures = aborted = 0
    checkpoints = [await at_rest(0)]
    disconnects0 = (await get_json(f"{srv.url}/api/metrics"))["disconnects"]
    started = time.monotonic()
    done = 0
    while done < cycles:
        n = min(every, cycles - done)
        await run(n, warmup + done)
        done += n
        checkpoints.append(await at_rest(done))
    seconds = time.monotonic() - started
    active = await _wait_connections(srv, 0)
    disconnects = (await get_json(f"{srv.url}/api/metrics"))["disconnects"] - disconnects0
    return ChurnResult(cycles, seconds, failures, aborted, checkpoints, active, disconnects)


# --------------------------------------------------------------------------------------------
# Soak


@dataclass
class SoakResult:
    clients: int
    seconds: float
    samples: list[dict[str, float]]
    chunks: list[int]
    gaps: int
    closes: list[int | None]
    buffering_events: int
    server_underruns: int
    metrics: dict[str, Any]
    warmup_s: float

    def rss_growth_mb(self) -> float:
        steady = [s for s in self.samples if s["t"] >= self.warmup_s]
        return steady[-1]["rss_mb"] - steady[0]["rss_mb"] if len(steady) >= 2 else math.nan

    def rss_slope_mb_per_h(self) -> float:
        steady = [s for s in self.samples if s["t"] >= self.warmup_s]
        if len(steady) < 3:
            return math.nan
        ts = [s["t"] for s in steady]
        rs = [s["rss_mb"] for s in steady]
        return statistics.linear_regression(ts, rs).slope * 3600

    def as_dict(self) -> dict[str, Any]:
        expected = self.seconds / CHUNK_S
        return {
            "clients": self.clients,
            "seconds": round(self.seconds, 1),
            "warmup_s": self.warmup_s,
            "rss_start_mb": round(self.samples[0]["rss_mb"], 2),
            "rss_after_warmup_mb": round(next(s["rss_mb"] for s in self.samples if s["t"] >= self.warmup_s), 2),
            "rss_end_mb": round(self.samples[-1]["rss_mb"], 2),
            "rss_max_mb": round(max(s["rss_mb"] for s in self.samples), 2),
            "rss_growth_after_warmup_mb": round(self.rss_growth_mb(), 2),
            "rss_slope_mb_per_h": round(self.rss_slope_mb_per_h(), 2),
            "threads": [self.samples[0]["threads"], self.samples[-1]["threads"]],
            "fds": [self.samples[0]["fds"], self.samples[-1]["fds"]],
            "server_cpu_percent": round(
                100 * (self.samples[-1]["cpu_s"] - self.samples[0]["cpu_s"]) / max(1e-9, self.samples[-1]["t"] - self.samples[0]["t"]), 1
            ),
            "chunks_min": min(self.chunks),
            "chunks_expected": round(expected),
            "seq_gaps": self.gaps,
            "closes": self.closes,
            "buffering_events": self.buffering_events,
            "server_underruns": self.server_underruns,
            "synthesis_latency_ms": self.metrics["synthesis_latency_ms"],
            "end_to_end_latency_ms": self.metrics["end_to_end_latency_ms"],
            "network_latency_ms": self.metrics["network_latency_ms"],
            "disconnects": self.metrics["disconnects"],
        }


async def run_soak(
    srv: Any,
    *,
    clients: int = 20,
    seconds: float = 1800.0,
    sample_every_s: float = 10.0,
    warmup_s: float = 60.0,
    progress: Any = None,
    others_after_s: float = 0.0,
) -> SoakResult:
    """`clients` listeners for `seconds`, each pinging every 5 s and sending telemetry every
    second like the browser; the server's RSS, threads and fds sampled every `sample_every_s`.
    With `others_after_s`, the first listener connects alone and the others together that many
    seconds later (a crowd arriving while a lone listener plays)."""
    probe = ServerProbe(srv.process.pid)
    t0 = time.monotonic()
    end = t0 + seconds
    logs = [StreamLog() for _ in range(clients)]
    samples: list[dict[str, float]] = []

    async def listener(i: int, log: StreamLog) -> None:
        if i and others_after_s:
            await asyncio.sleep(others_after_s)
        async with await connect(srv.ws_url, f"?seed={5000 + i}") as ws:
            reader = asyncio.create_task(read_until(ws, log, end))
            next_ping = time.monotonic()
            while not reader.done():
                now = time.monotonic()
                try:
                    if now >= next_ping:
                        ping: dict[str, Any] = {"type": "ping", "timestamp": time.time()}
                        if log.last_rtt_ms is not None:
                            ping["rtt_ms"] = round(log.last_rtt_ms, 3)
                        await ws.send(json.dumps(ping))
                        next_ping = now + 5.0
                    if log.seqs:
                        await ws.send(
                            json.dumps(
                                {
                                    "type": "telemetry",
                                    "played_seq": log.seqs[-1],
                                    # the last chunk received plays now: a report the server can check
                                    # (one that claims a future play time is dropped as inconsistent)
                                    "played_at": time.time(),
                                    "buffered_ms": 200.0,
                                    "underruns": 0,
                                    "timestamp": time.time(),
                                }
                            )
                        )
                except websockets.ConnectionClosed:
                    break
                await asyncio.wait({reader}, timeout=1.0)
            await reader

    async def sampler() -> None:
        while True:
            now = time.monotonic()
            samples.append({"t": now - t0, **probe.sample()})
            if progress is not None:
                progress(samples[-1], logs)
            if now >= end:
                return
            await asyncio.sleep(min(sample_every_s, max(0.0, end - now)))

    await asyncio.gather(sampler(), *(listener(i, log) for i, log in enumerate(logs)))
    metrics = await get_json(f"{srv.url}/api/metrics")
    return SoakResult(
        clients=clients,
        seconds=time.monotonic() - t0,
        samples=samples,
        chunks=[len(log.seqs) for log in logs],
        gaps=sum(log.gaps() for log in logs),
        closes=[log.close_code for log in logs],
        buffering_events=sum(1 for log in logs for s in log.statuses if s.get("state") == "buffering"),
        server_underruns=metrics["buffer_underruns"],
        metrics=metrics,
        warmup_s=warmup_s,
    )
