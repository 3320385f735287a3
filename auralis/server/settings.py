"""Server settings, from the environment (prefix AURALIS_) and the `auralis serve` flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting has an environment variable: the field name upper-cased, prefixed AURALIS_.

    Unknown AURALIS_* variables are ignored, so settings of other parts (AURALIS_JWT_SECRET,
    AURALIS_ALLOWED_ORIGINS, ...) can be exported alongside.
    """

    model_config = SettingsConfigDict(env_prefix="AURALIS_", extra="ignore", frozen=True)

    env: Literal["development", "production"] = Field(
        "development", description="Deployment mode (AURALIS_ENV)"
    )
    host: str = Field("127.0.0.1", description="Bind address")
    port: int = Field(8000, ge=1, le=65535, description="TCP port")
    soundfont: Path | None = Field(
        None, description="General MIDI .sf2 SoundFont; found automatically when unset"
    )
    max_connections: int = Field(
        64, ge=1, le=10_000, description="Concurrent WebSocket listeners; more are closed with 1013"
    )
    render_workers: int | None = Field(
        None, ge=1, le=256, description="Render threads of the stream engine (engine default if unset)"
    )
    lead_chunks: int = Field(
        3, ge=1, le=50, description="Chunks each stream renders ahead before it starts playing"
    )
    ring_capacity: int = Field(20, ge=2, le=200, description="Chunks each stream's ring buffer holds")
    start_burst: int = Field(
        3, ge=1, le=20, description="Chunks sent at once when a stream starts (client jitter buffer)"
    )
    send_queue_chunks: int = Field(
        30, ge=4, le=600, description="Messages queued for a client before it is dropped as too slow"
    )
    param_debounce_ms: float = Field(
        150.0, ge=0.0, le=2000.0, description="Parameter changes within this time apply as one"
    )
    soundfont_wait_s: float = Field(
        60.0, gt=0.0, le=600.0, description="How long a new listener waits for the SoundFont to load"
    )
    ws_max_frame_bytes: int = Field(
        1 << 20, ge=4096, le=16 << 20, description="Largest WebSocket frame accepted at all (close 1009)"
    )
    metrics_window_samples: int = Field(
        1000, ge=10, le=100_000, description="Samples kept per latency histogram"
    )
    metrics_window_s: float = Field(
        300.0, gt=0.0, le=86_400.0, description="Oldest sample age kept per latency histogram, seconds"
    )
    shutdown_grace_s: float = Field(
        2.0, ge=0.1, le=30.0, description="Time given to listeners to receive the 1001 close on exit"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level")
    log_format: Literal["json", "text"] = Field("json", description="Log lines: JSON or key=value")
