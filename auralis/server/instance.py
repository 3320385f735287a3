"""Which instance answered: the ``X-Auralis-Instance`` header on every response and handshake.

Behind a load balancer (nginx, `docs/deploy.md`) several instances answer on one address; each
HTTP response, each WebSocket handshake (accepted or refused) and each refused handshake's HTTP
answer names the instance that served it (``AURALIS_INSTANCE_ID``, default hostname:port), so an
operator or a test can tell where a listener landed.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Auralis-Instance"
_HEADER = HEADER.lower().encode()
#: The ASGI messages that open a response or a handshake, and so carry headers.
_OPENING = frozenset({"http.response.start", "websocket.accept", "websocket.http.response.start"})


class InstanceHeaderMiddleware:
    """Adds ``X-Auralis-Instance: <id>`` to every response and WebSocket handshake."""

    def __init__(self, app: ASGIApp, *, instance_id: str) -> None:
        self.app = app
        self.value = instance_id.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def send_named(message: Message) -> None:
            if message["type"] in _OPENING:
                headers = [(k, v) for k, v in message.get("headers") or [] if k.lower() != _HEADER]
                message = {**message, "headers": [*headers, (_HEADER, self.value)]}
            await send(message)

        await self.app(scope, receive, send_named)
