"""The addresses every prospect mail carries, so that what comes back finds its message:
`Reply-To: reply+<token>@<inbound domain>` and the envelope sender (VERP)
`bounce+<token>@<inbound domain>`.

The token is the message id (a UUID, as 32 hex digits) and 80 bits of an HMAC-SHA256 of the
kind and the id under the links secret (MESSAGING_UNSUBSCRIBE_SECRET), base32: lower-case
letters and digits only, since some mail servers lower-case local parts, and 55 characters in
all, within the 64 a local part may hold. Nobody can make a token for another message, or turn
a reply address into a bounce address, without the secret; checking one needs no database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass

KINDS = ("reply", "bounce")
_ADDRESS = re.compile(r"^(reply|bounce)\+([0-9a-f]{32})-([a-z2-7]{16})@(.+)$")


@dataclass(frozen=True)
class Target:
    """What an inbound address names: a kind (reply or bounce) and one of our messages."""

    kind: str
    message_id: str


class ReturnAddresses:
    def __init__(self, secret: str, domain: str) -> None:
        self._key = secret.encode()
        self.domain = domain.strip().lower()

    def _mac(self, kind: str, hex_id: str) -> str:
        digest = hmac.new(self._key, f"{kind}:{hex_id}".encode(), hashlib.sha256).digest()
        return base64.b32encode(digest[:10]).decode().lower()

    def address(self, kind: str, message_id: str) -> str:
        hex_id = uuid.UUID(message_id).hex
        return f"{kind}+{hex_id}-{self._mac(kind, hex_id)}@{self.domain}"

    def reply_to(self, message_id: str) -> str:
        return self.address("reply", message_id)

    def bounce(self, message_id: str) -> str:
        return self.address("bounce", message_id)

    def target(self, address: str) -> Target | None:
        """The message an address of ours names, or None: not our domain, not our form, or a
        token that is forged or altered."""
        found = _ADDRESS.match(address.strip().strip("<>").lower())
        if found is None or found.group(4) != self.domain:
            return None
        kind, hex_id, mac = found.group(1), found.group(2), found.group(3)
        if not hmac.compare_digest(mac.encode(), self._mac(kind, hex_id).encode()):
            return None
        return Target(kind, str(uuid.UUID(hex_id)))

    def is_ours(self, address: str) -> bool:
        return self.target(address) is not None
