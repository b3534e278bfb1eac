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
    arrival: tuple[int, int, int] = (0, 0, 0)  # (record timestamp ms, partition, offset)

    @property
    def board_key(self) -> str:
        """Unique per inquiry: the board's own id when it gives one, else our event id.
        The same board inquiry sent again under a new event id collides on this key."""
        if self.board_inquiry_id is not None:
            return f"board\x1f{self.board}\x1f{self.board_inquiry_id}"
        return f"event\x1f{self.event_id}"

    @property
    def order(self) -> tuple[datetime, tuple[int, int, int], str]:
        """Oldest first; inquiries of the same instant in the order they reached us."""
        return (self.inquired_at, self.arrival, self.event_id)


def inquiry_from_event(
    event_id: str, data: InquiryReceived, event_time: datetime, arrival: tuple[int, int, int] = (0, 0, 0)
) -> Inquiry:
    email = data.prospect.email  # already trimmed and lower-cased by the contract
    return Inquiry(
        event_id=event_id,
        prospect_id=ids.prospect_id(data.job_id, email),
        person_id=ids.person_id(email),
        job_id=data.job_id,
        board=data.board,
        board_inquiry_id=data.board_inquiry_id,
        profile=data.prospect.model_dump(mode="json", exclude_none=True),
        message=data.message,
        inquired_at=data.inquired_at or event_time,
        arrival=arrival,
    )


def merge_profiles(profiles_oldest_first: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The current profile: each field as the latest inquiry that gave it says; a field a later
    inquiry left out keeps what an earlier one said."""
    snapshot: dict[str, Any] = {}
    for profile in profiles_oldest_first:
        for field, value in profile.items():
            if value not in (None, "", []):
                snapshot[field] = value
    return snapshot


def snapshot_at(inquiry: Inquiry, known: Iterable[Inquiry]) -> dict[str, Any]:
    """The profile as of `inquiry`: every known inquiry of the prospect up to and including it.
    Deterministic, so a replay describes the prospect as the first delivery did."""
    upto = sorted((i for i in known if i.order <= inquiry.order), key=lambda i: i.order)
    return merge_profiles(i.profile for i in upto)


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
