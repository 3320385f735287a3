"""HTTP API per http-api.md: the contract's own TestClient tests, then schemas, headers, files."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from auralis.server.app import create_app
from auralis.server.settings import Settings

ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

app = create_app()
client = TestClient(app)


# --- the contract's unit tests, adapted only in the import path -------------------------------


def test_get_status():
    response = client.get("/api/status")
    assert response.status_code == 200
    data = response.json()
    assert "uptime_sec" in data
    assert "active_connections" in data
    assert "device" in data


def test_get_metrics():
    response = client.get("/api/metrics")
    assert response.status_code == 200
    data = response.json()
    assert "synthesis_latency_ms" in data
    assert "memory_usage_mb" in data
    # the figures are the monitor's counts: what is counted shows, exactly
    fresh = create_app()
    with TestClient(fresh) as c:  # no listener: nothing counted yet
        before = c.get("/api/metrics").json()
        assert (before["buffer_underruns"], before["buffer_overflows"]) == (0, 0)
        fresh.state.hub.monitor.count_underruns(3, source="server")
        fresh.state.hub.monitor.count_underruns(2, source="client")
        fresh.state.hub.monitor.count_overflows(4)
        after = c.get("/api/metrics").json()
    assert (after["buffer_underruns"], after["buffer_overflows"]) == (5, 4)


def test_serve_root():
    response = client.get("/")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "<html" in response.text.lower()


def test_serve_static():
    response = client.get("/client/audio_client_worklet.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]


# --- exact schemas -----------------------------------------------------------------------------

HIST = {"avg": float, "p50": float, "p95": float, "p99": float, "samples": int}


def _types(data: dict, spec: dict) -> None:
    assert set(data) == set(spec), sorted(set(data) ^ set(spec))
    for key, kind in spec.items():
        if isinstance(kind, dict):
            _types(data[key], kind)
        elif kind is float:
            assert isinstance(data[key], (int, float)) and not isinstance(data[key], bool), key
        else:
            assert type(data[key]) is kind, (key, data[key])


def test_status_schema_exact():
    data = client.get("/api/status").json()
    _types(
        data,
        {
            "uptime_sec": float,
            "active_connections": int,
            "buffer_depth": int,
            "device": str,
            "soundfont_loaded": bool,
            "synthesis_active": bool,
            "timestamp": str,
        },
    )
    assert ISO_MS_Z.match(data["timestamp"])
    assert data["device"] == "CPU"
    # no lifespan ran for this bare client: nothing is loaded, nothing renders
    assert (data["active_connections"], data["buffer_depth"]) == (0, 0)
    assert data["soundfont_loaded"] is False and data["synthesis_active"] is False


def test_metrics_schema_exact():
    data = client.get("/api/metrics").json()
    _types(
        data,
        {
            "synthesis_latency_ms": HIST,
            "network_latency_ms": HIST,
            "end_to_end_latency_ms": HIST,
            "buffer_underruns": int,
            "buffer_overflows": int,
            "disconnects": int,
            "memory_usage_mb": float,
            "gc_collections": {"gen0": int, "gen1": int, "gen2": int},
            "timestamp": str,
        },
    )
    assert ISO_MS_Z.match(data["timestamp"])
    assert data["memory_usage_mb"] > 10


def _parse_utc(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def test_uptime_advances_and_timestamp_is_now():
    t0 = time.time()
    first = client.get("/api/status").json()
    time.sleep(0.05)
    second = client.get("/api/status").json()
    t1 = time.time()
    assert second["uptime_sec"] > first["uptime_sec"]
    assert second["uptime_sec"] - first["uptime_sec"] >= 0.04
    # the timestamps are this moment (compared as instants, not as strings)
    a, b = _parse_utc(first["timestamp"]), _parse_utc(second["timestamp"])
    assert t0 - 0.001 <= a < b <= t1 + 0.001
    assert b - a >= 0.049


def test_openapi_describes_the_models():
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert set(schemas["SystemStatus"]["properties"]) == {
        "uptime_sec", "active_connections", "buffer_depth", "device", "soundfont_loaded",
        "synthesis_active", "timestamp",
    }
    assert schemas["SystemStatus"]["properties"]["timestamp"]["format"] == "date-time"
    assert {"LatencyHistogram", "GCStats", "PerformanceMetrics"} <= set(schemas)
    ok = spec["paths"]["/api/metrics"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/PerformanceMetrics")
    assert client.get("/docs").status_code == 200


# --- headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/", "text/html; charset=utf-8"),
        ("/debug", "text/html; charset=utf-8"),
        ("/client/audio_client_worklet.js", "application/javascript"),
        ("/client/audio_worklet_processor.js", "application/javascript"),
        ("/client/styles.css", "text/css"),
        ("/client/debug.html", "text/html"),
        ("/api/status", "application/json"),
        ("/api/metrics", "application/json"),
        ("/metrics", "text/plain"),
    ],
)
def test_content_type_and_no_cache(path: str, content_type: str):
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["cache-control"] == "no-cache"


def test_static_files_are_served_verbatim():
    web = Path(__file__).resolve().parents[2] / "auralis" / "web"
    assert client.get("/").content == (web / "index.html").read_bytes()
    assert client.get("/debug").content == (web / "debug.html").read_bytes()
    assert client.get("/client/styles.css").content == (web / "styles.css").read_bytes()


# --- missing files and traversal (a web directory of our own, with a secret beside it) ------


@pytest.fixture()
def tmp_client(tmp_path: Path):
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!DOCTYPE html><html><body>hi</body></html>")
    (web / "app.js").write_text("export const x = 1;\n")
    (web / ".hidden.js").write_text("secret")
    (web / "notes.txt").write_text("not a client file")
    (web / "sub").mkdir()
    (web / "sub" / "inner.js").write_text("inner")
    (tmp_path / "secret.js").write_text("SECRET")
    (web / "link.js").symlink_to(tmp_path / "secret.js")
    return TestClient(create_app(Settings(), web_dir=web))


def test_head_is_answered_without_body():
    response = client.head("/client/styles.css")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["cache-control"] == "no-cache"


def test_missing_files_are_404(tmp_client: TestClient):
    assert tmp_client.get("/client/app.js").status_code == 200
    for path in ("/client/nope.js", "/debug", "/client/", "/client/notes.txt", "/client/.hidden.js"):
        assert tmp_client.get(path).status_code == 404, path


@pytest.mark.parametrize(
    "raw",
    [
        "/client/../secret.js",
        "/client/..%2fsecret.js",
        "/client/..%2Fsecret.js",
        "/client/%2e%2e/secret.js",
        "/client/%2e%2e%2fsecret.js",
        "/client/..%5csecret.js",
        "/client/sub/inner.js",
        "/client/sub%2finner.js",
        "/client/link.js",
        "/client/%2fetc%2fpasswd",
        "/client/....%2f....%2fsecret.js",
        "/client/%2e%2e",
    ],
)
def test_path_traversal_is_404(tmp_client: TestClient, raw: str):
    response = tmp_client.get(raw)
    assert response.status_code == 404, raw
    assert "SECRET" not in response.text and "inner" not in response.text
