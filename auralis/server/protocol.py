"""The streaming protocol's wire format (websocket-protocol.md, version 2): parsing and building
the JSON messages. Audio frames (json ``audio`` text and binary AUR2) are built once per chunk by
the stream's encoder (auralis.streaming.encoders, auralis.streaming.frames).

Pure functions: every client input is validated here, completely, before a session acts on it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from starlette import status

from auralis.monitoring.clock import MAX_RTT_MS
from auralis.music.params import PRESETS, MusicParams
from auralis.streaming.encoders import FORMATS

PROTOCOL_VERSION = 2
MAX_CLIENT_MESSAGE_BYTES = 4096
#: Integers longer than this (beyond 64 bits) are refused before anything converts them to
#: float, which would raise OverflowError instead of a clear error.
MAX_INT_DIGITS = 19
#: Seeds are integers in [0, 2**63) so that they survive JSON in any client.
MAX_SEED = 2**63 - 1

# Close codes: Starlette's names (RFC 6455 and the IANA registry), under the protocol's names.
CLOSE_GOING_AWAY = status.WS_1001_GOING_AWAY
CLOSE_POLICY = status.WS_1008_POLICY_VIOLATION
CLOSE_SERVER_ERROR = status.WS_1011_INTERNAL_ERROR
CLOSE_TRY_AGAIN_LATER = status.WS_1013_TRY_AGAIN_LATER

ERROR_CODES = (
    "SOUNDFONT_LOAD_FAILED",
    "SYNTHESIS_TIMEOUT",
    "BUFFER_OVERFLOW",
    "GPU_NOT_AVAILABLE",
    "INTERNAL_ERROR",
    "INVALID_MESSAGE",
    "RATE_LIMITED",
    "UNAUTHORIZED",
)


class ProtocolError(ValueError):
    """A client input is refused; the message is safe to send back and names the field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# --------------------------------------------------------------------------------------------
# Query parameters


@dataclass(frozen=True, slots=True)
class StreamRequest:
    params: MusicParams
    preset: str | None
    seed: int | None
    format: str = "json"  # json | pcm | opus (auralis.streaming.encoders.FORMATS)
    station: str | None = None  # a shared station's name (checked against the stations by the app)


#: Query parameters that steer a personal stream; a station connection may not carry them.
PERSONAL_ONLY = ("key", "mode", "bpm", "intensity", "palette", "preset", "seed")


def _query_number(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ProtocolError(f"{name} must be a number, got {raw!r}", name) from None
    if not math.isfinite(value):
        raise ProtocolError(f"{name} must be a finite number, got {raw!r}", name)
    return value


def _query_int(name: str, raw: str) -> int:
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise ProtocolError(f"{name} must be an integer, got {raw[:40]!r}", name) from None
    if _too_many_digits(raw):
        raise ProtocolError(f"{name} is out of range, got {raw[:40]!r}", name)
    return value


def parse_stream_query(query: dict[str, str]) -> StreamRequest:
    """The initial parameters, preset and seed of `GET /ws/stream?...`; ProtocolError naming the
    parameter otherwise. The preset applies first (it keeps the key); explicit values win."""
    fmt = query.get("format", "json")
    if fmt not in FORMATS:
        raise ProtocolError(f"format must be one of {', '.join(FORMATS)}, got {fmt[:40]!r}", "format")
    if "station" in query:
        for name in PERSONAL_ONLY:
            if name in query:
                raise ProtocolError(f"{name} cannot be combined with station: a station is set by its operator", name)
        return StreamRequest(params=MusicParams(), preset=None, seed=None, format=fmt, station=query["station"])
    changes: dict[str, Any] = {}
    if "key" in query:
        changes["key"] = _query_int("key", query["key"])
    for name in ("mode", "palette"):
        if name in query:
            changes[name] = query[name]
    for name in ("bpm", "intensity"):
        if name in query:
            changes[name] = _query_number(name, query[name])
    preset = query.get("preset")
    if preset is not None and preset not in PRESETS:
        raise ProtocolError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}", "preset")
    seed = None
    if "seed" in query:
        seed = _query_int("seed", query["seed"])
        if not 0 <= seed <= MAX_SEED:
            raise ProtocolError(f"seed must be between 0 and {MAX_SEED}, got {seed}", "seed")
    params = MusicParams()
    try:
        if "key" in changes:
            params = params.with_changes(key=changes.pop("key"))
        if preset is not None:
            params = params.with_preset(preset)
        params = params.with_changes(**changes)
    except ValueError as exc:
        raise ProtocolError(str(exc), str(exc).split(" ", 1)[0]) from None
    if preset is not None and not matches_preset(params, preset):
        preset = None
    return StreamRequest(params=params, preset=preset, seed=seed, format=fmt)


