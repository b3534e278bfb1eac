"""Intake's decisions, without I/O: what an inquiry is, how a profile snapshot is formed,
and which event an inquiry causes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import ids
from shared.contract import InquiryReceived

REGISTERED = "prospect.registered"
INQUIRED_AGAIN = "prospect.inquired_again"


@dataclass(frozen=True, slots=True)
class Inquiry:
    """One accepted inquiry, with the ids derived from it."""

    event_id: str
    prospect_id: str
    person_id: str
    job_id: str
    board: str
    board_inquiry_id: str | None
    profile: dict[str, Any]  # as validated; e-mail normalised
    message: str | None
    inquired_at: datetime
    resume: dict[str, Any] | None = None  # the contract's `resume`, carried on as it came
    origin: dict[str, Any] | None = None  # `referred_from` / `referred_by` / `consent`, carried on as they came

    @property
    def board_key(self) -> str:
        """Unique per inquiry: the board's own id when it gives one, else our event id.
        The same board inquiry sent again under a new event id collides on this key."""
        if self.board_inquiry_id is not None:
            return f"board\x1f{self.board}\x1f{self.board_inquiry_id}"
        return f"event\x1f{self.event_id}"


def inquiry_from_event(event_id: str, data: InquiryReceived, event_time: datetime) -> Inquiry:
    email = data.prospect.email  # already trimmed and lower-cased by the contract
    return Inquiry(
        event_id=event_id,
        prospect_id=ids.prospect_id(data.job_id, email),
        person_id=ids.person_id(email),
        job_id=data.job_id,
        board=data.board,
        board_inquiry_id=data.board_inquiry_id,
        profile=merge_profile({}, data.prospect.model_dump(mode="json", exclude_none=True)),
        message=data.message,
        inquired_at=data.inquired_at or event_time,
        resume=data.resume.model_dump(mode="json") if data.resume else None,
        origin=data.model_dump(mode="json", include={"referred_from", "referred_by", "consent"}, exclude_none=True) or None,
    )


def merge_profile(current: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """The profile after another inquiry: each field as the latest inquiry that gave it says;
    a field the new inquiry leaves out keeps what was known. Merging the same inquiry twice
    changes nothing, so a replay is harmless."""
    merged = dict(current)
    merged.update({field: value for field, value in incoming.items() if value not in (None, "", [])})
    return merged


def event_type(inquiry: Inquiry, registered_by: str) -> str:
    """The first inquiry of a person for a job registers the prospect; any later one is an
    inquiry again."""
    return REGISTERED if inquiry.event_id == registered_by else INQUIRED_AGAIN


def unique_by_event_id(inquiries: Iterable[Inquiry]) -> list[Inquiry]:
    """A batch may hold the same event twice (a producer's retry): keep the first."""
    seen: dict[str, Inquiry] = {}
    for inquiry in inquiries:
        seen.setdefault(inquiry.event_id, inquiry)
    return list(seen.values())


@dataclass(frozen=True, slots=True)
class Known:
    """What the registry holds of a prospect before this batch."""

    registered_by: str
    profile: dict[str, Any]


def snapshots(to_emit: list[Inquiry], known: dict[str, Known]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The profile each event describes (by event id), folding the batch's inquiries in order
    onto what was known; and the resulting profile of each prospect."""
    current = {pid: k.profile for pid, k in known.items()}
    per_event: dict[str, dict[str, Any]] = {}
    for inquiry in to_emit:
        current[inquiry.prospect_id] = merge_profile(current.get(inquiry.prospect_id, {}), inquiry.profile)
        per_event[inquiry.event_id] = current[inquiry.prospect_id]
    return per_event, current
