"""Bearer tokens: JWT verification (PyJWT) and where a request carries its token.

HS256 with a shared secret and/or RS256 with a PEM public key, ``exp`` required and checked.
HTTP takes ``Authorization: Bearer <token>``; the WebSocket takes ``?token=<token>`` or the
subprotocol pair ``bearer, <token>`` (browsers cannot set headers on a WebSocket); the server then
answers with the subprotocol ``bearer``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from starlette.types import Scope

#: RFC 7518 3.2: an HS256 key must be at least as long as the hash output.
MIN_HS256_SECRET_BYTES = 32
#: The WebSocket subprotocol that carries a token: ``new WebSocket(url, ["bearer", token])``.
BEARER_SUBPROTOCOL = "bearer"

MISSING_WS_TOKEN = "missing token (?token=<jwt> or subprotocols ['bearer', <jwt>])"


class SecurityConfigError(ValueError):
    """The production security settings are missing or unusable (the server refuses to start)."""


class AuthError(Exception):
    """A request's credentials were missing or refused; `reason` is safe to show the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _load_public_key(value: str) -> RSAPublicKey:
    """Load an RSA public key from PEM text (literal ``\\n`` escapes allowed) or a PEM file path."""
    text = value.strip()
    if not text.startswith("-----BEGIN"):
        path = Path(text).expanduser()
        if not path.is_file():
            raise SecurityConfigError(
                "AURALIS_JWT_PUBLIC_KEY must be an RSA public key in PEM form "
                "(-----BEGIN PUBLIC KEY----- ...) or the path of a PEM file"
            )
        text = path.read_text().strip()
    if "\n" not in text and "\\n" in text:
        text = text.replace("\\n", "\n")
    try:
        key = load_pem_public_key(text.encode())
    except ValueError as exc:
        raise SecurityConfigError(
            f"AURALIS_JWT_PUBLIC_KEY is not a readable PEM public key: {exc}"
        ) from None
    if not isinstance(key, RSAPublicKey):
        raise SecurityConfigError("AURALIS_JWT_PUBLIC_KEY must be an RSA public key (RS256)")
    return key


class TokenVerifier:
    """Verifies bearer JWTs with PyJWT: HS256 against a secret and/or RS256 against a public key.

    The algorithm is taken from the token's header only to pick the key configured for it, and
    each key is only ever used with its own algorithm (no algorithm confusion). ``exp`` is required.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        public_key: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        leeway_sec: float = 0.0,
    ) -> None:
        self._keys: dict[str, Any] = {}
        if secret:
            if len(secret.encode()) < MIN_HS256_SECRET_BYTES:
                raise SecurityConfigError(
                    f"AURALIS_JWT_SECRET must be at least {MIN_HS256_SECRET_BYTES} bytes for HS256 "
                    f"(got {len(secret.encode())}); generate one with: python -c "
                    "'import secrets; print(secrets.token_urlsafe(48))'"
                )
            self._keys["HS256"] = secret.encode()
        if public_key:
            self._keys["RS256"] = _load_public_key(public_key)
        if not self._keys:
            raise SecurityConfigError(
                "production mode (AURALIS_ENV=production) needs a JWT key: set AURALIS_JWT_SECRET "
                "(HS256, at least 32 bytes) or AURALIS_JWT_PUBLIC_KEY (RS256, PEM)"
            )
        self.audience = audience or None
        self.issuer = issuer or None
        self.leeway_sec = leeway_sec

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; AuthError with a short reason if it is refused."""
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        key = self._keys.get(alg) if isinstance(alg, str) else None
        if key is None:
            shown = repr(alg)[:24]
            accepted = ", ".join(self._keys)
            raise AuthError(f"token algorithm {shown} not accepted (accepted: {accepted})")
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_sec,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.InvalidSignatureError:
            raise AuthError("token signature invalid") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token has no {exc.claim!r} claim") from None
        except jwt.InvalidAudienceError:
            raise AuthError("token audience not accepted") from None
        except jwt.InvalidIssuerError:
            raise AuthError("token issuer not accepted") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("token not yet valid") from None
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None


#: The role claim an operator's token carries (``"role": "operator"`` or ``"roles": [..., "operator"]``).
OPERATOR_ROLE = "operator"


def has_role(claims: dict[str, Any], role: str) -> bool:
    """Whether verified `claims` grant `role`, by a ``role`` string or a ``roles`` list."""
    roles = claims.get("roles")
    return claims.get("role") == role or (isinstance(roles, list) and role in roles)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def websocket_credentials(scope: Scope) -> tuple[str | None, str | None]:
    """(token, subprotocol to accept) from a WebSocket handshake.

    The ``bearer, <token>`` subprotocol pair wins over ``?token=``; the subprotocol to accept is
    ``bearer`` when the client offered it (a browser fails the handshake if an offered subprotocol
    is not echoed).
    """
    offered = [p.strip() for p in scope.get("subprotocols", []) if p.strip()]
    if BEARER_SUBPROTOCOL in offered:
        i = offered.index(BEARER_SUBPROTOCOL)
        token = offered[i + 1] if i + 1 < len(offered) else None
        return token, BEARER_SUBPROTOCOL
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("token")
    return (values[-1] if values else None), None


