"""A mail provider's inbound webhook: who may post (`check_webhook_auth`) and the raw mail with
its recipients out of each provider's format (`webhook_mail`). Pure parsing, bounded by the
caller's body limit."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from services.messaging import classify as kinds


class WebhookRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _header_recipients(raw: bytes) -> list[str]:
    from email.utils import getaddresses

    end = kinds.HEADER_END.search(raw)
    headers = kinds.parse((raw[:end.start()] if end else raw) + b"\n\n")
    values = [str(v) for name in ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Cc")
              for v in (headers.get_all(name) or [])]
    return [addr for _, addr in getaddresses(values) if addr]


def check_webhook_auth(secret: str, authorization: str | None, fields: dict[str, str]) -> bool:
    """A bearer token, a basic-auth password (how Postmark and SES forwarders are set up), or a
    Mailgun signature (`timestamp`, `token`, `signature`: HMAC-SHA256 of timestamp + token)."""
    import base64
    import hmac as _hmac

    given = authorization or ""
    if given.lower().startswith("bearer "):
        return _hmac.compare_digest(given[7:].strip().encode(), secret.encode())
    if given.lower().startswith("basic "):
        try:
            password = base64.b64decode(given[6:].strip()).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return False
        return _hmac.compare_digest(password.encode(), secret.encode())
    if all(fields.get(k) for k in ("timestamp", "token", "signature")):
        expected = _hmac.new(secret.encode(), (fields["timestamp"] + fields["token"]).encode(), hashlib.sha256)
        try:
            fresh = abs(datetime.now(timezone.utc).timestamp() - float(fields["timestamp"])) < 300
        except ValueError:
            return False
        return fresh and _hmac.compare_digest(expected.hexdigest().encode(), fields["signature"].encode())
    return False


def webhook_mail(content_type: str, body: bytes, fields: dict[str, str], recipient: str | None) -> tuple[bytes, list[str]]:
    """The raw mail and its recipients from a provider's inbound webhook: the raw message as the
    body (`message/rfc822`), Mailgun's MIME route (`body-mime`), Postmark's JSON (`RawEmail`),
    or Amazon SES's notification (`content`, also inside an SNS envelope)."""
    import base64
    import json

    kind = content_type.split(";", 1)[0].strip().lower()
    recipients = [recipient] if recipient else []
    if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raw = fields.get("body-mime", "").encode()
        recipients += [r.strip() for r in fields.get("recipient", "").split(",") if r.strip()]
        if not raw:
            raise WebhookRefused(422, "no `body-mime` field: configure the route to deliver the raw MIME message")
    elif kind == "application/json":
        try:
            payload = json.loads(body)
            if isinstance(payload, dict) and payload.get("Type") == "Notification":  # SNS
                payload = json.loads(payload.get("Message") or "{}")
        except ValueError:
            raise WebhookRefused(422, "the body is not JSON") from None
        if not isinstance(payload, dict):
            raise WebhookRefused(422, "the JSON body is not an object")
        if payload.get("RawEmail"):
            raw = str(payload["RawEmail"]).encode()
            if payload.get("OriginalRecipient"):
                recipients.append(str(payload["OriginalRecipient"]))
        elif payload.get("content"):
            encoding = str((payload.get("receipt") or {}).get("action", {}).get("encoding") or payload.get("encoding")
                           or "").upper()
            content = str(payload["content"])
            raw = base64.b64decode(content) if encoding == "BASE64" else content.encode()
            recipients += [str(r) for r in (payload.get("receipt") or {}).get("recipients", [])]
        else:
            raise WebhookRefused(422, "no raw message in the JSON (`RawEmail` or `content`)")
    else:
        raw = body
    if not raw.strip():
        raise WebhookRefused(422, "the mail is empty")
    return raw, recipients or _header_recipients(raw)
