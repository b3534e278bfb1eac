"""Deterministic identifiers: every replica derives the same id from the same input, so
duplicates collapse on unique keys instead of needing coordination."""

from __future__ import annotations

import uuid

NAMESPACE = uuid.UUID("6f3b1c52-2d0e-4c8e-9a51-6e0f8d4a7b21")


def derive(*parts: str) -> str:
    """A UUIDv5 over the parts, unambiguous whatever characters they hold."""
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def person_id(email: str) -> str:
    return derive("person", email)


def prospect_id(job_id: str, email: str) -> str:
    return derive("prospect", job_id, email)


def event_id(cause_id: str, what: str) -> str:
    """The id of the event that `what` emits because of the message `cause_id`: a retry or a
    replay after a crash re-sends the same id, which consumers dedupe on."""
    return derive("event", what, cause_id)
