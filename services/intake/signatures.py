"""Each board's signature over the raw request body, checked before anything is parsed.

Every check runs in constant time against every active secret of the board (several during a
rotation) and says only yes or no: the reason for a refusal is logged, never the body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence

from standardwebhooks import Webhook

SIGNATURE_HEADERS = {
    "indeed": "X-Indeed-Signature",
    "linkedin": "X-LI-Signature",
    "ziprecruiter": "X-ZipRecruiter-Signature",
    "cloudevents": "webhook-signature",
}
"""The header each board signs in (Standard Webhooks also needs `webhook-id` and `webhook-timestamp`)."""


def _any_equal(expected: Sequence[bytes], given: bytes) -> bool:
    # Every secret is compared, so the time taken does not say which one matched.
    matched = False
    for candidate in expected:
        matched |= hmac.compare_digest(candidate, given)
    return matched


def indeed_signature(secret: str, body: bytes) -> str:
    """Indeed Apply: base64 of HMAC-SHA1 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha1).digest()).decode()


def linkedin_signature(secret: str, body: bytes) -> str:
    """LinkedIn Apply Connect: `hmacsha256=` and the hex HMAC-SHA256 of the raw body."""
    return "hmacsha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def ziprecruiter_signature(secret: str, body: bytes) -> str:
    """ZipRecruiter (our reading of its signed webhooks): hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


LINKEDIN_CHALLENGE_PATTERN = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
"""LinkedIn's challenge codes are UUIDs. The challenge's answer is the same MAC as a body's
signature (HMAC-SHA256 under the same secret), so the route signs nothing but this shape, and a
body of this shape is never taken: no answer of the challenge can sign an application."""
_LINKEDIN_CHALLENGE = re.compile(LINKEDIN_CHALLENGE_PATTERN.encode())


def linkedin_challenge(secret: str, code: str) -> str:
    """LinkedIn's webhook validation: the hex HMAC-SHA256 of the challenge code (a UUID only)."""
    if not _LINKEDIN_CHALLENGE.match(code.encode()):
        raise ValueError("a LinkedIn challenge code is a UUID")
    return hmac.new(secret.encode(), code.encode(), hashlib.sha256).hexdigest()


def check(board: str, secrets: Sequence[str], body: bytes, headers: Mapping[str, str]) -> str | None:
    """None when the body carries a valid signature under one of `secrets`, else why not."""
    if not secrets:
        return f"no secret is configured for {board} (INTAKE_BOARD_SECRETS)"
    if board == "cloudevents":
        return _standard_webhooks(secrets, body, headers)
    if board == "linkedin" and _LINKEDIN_CHALLENGE.match(body.strip()):
        return "the body is a challenge code, which the challenge route signs for anyone"
    given = headers.get(SIGNATURE_HEADERS[board].lower(), "").strip()
    if not given:
        return f"no {SIGNATURE_HEADERS[board]} header"
    sign = {"indeed": indeed_signature, "linkedin": linkedin_signature,
            "ziprecruiter": ziprecruiter_signature}[board]
    if board == "ziprecruiter":
        given = given.lower()
    expected = [sign(secret, body).encode() for secret in secrets]
    return None if _any_equal(expected, given.encode()) else f"{SIGNATURE_HEADERS[board]} does not match"


def _standard_webhooks(secrets: Sequence[str], body: bytes, headers: Mapping[str, str]) -> str | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    if not all(lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature")):
        return "webhook-id, webhook-timestamp and webhook-signature are required (Standard Webhooks)"
    reason = "webhook-signature does not match"
    for secret in secrets:
        try:
            Webhook(secret).verify(body, lowered, json_parse=False)
            return None
        except (UnicodeDecodeError, ValueError, binascii.Error):
            reason = "the body is not UTF-8 or the signature header is malformed"
        except Exception as exc:  # noqa: BLE001 - the library's WebhookVerificationError and friends
            text = str(exc)
            if "too old" in text or "too new" in text:
                return f"webhook-timestamp is outside the 5-minute tolerance ({text.lower()})"
            if "Invalid Signature Headers" in text:
                return "webhook-timestamp is not a number of seconds"
    return reason


def standard_webhooks_headers(secret: str, msg_id: str, body: bytes, timestamp: float) -> dict[str, str]:
    """The three headers a Standard Webhooks sender adds (for our CLI, tests and benchmark)."""
    from datetime import datetime, timezone

    at = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(timestamp)),
            "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode())}


def sign_headers(board: str, secret: str, body: bytes, *, msg_id: str = "", timestamp: float = 0.0) -> dict[str, str]:
    """The headers that make `body` a signed delivery from `board` (what a board itself sends)."""
    if board == "cloudevents":
        return standard_webhooks_headers(secret, msg_id, body, timestamp)
    sign = {"indeed": indeed_signature, "linkedin": linkedin_signature,
            "ziprecruiter": ziprecruiter_signature}[board]
    return {SIGNATURE_HEADERS[board]: sign(secret, body)}
