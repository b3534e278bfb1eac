"""One-click unsubscribe links (RFC 8058): a signed, unguessable token per e-mail address.

The token is the address (base64url) and an HMAC-SHA256 of it under MESSAGING_UNSUBSCRIBE_SECRET,
so the link needs no database lookup and cannot be made for another address without the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UnsubscribeLinks:
    def __init__(self, secret: str, public_url: str) -> None:
        self._key = secret.encode()
        self.public_url = public_url.rstrip("/")

    def _mac(self, email: str) -> str:
        return _b64(hmac.new(self._key, b"unsubscribe:" + email.encode(), hashlib.sha256).digest())

    def token(self, email: str) -> str:
        return f"{_b64(email.encode())}.{self._mac(email)}"

    def url(self, email: str) -> str:
        return f"{self.public_url}/unsubscribe/{self.token(email)}"

    def email(self, token: str) -> str | None:
        """The address a token was made for, or None if it is not one of ours."""
        encoded, _, mac = token.partition(".")
        if not encoded or not mac or len(token) > 1_000:
            return None
        try:
            email = _unb64(encoded).decode()
        except (binascii.Error, ValueError):
            return None
        # bytes: compare_digest raises TypeError for a str with non-ASCII characters (a 500, found
        # by Schemathesis with a generated token)
        return email if hmac.compare_digest(mac.encode(), self._mac(email).encode()) else None
