"""Endpoint secrets: made as Standard Webhooks' `whsec_` secrets, and stored sealed (AES-256-GCM
under a key from WEBHOOKS_SECRET_KEY), so a dump of the database alone does not reveal them."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class SecretBox:
    def __init__(self, key: str) -> None:
        if len(key) < 16:
            raise ValueError("WEBHOOKS_SECRET_KEY must be at least 16 characters")
        self._aead = AESGCM(hashlib.sha256(b"prospectflow-webhooks\x1f" + key.encode()).digest())

    def seal(self, plain: str, *, bound_to: str) -> str:
        """Encrypted and bound to `bound_to` (the endpoint id): a sealed secret copied onto another
        endpoint does not open."""
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, plain.encode(), bound_to.encode())).decode()

    def open(self, sealed: str, *, bound_to: str) -> str:
        raw = base64.b64decode(sealed)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], bound_to.encode()).decode()
        except InvalidTag:
            raise ValueError("a stored secret does not open with WEBHOOKS_SECRET_KEY (was the key changed?)") from None
