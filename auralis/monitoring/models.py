"""Response schemas of `/api/status` and `/api/metrics`, field for field as the HTTP contract shows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema


def iso_utc_ms(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and Z, e.g. 2025-12-28T13:45:23.123Z."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def utc_now() -> datetime:
    return datetime.now(UTC)


Timestamp = Annotated[
    datetime,
    PlainSerializer(iso_utc_ms, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 UTC with milliseconds and Z",
            "examples": ["2025-12-28T13:45:23.123Z"],
        }
    ),
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SystemStatus(_Frozen):
    uptime_sec: float = Field(description="Seconds since the server process started")
    active_connections: int = Field(ge=0, description="Open WebSocket connections")
    buffer_depth: int = Field(
        ge=0, description="Lowest ring-buffer depth (chunks ready) among active streams; 0 if none"
    )
    device: str = Field(description='Device doing the synthesis work ("CPU": FluidSynth)')
    soundfont_loaded: bool = Field(description="The SoundFont is loaded and validated")
    synthesis_active: bool = Field(
        description="At least one listener stream is rendering and none of the engine has failed"
    )
    timestamp: Timestamp


class LatencyHistogram(_Frozen):
    avg: float = Field(description="Mean, milliseconds")
    p50: float = Field(description="Median, milliseconds")
    p95: float = Field(description="95th percentile, milliseconds")
    p99: float = Field(description="99th percentile, milliseconds")
    samples: int = Field(ge=0, description="Samples in the rolling window")


class GCStats(_Frozen):
    gen0: int = Field(ge=0)
    gen1: int = Field(ge=0)
    gen2: int = Field(ge=0)


class PerformanceMetrics(_Frozen):
    synthesis_latency_ms: LatencyHistogram
    network_latency_ms: LatencyHistogram
    end_to_end_latency_ms: LatencyHistogram
    buffer_underruns: int = Field(ge=0, description="Server underruns plus client-reported ones")
    buffer_overflows: int = Field(ge=0, description="Ring-buffer full events")
    disconnects: int = Field(ge=0, description="WebSocket disconnections since startup")
    memory_usage_mb: float = Field(description="Process resident set size, MiB")
    gc_collections: GCStats
    timestamp: Timestamp
