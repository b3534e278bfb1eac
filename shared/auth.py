"""Recruiters' tokens: one verifier for every HTTP surface (rating's API, messaging's preview,
the dashboard).

A recruiter is the `sub` of a JWT that carries `exp` and the audience of the surface it is
presented to (`prospectflow-api` for the APIs, `prospectflow-login` for a sign-in link): a token
made for one surface is refused by the others. Two ways to trust one, from the environment:
HS256 with a shared secret (the local stack, or an identity provider configured with that
secret), or RS256/ES256 checked against a JWKS URL (an identity provider's keys, which must
issue `aud: prospectflow-api`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHMS_BY_KEY = ("RS256", "ES256")
JWKS_REFRESH_S = 60.0
API_AUDIENCE = "prospectflow-api"
"""The audience of tokens that call the services' APIs (rating, messaging, intake, webhooks)."""
LOGIN_AUDIENCE = "prospectflow-login"
"""The audience of the dashboard's one-time sign-in links: they sign in and call nothing."""


class InvalidToken(Exception):
    """The token is missing, malformed, expired, or not signed by whom we trust."""


@dataclass
class TokenVerifier:
    secret: str | None = None
    jwks_url: str | None = None
    audience: str = API_AUDIENCE
    leeway_s: int = 5
    max_length: int = 8_192  # nobody's token is longer; a huge one is refused before parsing

    def __post_init__(self) -> None:
        if not self.secret and not self.jwks_url:
            raise ValueError("a JWT secret or a JWKS URL is needed to check tokens")
        self._jwks = jwt.PyJWKClient(self.jwks_url, cache_keys=True, lifespan=300) if self.jwks_url else None
        self._refreshed = float("-inf")

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
                key, algorithms = self._key(header.get("kid")), list(ALGORITHMS_BY_KEY)
            else:
                raise InvalidToken(f"tokens signed with {algorithm!r} are not accepted here")
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=algorithms, audience=self.audience, leeway=self.leeway_s,
                options={"require": ["sub", "exp", "aud"]},
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken(type(exc).__name__) from None
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise InvalidToken("the token names no recruiter")
        return claims

    def _key(self, kid: Any) -> Any:
        """The provider's key `kid`, from its JWKS (cached `lifespan`). A kid it does not list is
        looked for again at most every JWKS_REFRESH_S: any stranger can send tokens with made-up
        kids, and each made PyJWKClient fetch the JWKS anew, blocking a worker each time."""
        assert self._jwks is not None
        if not isinstance(kid, str) or not kid or len(kid) > 200:
            raise InvalidToken("the token names no signing key")
        for refresh in (False, True):
            if refresh:
                now = time.monotonic()
                if now - self._refreshed < JWKS_REFRESH_S:
                    break
                self._refreshed = now
            try:
                keys = self._jwks.get_signing_keys(refresh=refresh)
            except jwt.PyJWKClientError as exc:
                raise InvalidToken(f"the identity provider's keys cannot be read ({exc})") from None
            for found in keys:
                if found.key_id == kid:
                    return found.key
        raise InvalidToken("the token's signing key is not the identity provider's")

    def recruiter(self, token: str) -> str:
        return str(self.claims(token)["sub"])

    def operator(self, token: str, scope: str) -> str | None:
        """The `sub` of a valid token whose `scope` (space-separated, or a list) includes
        `scope`; None for a valid token without it (a recruiter's). InvalidToken otherwise."""
        claims = self.claims(token)
        granted = claims.get("scope") or []
        granted = granted.split() if isinstance(granted, str) else [str(g) for g in granted]
        return str(claims["sub"]) if scope in granted else None


def mint(secret: str, recruiter_id: str, *, ttl_s: float, audience: str = API_AUDIENCE, **claims: Any) -> str:
    """An HS256 token for `recruiter_id`, valid `ttl_s` seconds (what the local stack's tools and
    the dashboard's sign-in links use; production tokens come from an identity provider)."""

    now = int(time.time())
    return jwt.encode({"sub": recruiter_id, "aud": audience, "iat": now, "exp": now + int(ttl_s), **claims},
                      secret, algorithm="HS256")


def login_link(secret: str, recruiter_id: str, dashboard_url: str, *, ttl_s: float = 300) -> str:
    """A one-time sign-in link to the dashboard, valid `ttl_s` seconds (5 minutes by default)."""
    import secrets

    token = mint(secret, recruiter_id, ttl_s=ttl_s, audience=LOGIN_AUDIENCE, typ="login", jti=secrets.token_urlsafe(12))
    return f"{dashboard_url.rstrip('/')}/login?token={token}"
