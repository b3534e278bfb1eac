"""Deterministic identifiers: every replica derives the same id from the same input, so
duplicates collapse on unique keys instead of needing coordination."""

from __future__ import annotations

import hashlib
import uuid

NAMESPACE = uuid.UUID("6f3b1c52-2d0e-4c8e-9a51-6e0f8d4a7b21")
_NAMESPACE_BYTES = NAMESPACE.bytes


def derive(*parts: str) -> str:
    """A UUIDv5 over the parts, unambiguous whatever characters they hold: `uuid.uuid5`'s
    value, written out without building a `UUID` (which was most of its cost, and every
    event derives several ids)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + "\x1f".join(parts).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def person_id(email: str) -> str:
    return derive("person", email)


def prospect_id(job_id: str, email: str) -> str:
    return derive("prospect", job_id, email)


def event_id(cause_id: str, what: str) -> str:
    """The id of the event that `what` emits because of the message `cause_id`: a retry or a
    replay after a crash re-sends the same id, which consumers dedupe on."""
    return derive("event", what, cause_id)
