"""Production security (auralis.server.security): tokens, origins, headers, the gate, startup checks.

A small app with the real middleware stack stands in for the server here; the real server in
production mode is exercised by tests/integration/test_production_*.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from auralis.server.security import (
    AuthError,
    SecurityConfigError,
    TokenVerifier,
    bearer_token,
    content_security_policy,
    install_security,
    normalise_origin,
    origin_allowed,
    websocket_credentials,
)
from auralis.server.settings import Settings

SECRET = "s3cret-" + "x" * 40
OTHER_SECRET = "other-" + "y" * 40


def token(secret: str = SECRET, *, exp_in: float = 300.0, alg: str = "HS256", **claims) -> str:
    payload = {"sub": "listener", **claims}
    if exp_in is not None:
        payload["exp"] = int(time.time() + exp_in)
    return jwt.encode(payload, secret, algorithm=alg)


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


# --- tokens --------------------------------------------------------------------------------------


def test_hs256_token_verified_and_claims_returned():
    claims = TokenVerifier(secret=SECRET).verify(token(role="listener"))
    assert claims["sub"] == "listener" and claims["role"] == "listener"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (lambda: token(exp_in=-30), "token expired"),
        (lambda: token(OTHER_SECRET), "token signature invalid"),
        (lambda: token(exp_in=None), "token has no 'exp' claim"),
        (lambda: "not.a.jwt", "malformed token"),
        (lambda: "garbage", "malformed token"),
        (lambda: jwt.encode({"exp": time.time() + 60}, None, algorithm="none"), "not accepted"),
        (lambda: token(nbf=int(time.time() + 600)), "token not yet valid"),
    ],
)
def test_refused_tokens_name_the_reason(bad, reason):
    with pytest.raises(AuthError) as info:
        TokenVerifier(secret=SECRET).verify(bad())
    assert reason in info.value.reason


def test_rs256_verified_with_public_key_and_hs256_refused(rsa_keys):
    private, public = rsa_keys
    verifier = TokenVerifier(public_key=public)
    assert verifier.verify(token(private, alg="RS256"))["sub"] == "listener"
    with pytest.raises(AuthError, match="not accepted"):
        verifier.verify(token(SECRET))


def test_algorithm_confusion_public_key_as_hmac_secret_refused(rsa_keys):
    """A token HMAC-signed with the (public) PEM must not pass as HS256 or RS256."""
    _, public = rsa_keys
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"exp": int(time.time()) + 60}).encode())
    sig = b64(hmac.new(public.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    with pytest.raises(AuthError, match="not accepted"):
        TokenVerifier(public_key=public).verify(f"{head}.{body}.{sig}")


def test_both_keys_each_with_its_own_algorithm(rsa_keys):
    private, public = rsa_keys
    verifier = TokenVerifier(secret=SECRET, public_key=public)
    assert verifier.algorithms == ("HS256", "RS256")
    verifier.verify(token(SECRET))
    verifier.verify(token(private, alg="RS256"))


def test_public_key_with_escaped_newlines_or_from_a_file(rsa_keys, tmp_path):
    private, public = rsa_keys
    escaped = public.strip().replace("\n", "\\n")
    TokenVerifier(public_key=escaped).verify(token(private, alg="RS256"))
    path = tmp_path / "jwt.pub"
    path.write_text(public)
    TokenVerifier(public_key=str(path)).verify(token(private, alg="RS256"))


def test_audience_and_issuer_checked_when_configured():
    verifier = TokenVerifier(secret=SECRET, audience="auralis", issuer="https://id.example")
    verifier.verify(token(aud="auralis", iss="https://id.example"))
    with pytest.raises(AuthError, match="audience"):
        verifier.verify(token(aud="someone-else", iss="https://id.example"))
    with pytest.raises(AuthError, match="issuer"):
        verifier.verify(token(aud="auralis", iss="https://evil.example"))
    # without an audience configured, a token that names one is still accepted
    TokenVerifier(secret=SECRET).verify(token(aud="anything"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "AURALIS_JWT_SECRET"),
        ({"secret": "short"}, "at least 32 bytes"),
        ({"public_key": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"}, "PEM"),
        ({"public_key": "/no/such/key.pem"}, "AURALIS_JWT_PUBLIC_KEY"),
    ],
)
def test_unusable_keys_refused_with_clear_message(kwargs, message):
    with pytest.raises(SecurityConfigError, match=message):
        TokenVerifier(**kwargs)


def test_ec_public_key_refused_for_rs256():
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(SecurityConfigError, match="RSA"):
        TokenVerifier(public_key=pem)


# --- credentials and origins ---------------------------------------------------------------------


def test_bearer_header_parsing():
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer   abc ") == "abc"
    for bad in (None, "", "Basic abc", "Bearer", "Bearer   ", "abc"):
        assert bearer_token(bad) is None


def test_websocket_credentials_from_query_or_subprotocol():
    assert websocket_credentials({"query_string": b"key=62&token=T1"}) == ("T1", None)
    assert websocket_credentials({"query_string": b"", "subprotocols": ["bearer", "T2"]}) == ("T2", "bearer")
    # the subprotocol wins over the query; a lone "bearer" carries no token but is still echoed
    assert websocket_credentials({"query_string": b"token=T1", "subprotocols": ["bearer", "T2"]}) == ("T2", "bearer")
    assert websocket_credentials({"query_string": b"", "subprotocols": ["bearer"]}) == (None, "bearer")
    assert websocket_credentials({"query_string": b""}) == (None, None)


def test_origin_policy():
    allowed = ["https://auralis.example.com"]
    assert origin_allowed(None, "auralis.example.com", allowed)  # not a browser
    assert origin_allowed("https://auralis.example.com", "other.host", allowed)
    assert origin_allowed("https://AURALIS.example.com:443", "other.host", allowed)
    assert origin_allowed("http://127.0.0.1:8123", "127.0.0.1:8123", [])  # same origin
    assert not origin_allowed("https://evil.example", "auralis.example.com", allowed)
    assert not origin_allowed("http://127.0.0.1:9999", "127.0.0.1:8123", [])
    assert not origin_allowed("null", "auralis.example.com", allowed)
    assert not origin_allowed("https://auralis.example.com.evil.example", "x", allowed)
    assert normalise_origin("ftp://x") == "" and normalise_origin("https://x:99999") == ""


def test_csp_forbids_inline_script_and_framing():
    csp = content_security_policy()
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["script-src"] == "'self'" and "unsafe" not in csp
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"


# --- the stack on a small app --------------------------------------------------------------------


def settings(**overrides) -> Settings:
    base = {
        "env": "production",
        "jwt_secret": SECRET,
        "allowed_hosts": "testserver",
        "allowed_origins": "https://good.example",
        "rate_limit_status": "3/minute",
        "ws_message_rate": "5/second",
    }
    return Settings(**{**base, **overrides})


def small_app(s: Settings) -> FastAPI:
    app = FastAPI()
    limiter = install_security(app, s)

    @app.get("/api/status")
    @limiter.limit(s.rate_limit_status)
    async def status(request: Request) -> dict:
        return {"ok": True}

    @app.get("/")
    async def root() -> dict:
        return {"page": True}

    @app.websocket("/ws/stream")
    async def stream(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("hello")
        try:
            while True:
                await ws.send_text("echo " + await ws.receive_text())
        except WebSocketDisconnect:
            pass

    return app


@pytest.fixture
def prod() -> TestClient:
    return TestClient(small_app(settings()), base_url="https://testserver")


def auth(t: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {t or token()}"}


def test_production_http_needs_a_token_for_the_api_only(prod):
    r = prod.get("/api/status")
    assert r.status_code == 401
    assert r.json() == {"error": "Unauthorized", "detail": "missing bearer token (Authorization: Bearer <token>)"}
    assert r.headers["www-authenticate"].startswith('Bearer realm="auralis"')
    assert prod.get("/api/status", headers=auth(token(exp_in=-5))).json()["detail"] == "token expired"
    assert prod.get("/api/status", headers=auth(token(OTHER_SECRET))).status_code == 401
    assert prod.get("/api/status", headers=auth()).json() == {"ok": True}
    assert prod.get("/").status_code == 200  # the page stays public


def test_production_headers_on_every_response(prod):
    for r in (prod.get("/"), prod.get("/api/status"), prod.get("/nowhere")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        assert r.headers["content-security-policy"] == content_security_policy()


def test_production_host_https_and_cors(prod):
    assert prod.get("/", headers={"host": "evil.example"}).status_code == 400
    plain = TestClient(small_app(settings()), base_url="http://testserver")
    r = plain.get("/api/status", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "https://testserver/api/status"
    pre = {"Origin": "https://good.example", "Access-Control-Request-Method": "GET",
           "Access-Control-Request-Headers": "authorization"}
    r = prod.options("/api/status", headers=pre)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://good.example"
    assert r.headers["access-control-allow-credentials"] == "true"
    r = prod.options("/api/status", headers={**pre, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    r = prod.get("/api/status", headers={**auth(), "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_production_429_per_contract(prod):
    codes = [prod.get("/api/status", headers=auth()).status_code for _ in range(3)]
    r = prod.get("/api/status", headers=auth())
    assert codes == [200, 200, 200] and r.status_code == 429
    body = r.json()
    assert set(body) == {"error", "retry_after"} and body["error"] == "Rate limit exceeded"
    assert isinstance(body["retry_after"], int) and 1 <= body["retry_after"] <= 60
    assert r.headers["retry-after"] == str(body["retry_after"])


def test_production_websocket_token_by_query_or_subprotocol(prod):
    with prod.websocket_connect(f"wss://testserver/ws/stream?token={token()}") as ws:
        assert ws.receive_text() == "hello"
    with prod.websocket_connect("wss://testserver/ws/stream", subprotocols=["bearer", token()]) as ws:
        assert ws.accepted_subprotocol == "bearer"
        assert ws.receive_text() == "hello"


@pytest.mark.parametrize(
    ("query", "reason"),
    [("", "missing token"), (f"?token={token(exp_in=-5)}", "token expired"), (f"?token={token(OTHER_SECRET)}", "signature")],
)
def test_production_websocket_refused_with_unauthorized(prod, query, reason):
    with prod.websocket_connect(f"wss://testserver/ws/stream{query}") as ws:
        error = json.loads(ws.receive_text())
        assert error["type"] == "error" and error["code"] == "UNAUTHORIZED"
        assert error["recoverable"] is False and reason in error["message"]
        close = ws.receive()
        assert close == {"type": "websocket.close", "code": 1008, "reason": "unauthorized"}


def test_production_websocket_wrong_origin_refused_before_handshake(prod):
    with pytest.raises(WebSocketDisconnect) as info:
        with prod.websocket_connect(
            f"wss://testserver/ws/stream?token={token()}", headers={"origin": "https://evil.example"}
        ):
            pass
    assert info.value.code == 1008
    for origin in ("https://good.example", "https://testserver"):
        with prod.websocket_connect(f"wss://testserver/ws/stream?token={token()}", headers={"origin": origin}) as ws:
            assert ws.receive_text() == "hello"


def test_message_flood_rate_limited_then_closed_1008(prod):
    with prod.websocket_connect(f"wss://testserver/ws/stream?token={token()}") as ws:
        assert ws.receive_text() == "hello"
        for i in range(100):
            ws.send_text(str(i))
        frames = []
        while True:
            frame = ws.receive()
            frames.append(frame)
            if frame["type"] == "websocket.close":
                break
    texts = [f["text"] for f in frames if f["type"] == "websocket.send"]
    echoes = [t for t in texts if t.startswith("echo ")]
    errors = [json.loads(t) for t in texts if not t.startswith("echo ")]
    assert echoes == [f"echo {i}" for i in range(5)]  # the first 5 (the rate) pass, in order
    assert [e["code"] for e in errors] == ["RATE_LIMITED", "RATE_LIMITED"]
    assert [e["recoverable"] for e in errors] == [True, False]
    assert frames[-1] == {"type": "websocket.close", "code": 1008, "reason": "message rate limit exceeded"}


def test_development_is_open_and_permissive():
    dev = TestClient(small_app(Settings(env="development", rate_limit_status="1/minute")))
    for _ in range(3):  # no token, no HTTP rate limit
        assert dev.get("/api/status").status_code == 200
    r = dev.get("/api/status", headers={"Origin": "https://anywhere.example"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers
    assert "content-security-policy" not in r.headers
    with dev.websocket_connect("/ws/stream", headers={"origin": "https://anywhere.example"}) as ws:
        assert ws.receive_text() == "hello"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"jwt_secret": None}, "AURALIS_JWT_SECRET"),
        ({"jwt_secret": "too-short"}, "at least 32 bytes"),
        ({"allowed_hosts": ""}, "AURALIS_ALLOWED_HOSTS"),
        ({"allowed_hosts": "a.*.example"}, "AURALIS_ALLOWED_HOSTS"),
        ({"allowed_origins": "good.example"}, "AURALIS_ALLOWED_ORIGINS"),
    ],
)
def test_production_refuses_to_start_without_usable_settings(overrides, message):
    with pytest.raises(ValueError, match=message):
        install_security(FastAPI(), settings(**overrides))


# --- settings validators -------------------------------------------------------------------------


def test_settings_normalise_hosts_and_origins():
    s = settings(allowed_hosts="Auralis.Example.com, *.cdn.example", allowed_origins="HTTPS://Good.Example:443")
    assert s.allowed_hosts == ["auralis.example.com", "*.cdn.example"]
    assert s.allowed_origins == ["https://good.example"]
    with pytest.raises(ValueError, match="AURALIS_ALLOWED_ORIGINS"):
        Settings(allowed_origins="https://good.example/path?x=1 ,ftp://x")
    with pytest.raises(ValueError, match="AURALIS_ALLOWED_HOSTS"):
        Settings(allowed_hosts="a.*.example")  # refused in development too


def test_production_rs256_needs_an_audience_unless_explicitly_allowed(rsa_keys):
    _, public = rsa_keys
    base = {"jwt_secret": None, "jwt_public_key": public}
    with pytest.raises(ValueError, match="AURALIS_JWT_AUDIENCE"):
        settings(**base)
    assert settings(**base, jwt_audience="auralis").jwt_audience == "auralis"
    assert settings(**base, jwt_allow_no_audience=True).jwt_allow_no_audience is True
    Settings(jwt_public_key=public)  # development does not check tokens at all
    settings(jwt_audience=None)  # HS256: the secret is this server's own


def test_same_origin_compares_the_scheme():
    assert origin_allowed("https://auralis.example.com", "auralis.example.com", [], "wss")
    assert origin_allowed("http://127.0.0.1:8123", "127.0.0.1:8123", [], "ws")
    assert not origin_allowed("http://auralis.example.com", "auralis.example.com", [], "wss")
    assert not origin_allowed("https://127.0.0.1:8123", "127.0.0.1:8123", [], "ws")
    assert origin_allowed("https://auralis.example.com", "auralis.example.com:443", [], "https")
