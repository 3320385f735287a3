"""Production mode for tests: the environment, tokens and headers a real deployment would use.

    with running_server(env=production_env(), headers=auth_headers()) as srv:
        httpx.get(f"{srv.url}/api/status", headers=auth_headers())

The server sits behind no real proxy here, so requests say ``X-Forwarded-Proto: https`` the way
a TLS-terminating proxy on 127.0.0.1 (a trusted forwarder) would; without it the server
redirects to https.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

SECRET = "test-secret-" + "k" * 40  # HS256 needs at least 32 bytes
WRONG_SECRET = "wrong-secret-" + "w" * 40
HOST = "127.0.0.1"


def production_env(**overrides: str) -> dict[str, str]:
    """Production settings for a loopback server: the test secret, this host, generous HTTP
    limits for /api/status (the launcher polls it) unless overridden."""
    env = {
        "AURALIS_ENV": "production",
        "AURALIS_JWT_SECRET": SECRET,
        "AURALIS_ALLOWED_HOSTS": HOST,
        "AURALIS_ALLOWED_ORIGINS": "https://app.example.com",
        "AURALIS_RATE_LIMIT_STATUS": "10000/minute",
    }
    env.update(overrides)
    return env


def make_token(secret: str = SECRET, *, exp_in: float = 600.0, **claims: Any) -> str:
    return jwt.encode({"sub": "test-listener", "exp": int(time.time() + exp_in), **claims}, secret, algorithm="HS256")


def auth_headers(token: str | None = None) -> dict[str, str]:
    """Bearer token plus the proxy's ``X-Forwarded-Proto: https``."""
    return {"Authorization": f"Bearer {token or make_token()}", "X-Forwarded-Proto": "https"}


HTTPS = {"X-Forwarded-Proto": "https"}
