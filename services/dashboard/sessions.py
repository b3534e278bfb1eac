"""Signing in: a one-time sign-in link becomes a server-side session; the session's cookie is an
opaque id; each request to rating's, messaging's, intake's or the webhooks' API carries an API
token minted for the session.

- A sign-in link (`prospectflow login-link`) carries a 5-minute token with `typ: login`, the
  audience `prospectflow-login` and a `jti`. It only signs in (no API takes its audience) and
  works once, across every dashboard replica: its `jti` is claimed by an insert that a second use
  finds taken. Any other token (an API token, an identity provider's) signs nobody in, so nobody
  can sign a victim in as themselves with a token they hold (login CSRF).
- A session is a document (`sessions`, expiring by a TTL index) named by 256 random bits, which
  the cookie holds: HttpOnly, SameSite=Strict, Secure over https (also behind a TLS proxy, by
  X-Forwarded-Proto). Signing out deletes it: the cookie is worth nothing after.
- Every POST carries a CSRF token derived from the session, which another site cannot read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from shared.auth import API_AUDIENCE, LOGIN_AUDIENCE, InvalidToken, TokenVerifier, mint

from services.dashboard.store import MemoryStore, SessionStore

COOKIE = "pf_session"
API_TOKEN_S = 600  # an API token minted for a session lasts this long (or the session's end)


@dataclass
class Session:
    recruiter_id: str
    session_id: str
    token: str  # an API token for this recruiter, forwarded to the services' APIs
    expires_at: float

    @property
    def csrf(self) -> str:
        return csrf_token(self.session_id)


def csrf_token(session_id: str) -> str:
    return hmac.new(session_id.encode(), b"prospectflow-csrf", hashlib.sha256).hexdigest()[:40]


@dataclass
class Sessions:
    verifier: TokenVerifier  # checks sign-in links (audience prospectflow-login)
    secret: str | None  # signs the API tokens minted for sessions
    session_hours: float
    store: SessionStore = field(default_factory=MemoryStore)

    async def sign_in(self, token: str) -> Session:
        """The session a sign-in link opens; InvalidToken, in words for the page, if it opens none."""
        try:
            claims = self.verifier.claims(token)
        except InvalidToken:
            raise InvalidToken("it is not a sign-in link of this dashboard, or it has expired") from None
        if claims.get("typ") != "login":
            raise InvalidToken("it is not a sign-in link of this dashboard")
        if not self.secret:
            raise InvalidToken("sign-in links need DASHBOARD_JWT_SECRET")
        jti = str(claims.get("jti") or "")
        expires = datetime.fromtimestamp(float(claims["exp"]), timezone.utc) + timedelta(seconds=60)
        if not jti or not await self.store.claim_link(jti, expires):
            raise InvalidToken("this sign-in link was used already")
        session_id = secrets.token_urlsafe(32)
        until = time.time() + self.session_hours * 3600
        await self.store.open(session_id, str(claims["sub"]), datetime.fromtimestamp(until, timezone.utc))
        return self._session(session_id, str(claims["sub"]), until)

    async def resume(self, session_id: str | None) -> Session:
        """The session of a cookie; InvalidToken if there is none, it ended or it expired."""
        if not session_id or len(session_id) > 100:
            raise InvalidToken("not signed in")
        found = await self.store.find(session_id)
        if found is None:
            raise InvalidToken("this session has ended")
        until = found["expires_at"].replace(tzinfo=timezone.utc).timestamp()
        if until <= time.time():
            raise InvalidToken("this session has expired")
        return self._session(session_id, str(found["recruiter_id"]), until)

    async def sign_out(self, session_id: str | None) -> None:
        if session_id:
            await self.store.close(session_id)

    def _session(self, session_id: str, recruiter_id: str, until: float) -> Session:
        assert self.secret is not None
        ttl = max(1.0, min(API_TOKEN_S, until - time.time()))
        return Session(recruiter_id, session_id, mint(self.secret, recruiter_id, ttl_s=ttl, audience=API_AUDIENCE),
                       until)


def login_verifier(secret: str) -> TokenVerifier:
    """The verifier of sign-in links: ours (HS256 with the dashboard's secret), the login audience only."""
    return TokenVerifier(secret=secret, audience=LOGIN_AUDIENCE)
