"""Recruiters' tokens: one verifier for every HTTP surface (rating's API, messaging's preview,
the dashboard).

A recruiter is the `sub` of a JWT that carries `exp`. Two ways to trust one, from the
environment: HS256 with a shared secret (the local stack, or an identity provider configured
with that secret), or RS256/ES256 checked against a JWKS URL (an identity provider's keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHMS_BY_KEY = ("RS256", "ES256")


class InvalidToken(Exception):
    """The token is missing, malformed, expired, or not signed by whom we trust."""


@dataclass
class TokenVerifier:
    secret: str | None = None
    jwks_url: str | None = None
    audience: str | None = None
    leeway_s: int = 5
    max_length: int = 8_192  # nobody's token is longer; a huge one is refused before parsing

    def __post_init__(self) -> None:
        if not self.secret and not self.jwks_url:
            raise ValueError("a JWT secret or a JWKS URL is needed to check tokens")
        self._jwks = jwt.PyJWKClient(self.jwks_url, cache_keys=True, lifespan=300) if self.jwks_url else None

    def claims(self, token: str) -> dict[str, Any]:
        if not token or len(token) > self.max_length:
            raise InvalidToken("no token, or not one")
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            key: Any
            if algorithm == "HS256" and self.secret:
                key, algorithms = self.secret, ["HS256"]
            elif algorithm in ALGORITHMS_BY_KEY and self._jwks is not None:
                key, algorithms = self._jwks.get_signing_key_from_jwt(token).key, list(ALGORITHMS_BY_KEY)
            else:
                raise InvalidToken(f"tokens signed with {algorithm!r} are not accepted here")
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=algorithms, audience=self.audience, leeway=self.leeway_s,
                options={"require": ["sub", "exp"], "verify_aud": self.audience is not None},
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken(type(exc).__name__) from None
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise InvalidToken("the token names no recruiter")
        return claims

    def recruiter(self, token: str) -> str:
        return str(self.claims(token)["sub"])


def mint(secret: str, recruiter_id: str, *, ttl_s: float, **claims: Any) -> str:
    """An HS256 token for `recruiter_id`, valid `ttl_s` seconds (what the local stack's tools and
    the dashboard's sign-in links use; production tokens come from an identity provider)."""
    import time

    now = int(time.time())
    return jwt.encode({"sub": recruiter_id, "iat": now, "exp": now + int(ttl_s), **claims}, secret, algorithm="HS256")


def login_link(secret: str, recruiter_id: str, dashboard_url: str, *, ttl_s: float = 300) -> str:
    """A one-time sign-in link to the dashboard, valid `ttl_s` seconds (5 minutes by default)."""
    import secrets

    token = mint(secret, recruiter_id, ttl_s=ttl_s, typ="login", jti=secrets.token_urlsafe(12))
    return f"{dashboard_url.rstrip('/')}/login?token={token}"
