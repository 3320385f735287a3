"""Server settings, from the environment (prefix AURALIS_) and the `auralis serve` flags."""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from auralis.streaming.hls import check_segment_s
from auralis.streaming.station_specs import StationSpec, StationSpecError, load_station_specs  # noqa: I001
from auralis.server.ratelimit import parse_rate
from auralis.server.security.origins import parse_allowed_host, parse_allowed_origin

#: What an instance id may hold: it travels in an HTTP header and names Redis fields.
INSTANCE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


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
    workers: int = Field(
        1, ge=1, le=64,
        description="Worker processes serving the port (SO_REUSEPORT), each with its own render "
        "threads; /api/status and /api/metrics answer for all of them",
    )
    soundfont: Path | None = Field(
        None, description="General MIDI .sf2 SoundFont; found automatically when unset"
    )
    max_connections: int = Field(
        64, ge=1, le=10_000, description="Concurrent listeners in all; more are closed with 1013"
    )
    max_personal_streams: int = Field(
        64, ge=1, le=10_000,
        description="Personal streams (WebSocket and /stream.ogg|.mp3, each with its own synth) at once; "
        "more are refused with 1013 or 503. Station listeners share their station's render and are not counted",
    )
    max_listeners_per_address: int = Field(
        8, ge=1, le=10_000,
        description="Production: open listeners per client address (an IPv6 client by its /64)",
    )
    max_listeners_per_subject: int = Field(
        8, ge=1, le=10_000, description="Production: open listeners per token subject (sub)"
    )
    listener_headroom: int = Field(
        4, ge=0, le=10_000,
        description="Production: the last listener slots, kept for clients that hold none yet",
    )
    max_head_bytes: int = Field(
        16384, ge=1024, le=1 << 20,
        description="Largest HTTP request head (request line and headers); larger gets 431",
    )
    head_timeout_s: float = Field(
        5.0, gt=0.0, le=300.0,
        description="A connection that has not sent a whole request head within this time is closed",
    )
    keep_alive_timeout_s: float = Field(
        5.0, gt=0.0, le=300.0, description="Idle keep-alive HTTP connections are closed after this time"
    )
    limit_concurrency: int | None = Field(
        None, ge=16, le=1_000_000,
        description="Open connections (all kinds) before new requests get 503; "
        "unset: the file-descriptor limit less a reserve",
    )
    render_workers: int | None = Field(
        None, ge=1, le=256, description="Render threads of the stream engine (engine default if unset)"
    )
    lead_chunks: int = Field(
        3, ge=1, le=50,
        description="Chunks each listener's stream renders ahead when it starts without measured "
        "headroom (its render lead, 100 ms each; end-to-end latency grows by 100 ms per chunk, see "
        "docs/benchmarks.md); each server underrun raises it by one, up to lead_chunks_max",
    )
    lead_chunks_short: int = Field(
        1, ge=1, le=50,
        description="The render lead a new WebSocket listener's stream starts at when the render "
        "threads have measured headroom for it (projected load at most lead_short_max_load); "
        "equal to lead_chunks or more: every stream starts at lead_chunks",
    )
    lead_short_max_load: float = Field(
        0.25, ge=0.0, le=1.0,
        description="The most projected render load (share of the render threads' capacity over the "
        "next chunk period, measured: busy share, chunk and start costs, work waiting) at which a new "
        "stream starts at lead_chunks_short (such a stream takes lead_chunks when a start comes that is not "
        "granted it); 0.25 (the default) meets the 350 ms end-to-end target for a lone listener; 0 turns "
        "the short lead off",
    )
    lead_chunks_max: int = Field(
        3, ge=1, le=50,
        description="The render lead a listener's stream may grow to after server underruns (never "
        "below lead_chunks)",
    )
    ring_capacity: int = Field(20, ge=2, le=200, description="Chunks each stream's ring buffer holds")
    start_burst: int = Field(
        3, ge=1, le=20,
        description="Chunks sent at once when a stream starts, once they are rendered (the "
        "page starts playing on the first and holds 150 ms on average; more would only be skipped)",
    )
    send_queue_chunks: int = Field(
        30, ge=4, le=600, description="Messages queued for a client before it is dropped as too slow"
    )
    param_debounce_ms: float = Field(
        150.0, ge=0.0, le=2000.0, description="Parameter changes within this time apply as one"
    )
    opus_bitrate_kbps: int = Field(
        96, ge=32, le=256, description="Opus bitrate per stream (format=opus), kbit/s"
    )
    opus_complexity: int = Field(
        5, ge=0, le=10, description="Opus encoder complexity 0-10: CPU per stream against quality"
    )
    soundfont_wait_s: float = Field(
        60.0, gt=0.0, le=600.0, description="How long a new listener waits for the SoundFont to load"
    )
    ws_max_frame_bytes: int = Field(
        1 << 20, ge=4096, le=16 << 20, description="Largest WebSocket frame accepted at all (close 1009)"
    )
    ws_send_buffer_bytes: int = Field(
        131072, ge=0, le=16 << 20,
        description="Kernel send buffer (SO_SNDBUF) per WebSocket connection; 0: the kernel's autotuning",
    )
    ws_ping_interval_s: float = Field(
        20.0, gt=0.0, le=600.0, description="Seconds between WebSocket keepalive pings to each client"
    )
    ws_ping_timeout_s: float = Field(
        20.0, gt=0.0, le=600.0, description="A client whose pong has not come within this time is closed (1011)"
    )
    metrics_window_samples: int = Field(
        1000, ge=10, le=100_000, description="Samples kept per latency histogram"
    )
    metrics_window_s: float = Field(
        300.0, gt=0.0, le=86_400.0, description="Oldest sample age kept per latency histogram, seconds"
    )
    client_buffer_max_ms: float = Field(
        4500.0, ge=100.0, le=60_000.0,
        description="Longest a client may hold a chunk before playing it (the page's jitter buffer "
        "ceiling plus output latency); client end-to-end reports beyond it and the send queue "
        "are dropped as inconsistent",
    )
    shutdown_grace_s: float = Field(
        2.0, ge=0.1, le=30.0, description="Time given to listeners to receive the 1001 close on exit"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level")
    log_format: Literal["json", "text"] | None = Field(
        None,
        description="Log lines: JSON or text; unset: text on a terminal in development, else JSON",
    )

    # --- production mode (docs/production.md): auralis.server.security, auralis.server.ratelimit
    jwt_secret: SecretStr | None = Field(
        None, description="HS256 secret for bearer tokens, at least 32 bytes (production)"
    )
    jwt_public_key: str | None = Field(
        None, description="RS256 public key for bearer tokens: PEM text or a PEM file path"
    )
    jwt_audience: str | None = Field(None, description="Token audience (aud) required, if set")
    jwt_allow_no_audience: bool = Field(
        False, description="Production: allow RS256 tokens without AURALIS_JWT_AUDIENCE (not advised)"
    )
    jwt_issuer: str | None = Field(None, description="Token issuer (iss) required, if set")
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins allowed by CORS and on the WebSocket, comma-separated",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names served (TrustedHost), comma-separated; required in production",
    )
    https_redirect: bool = Field(
        True, description="Production: redirect http/ws to https/wss (X-Forwarded-Proto trusted)"
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1,::1", description="Proxies whose X-Forwarded-For and -Proto are trusted"
    )
    redis_url: str | None = Field(
        None,
        description="Redis shared by the instances of a cluster (rate limits, listener counts, "
        "station changes, the HLS writer lock; docs/deploy.md); unset: one instance on its own",
    )
    rate_limit_status: str = Field("10/minute", description="Production: /api/status per client IP")
    rate_limit_metrics: str = Field("5/minute", description="Production: /api/metrics per client IP")
    ws_connect_rate: str = Field(
        "60/minute", description="Production: new WebSocket connections per client IP"
    )
    ws_message_rate: str = Field(
        "20/second", description="Client messages per connection; a flood is closed with 1008"
    )
    # --- renders (docs/renders.md): auralis.server.render_jobs
    render_rate: str = Field(
        "6/minute", description="New renders (POST /api/renders) per client address, in every mode"
    )
    render_processes: int = Field(
        1, ge=1, le=16, description="Render processes (each renders one download at a time, niced)"
    )
    render_queue: int = Field(
        4, ge=1, le=256, description="Unfinished renders server-wide; more are refused with 503"
    )
    render_keep_s: float = Field(
        1800.0, ge=10.0, le=86_400.0, description="A finished render's file is kept this long"
    )
    render_nice: int = Field(
        19, ge=0, le=19, description="Niceness of the render processes (listeners' streams go first)"
    )
    render_idle: bool = Field(
        True, description="Render processes run under SCHED_IDLE and the idle I/O class (Linux): "
        "only on CPU and disk time nothing else wants"
    )
    fault_injection: bool = Field(
        False, description="Development test hook: POST /debug/fault/{client_id} (never production)"
    )

    # --- cluster (docs/deploy.md): auralis.server.instance, .health, .cluster, .station_relay
    instance_id: str | None = Field(
        None,
        description="This instance's name in the X-Auralis-Instance header, /health and Redis; "
        "unset: hostname:port",
    )
    cluster_max_listeners: int | None = Field(
        None, ge=1, le=10_000_000,
        description="Listeners across every instance sharing AURALIS_REDIS_URL (1013/503 beyond); "
        "unset: only each instance's AURALIS_MAX_CONNECTIONS",
    )
    cluster_heartbeat_s: float = Field(
        1.0, ge=0.1, le=30.0,
        description="Seconds between this instance's listener counts in Redis; an instance silent "
        "for 3 of them no longer counts",
    )
    refuse_when_unhealthy: bool = Field(
        False,
        description="Behind a load balancer: while this instance cannot render (SoundFont loading "
        "or failed), listener requests get HTTP 503 so the balancer takes another instance",
    )

    # --- stations (docs/stations.md): auralis.streaming.stations, auralis.streaming.station_specs
    stations_file: Path | None = Field(
        None, description="TOML or JSON file of station definitions, added to the defaults"
    )
    stations: str | None = Field(
        None, description="Station definitions as a JSON array, applied after the file's"
    )
    stations_defaults: bool = Field(
        True, description="Serve the four preset stations (focus, meditation, sleep, bright)"
    )
    stations_always_on: bool = Field(
        False, description="Stations render without listeners (else from the first listener on)"
    )
    station_idle_s: float = Field(
        60.0, ge=0.0, le=86_400.0, description="A station without listeners stops after this time"
    )
    station_ring_chunks: int = Field(
        50, ge=4, le=600,
        description="Chunks a station keeps for its listeners; one further behind is dropped",
    )

    # --- HLS (docs/stations.md#hls): auralis.server.hls_publisher, auralis.streaming.hls
    hls_dir: Path | None = Field(
        None, description="Publish stations as HLS into this directory (<dir>/<station>/index.m3u8); "
        "unset: no HLS",
    )
    hls_stations: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Stations published as HLS, comma-separated; empty: every station",
    )
    hls_segment_s: float = Field(
        4.0, description="HLS segment length in seconds: 2-6, a multiple of 0.1"
    )
    hls_window: int = Field(6, ge=3, le=30, description="Segments listed in each HLS playlist")
    hls_bitrate_kbps: int = Field(128, ge=64, le=320, description="HLS AAC bitrate, kbit/s")
    hls_lock_ttl_s: float = Field(
        4.0, ge=2.0, le=60.0,
        description="With Redis: the HLS writer lock's TTL; another instance takes over within "
        "about this time after the writer dies",
    )

    @field_validator("allowed_origins", "allowed_hosts", "hls_stations", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [parse_allowed_origin(origin) for origin in value]

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        return [parse_allowed_host(host) for host in value]

    @field_validator("instance_id")
    @classmethod
    def _instance_id(cls, value: str | None) -> str | None:
        if value is not None and not INSTANCE_ID.fullmatch(value):
            raise ValueError(
                "AURALIS_INSTANCE_ID must be 1-64 characters of letters, digits and . _ : -, "
                f"got {value[:80]!r}"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"AURALIS_REDIS_URL must be a redis://, rediss:// or unix:// URL, got {value[:80]!r}")
        return value

    @field_validator(
        "rate_limit_status", "rate_limit_metrics", "ws_connect_rate", "ws_message_rate", "render_rate"
    )
    @classmethod
    def _rate(cls, value: str, info: ValidationInfo) -> str:
        parse_rate(value, f"AURALIS_{info.field_name.upper()}")
        return value

    @field_validator("hls_segment_s")
    @classmethod
    def _hls_segment(cls, value: float) -> float:
        check_segment_s(value)
        return value

    @field_validator("hls_dir")
    @classmethod
    def _hls_dir(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if value.exists() and not value.is_dir():
            raise ValueError(f"AURALIS_HLS_DIR {str(value)!r} exists and is not a directory")
        parent = value
        while not parent.exists():  # created at start: the nearest existing folder must be writable
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise ValueError(f"AURALIS_HLS_DIR {str(value)!r}: {str(parent)!r} is not a writable directory")
        return value

    def hls_station_names(self) -> list[str]:
        """The stations published as HLS (all of them unless AURALIS_HLS_STATIONS names some)."""
        names = [spec.name for spec in self.station_specs()]
        return [n for n in names if n in self.hls_stations] if self.hls_stations else names

    def station_specs(self) -> list[StationSpec]:
        """The stations to serve: the defaults (unless turned off), the file's, the variable's."""
        return load_station_specs(
            self.stations_file, self.stations, include_defaults=self.stations_defaults
        )

    @model_validator(mode="after")
    def _stations_are_valid(self) -> Settings:
        try:
            self.station_specs()  # a bad file stops the server at start, naming the field
        except StationSpecError as exc:
            raise ValueError(str(exc)) from None
        return self

    @model_validator(mode="after")
    def _hls_stations_exist(self) -> Settings:
        names = {spec.name for spec in self.station_specs()}
        unknown = [n for n in self.hls_stations if n not in names]
        if unknown:
            raise ValueError(
                f"AURALIS_HLS_STATIONS: unknown station {unknown[0]!r}; the stations are "
                f"{', '.join(sorted(names))}"
            )
        if self.hls_stations and self.hls_dir is None:
            raise ValueError("AURALIS_HLS_STATIONS is set but AURALIS_HLS_DIR is not: set the directory")
        return self

    @model_validator(mode="after")
    def _fault_injection_is_development_only(self) -> Settings:
        if self.fault_injection and self.env == "production":
            raise ValueError(
                "AURALIS_FAULT_INJECTION is a development test hook; "
                "it cannot be enabled in production"
            )
        return self

    @model_validator(mode="after")
    def _production_hosts(self) -> Settings:
        if self.env == "production" and not self.allowed_hosts:
            raise ValueError(
                "production mode needs AURALIS_ALLOWED_HOSTS: the host names this server answers "
                "to, comma-separated (e.g. auralis.example.com), or * to accept any Host header"
            )
        return self

    @model_validator(mode="after")
    def _production_rs256_audience(self) -> Settings:
        # A public key is often shared by an identity provider's other services: without an
        # audience, a token it issued for any of them would open this server too.
        if (
            self.env == "production"
            and self.jwt_public_key
            and not self.jwt_audience
            and not self.jwt_allow_no_audience
        ):
            raise ValueError(
                "production mode with AURALIS_JWT_PUBLIC_KEY (RS256) needs AURALIS_JWT_AUDIENCE, "
                "so that tokens the key's issuer made for other services are refused; set "
                "AURALIS_JWT_ALLOW_NO_AUDIENCE=true to accept any audience"
            )
        return self

    def resolved_instance_id(self) -> str:
        """`instance_id`, or hostname:port (the host name cut to fit the id's characters)."""
        if self.instance_id is not None:
            return self.instance_id
        host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:50] or "auralis"
        return f"{host}:{self.port}"

    def resolved_log_format(self, stream: Any = None) -> str:
        """`log_format`, or when unset: text on a terminal in development, JSON otherwise."""
        if self.log_format is not None:
            return self.log_format
        if self.env == "production":
            return "json"
        isatty = getattr(stream if stream is not None else sys.stderr, "isatty", None)
        try:
            return "text" if isatty is not None and isatty() else "json"
        except (OSError, ValueError):
            return "json"
