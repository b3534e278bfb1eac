"""Signing in: a token becomes a session cookie; a cookie becomes the recruiter and the token
forwarded to rating's and messaging's APIs.

- A sign-in link (`prospectflow login-link`) carries a 5-minute token with `typ: login` and a
  `jti`; it works once (per dashboard process: the used ids are kept in memory) and is exchanged
  for a session token of DASHBOARD_SESSION_HOURS, signed with the same HS256 secret.
- A token from an identity provider (HS256 with the shared secret, or RS256/ES256 from its JWKS)
  is kept as the session as it is, for as long as its own `exp`.
The cookie is HttpOnly and SameSite=Strict (Secure over https). Every POST also carries a CSRF
token derived from the session, which another site cannot read or compute.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field

from shared.auth import InvalidToken, TokenVerifier, mint

COOKIE = "pf_session"


@dataclass
class Session:
    recruiter_id: str
    token: str
    expires_at: float

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"prospectflow-csrf", hashlib.sha256).hexdigest()[:40]


@dataclass
class Sessions:
    verifier: TokenVerifier
    secret: str | None
    session_hours: float
    _used: dict[str, float] = field(default_factory=dict)

    def sign_in(self, token: str) -> Session:
        """The session a presented token opens; InvalidToken if it opens none."""
        claims = self.verifier.claims(token)
        if claims.get("typ") != "login":
            return Session(str(claims["sub"]), token, float(claims["exp"]))
        jti = str(claims.get("jti") or "")
        now = time.time()
        self._used = {k: exp for k, exp in self._used.items() if exp > now}
        if not jti or jti in self._used:
            raise InvalidToken("this sign-in link was used already")
        if not self.secret:
            raise InvalidToken("sign-in links need DASHBOARD_JWT_SECRET")
        self._used[jti] = float(claims["exp"])
        ttl = self.session_hours * 3600
        return Session(str(claims["sub"]), mint(self.secret, str(claims["sub"]), ttl_s=ttl, typ="session"), now + ttl)

    def resume(self, token: str | None) -> Session:
        """The session of a cookie; InvalidToken if there is none or it expired."""
        if not token:
            raise InvalidToken("not signed in")
        claims = self.verifier.claims(token)
        if claims.get("typ") == "login":
            raise InvalidToken("a sign-in link is not a session")
        return Session(str(claims["sub"]), token, float(claims["exp"]))
