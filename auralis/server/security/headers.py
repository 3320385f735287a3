"""Response headers production adds to every HTTP response: the contract's set plus a CSP."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

def content_security_policy() -> str:
    """The CSP the pages satisfy: everything from this origin, no inline script or style.

    ``connect-src 'self'`` covers same-origin ``ws:``/``wss:`` (CSP3), the AudioWorklet module is a
    script from 'self', and nothing may frame the pages.
    """
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "worker-src 'self'",
            "media-src 'self' blob:",
            "img-src 'self' data:",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(hsts_max_age: int = 31_536_000) -> list[tuple[bytes, bytes]]:
    """The response headers production adds to every HTTP response (the contract's set plus CSP)."""
    pairs = {
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "x-xss-protection": "1; mode=block",
        "referrer-policy": "strict-origin-when-cross-origin",
        "strict-transport-security": f"max-age={hsts_max_age}; includeSubDomains",
        "content-security-policy": content_security_policy(),
        "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "cross-origin-opener-policy": "same-origin",
    }
    return [(k.encode(), v.encode()) for k, v in pairs.items()]


class SecurityHeadersMiddleware:
    """Adds `security_headers()` to every HTTP response (a header the app set itself is kept)."""

    def __init__(self, app: ASGIApp, headers: Sequence[tuple[bytes, bytes]] | None = None) -> None:
        self.app = app
        self.headers = list(headers if headers is not None else security_headers())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


