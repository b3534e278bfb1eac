"""The public links every mail carries: one-click unsubscribe (RFC 8058), a signed, unguessable
token per e-mail address; and (added) the referral page of a not-a-match mail, a token per message.

A token is the value (base64url) and an HMAC-SHA256 of it and its use under
MESSAGING_UNSUBSCRIBE_SECRET, so a link needs no database lookup and cannot be made for another
address or message (or one use's token taken for the other) without the secret.
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

    def _mac(self, value: str, use: bytes = b"unsubscribe:") -> str:
        return _b64(hmac.new(self._key, use + value.encode(), hashlib.sha256).digest())

    def token(self, email: str, use: bytes = b"unsubscribe:") -> str:
        return f"{_b64(email.encode())}.{self._mac(email, use)}"

    def url(self, email: str) -> str:
        return f"{self.public_url}/unsubscribe/{self.token(email)}"

    def refer_url(self, message_id: str) -> str:
        """The referral page of one mail we sent (`/refer/{token}`)."""
        return f"{self.public_url}/refer/{self.token(message_id, REFER)}"

    def email(self, token: str) -> str | None:
        """The address a token was made for, or None if it is not one of ours."""
        return self._value(token, b"unsubscribe:")

    def message_id(self, token: str) -> str | None:
        """The message a referral token was made for, or None if it is not one of ours."""
        return self._value(token, REFER)

    def _value(self, token: str, use: bytes) -> str | None:
        encoded, _, mac = token.partition(".")
        if not encoded or not mac or len(token) > 1_000:
            return None
        try:
            value = _unb64(encoded).decode()
        except (binascii.Error, ValueError):
            return None
        # bytes: compare_digest raises TypeError for a str with non-ASCII characters (a 500, found
        # by Schemathesis with a generated token)
        return value if hmac.compare_digest(mac.encode(), self._mac(value, use).encode()) else None


REFER = b"refer:"