def matches_preset(params: MusicParams, preset: str) -> bool:
    values = PRESETS[preset]
    return all(getattr(params, k) == v for k, v in values.items())


# --------------------------------------------------------------------------------------------
# Client messages


@dataclass(frozen=True, slots=True)
class UpdateParams:
    changes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SelectPreset:
    preset: str


@dataclass(frozen=True, slots=True)
class Ping:
    timestamp: float
    rtt_ms: float | None  # extension: the client's round trip of its previous ping


@dataclass(frozen=True, slots=True)
class Telemetry:
    played_seq: int | None
    played_at: float | None
    buffered_ms: float | None
    underruns: int | None
    timestamp: float | None


@dataclass(frozen=True, slots=True)
class Reauth:
    """Extension: a fresh bearer token for this connection (production), before the current expires."""

    token: str = field(repr=False)


ClientMessage = UpdateParams | SelectPreset | Ping | Telemetry | Reauth

_PARAM_FIELDS = ("key", "mode", "bpm", "intensity", "palette")


def _number(
    msg: dict[str, Any], name: str, *, required: bool, minimum: float | None = None, maximum: float | None = None
) -> float | None:
    if name not in msg or (msg[name] is None and not required):
        if required:
            raise ProtocolError(f"{name} is required", name)
        return None
    value = msg[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProtocolError(f"{name} must be a finite number, got {value!r}", name)
    if minimum is not None and value < minimum:
        raise ProtocolError(f"{name} must be at least {minimum:g}, got {value!r}", name)
    if maximum is not None and value > maximum:
        raise ProtocolError(f"{name} must be at most {maximum:g}, got {value!r}", name)
    return float(value)


def _integer(msg: dict[str, Any], name: str) -> int | None:
    if name not in msg or msg[name] is None:
        return None
    value = msg[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError(f"{name} must be a non-negative integer, got {value!r}", name)
    return value


def _too_many_digits(literal: str) -> bool:
    return len(literal.strip().lstrip("+-")) > MAX_INT_DIGITS


def _json_int(literal: str) -> int:
    if _too_many_digits(literal):
        raise ProtocolError(f"integer {literal[:24]}... is out of range (at most {MAX_INT_DIGITS} digits)", None)
    return int(literal)


def parse_client_message(text: str | bytes | None) -> ClientMessage:
    """Parse and validate one client frame, completely; ProtocolError otherwise."""
    if not isinstance(text, str):
        raise ProtocolError("binary frames are not accepted; send JSON text", None)
    if len(text) > MAX_CLIENT_MESSAGE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_CLIENT_MESSAGE_BYTES:
        raise ProtocolError(f"message larger than {MAX_CLIENT_MESSAGE_BYTES} bytes", None)
    try:
        msg = json.loads(text, parse_int=_json_int)
    except ProtocolError:
        raise
    except (ValueError, RecursionError):
        raise ProtocolError("message is not valid JSON", None) from None
    if not isinstance(msg, dict):
        raise ProtocolError("message must be a JSON object", None)
    kind = msg.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("message has no string 'type'", "type")
    if kind == "update_params":
        params = msg.get("params")
        if not isinstance(params, dict):
            raise ProtocolError("params must be an object with key, mode, bpm, intensity and/or palette", "params")
        for name in params:
            if name not in _PARAM_FIELDS:
                raise ProtocolError(
                    f"unknown parameter {str(name)[:40]!r}; allowed: {', '.join(_PARAM_FIELDS)}", str(name)[:40]
                )
        try:  # validate every field now; applying happens on the session's current values
            MusicParams().with_changes(**params)
        except ValueError as exc:
            raise ProtocolError(str(exc), str(exc).split(" ", 1)[0]) from None
        return UpdateParams(changes=dict(params))
    if kind == "select_preset":
        preset = msg.get("preset")
        if not isinstance(preset, str) or preset not in PRESETS:
            shown = repr(preset)[:40]
            raise ProtocolError(f"preset must be one of {', '.join(PRESETS)}, got {shown}", "preset")
        return SelectPreset(preset=preset)
    if kind == "ping":
        return Ping(
            timestamp=_number(msg, "timestamp", required=True),  # type: ignore[arg-type]
            rtt_ms=_number(msg, "rtt_ms", required=False, minimum=0.0, maximum=MAX_RTT_MS),
        )
    if kind == "telemetry":
        played_seq = _integer(msg, "played_seq")
        played_at = _number(msg, "played_at", required=False)
        if (played_seq is None) != (played_at is None):
            field = "played_at" if played_at is None else "played_seq"
            raise ProtocolError("played_seq and played_at go together", field)
        return Telemetry(
            played_seq=played_seq,
            played_at=played_at,
            buffered_ms=_number(msg, "buffered_ms", required=False, minimum=0.0),
            underruns=_integer(msg, "underruns"),
            timestamp=_number(msg, "timestamp", required=False),
        )
    if kind == "reauth":
        token = msg.get("token")
        if not isinstance(token, str) or not token.strip():
            raise ProtocolError("token must be a non-empty string (a bearer JWT)", "token")
        return Reauth(token=token.strip())
    raise ProtocolError(f"unknown message type {kind[:40]!r}", "type")


# --------------------------------------------------------------------------------------------
# Server messages


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def status_message(state: str, message: str, buffer_depth: int, **extra: Any) -> str:
    if state not in ("connected", "buffering", "disconnected", "error"):
        raise ValueError(f"unknown status state {state!r}")
    return _dump(
        {"type": "status", "state": state, "message": message, "buffer_depth": buffer_depth,
         "timestamp": time.time(), **extra}
    )


def error_message(code: str, message: str, *, recoverable: bool) -> str:
    if code not in ERROR_CODES:
        raise ValueError(f"unknown error code {code!r}")
    return _dump(
        {"type": "error", "code": code, "message": message, "recoverable": recoverable, "timestamp": time.time()}
    )


def auth_message(expires_at: float) -> str:
    """Extension: the answer to an accepted `reauth`; the connection's token now expires at
    `expires_at` (Unix seconds)."""
    return _dump({"type": "auth", "expires_at": expires_at, "timestamp": time.time()})


def pong_message(client_timestamp: float, server_timestamp: float) -> str:
    return _dump({"type": "pong", "client_timestamp": client_timestamp, "server_timestamp": server_timestamp})


def params_message(params: MusicParams, preset: str | None, effective_seq: int) -> str:
    return _dump(
        {"type": "params", "params": params.as_dict(), "preset": preset, "effective_seq": effective_seq,
         "timestamp": time.time()}
    )


def now_message(seq: int, chord: str | None, section: int, params: MusicParams) -> str:
    """With a binary format: the music from chunk ``seq`` on (sent when any of it changes)."""
    return _dump(
        {"type": "now", "seq": seq, "chord": chord, "section": section, "params": params.as_dict(),
         "timestamp": time.time()}
    )
