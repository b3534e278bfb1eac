"""Rating's decisions, without I/O: who may act on a prospect, what a command changes, and
when the follow-up flag moves by itself."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shared.contract import FollowUpCause, Rating, RejectionReason


@dataclass(frozen=True, slots=True)
class Entry:
    """One prospect on the board, joined with what is known of its job."""

    prospect_id: str
    job_id: str
    rating: Rating = Rating.UNRATED
    flagged: bool = False
    waiting_since: datetime | None = None
    recruiter_id: str | None = None  # None until the job is known
    job_open: bool | None = None  # None until the job is known
    profile: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_follow_up(self) -> bool:
        return not self.flagged and self.job_open is True


def check_access(entry: Entry | None, recruiter_id: str) -> RejectionReason | None:
    """Why `recruiter_id` may not act on this prospect, or None if they may."""
    if entry is None:
        return RejectionReason.UNKNOWN_PROSPECT
    if entry.recruiter_id != recruiter_id:
        # also while the job is unknown: nobody is known to own it yet
        return RejectionReason.FORBIDDEN
    if entry.job_open is False:
        return RejectionReason.JOB_CLOSED
    return None


def rate(entry: Entry, rating: Rating) -> tuple[Entry, Rating | None]:
    """The entry after the rating, and the previous rating if it changed (else None)."""
    if entry.rating == rating:
        return entry, None
    return replace(entry, rating=rating), entry.rating


def flag(entry: Entry, flagged: bool, at: datetime) -> tuple[Entry, bool]:
    """The entry after setting the flag, and whether it changed. Unflagging starts a new wait."""
    if entry.flagged == flagged:
        return entry, False
    return replace(entry, flagged=flagged, waiting_since=entry.waiting_since if flagged else at), True


def on_new_inquiry(entry: Entry, inquired_at: datetime) -> tuple[Entry, FollowUpCause | None]:
    """A prospect who inquires again needs follow-up again."""
    if not entry.flagged:
        return entry, None
    return replace(entry, flagged=False, waiting_since=inquired_at), FollowUpCause.NEW_INQUIRY


def on_message_sent(entry: Entry, auto_flag: bool) -> tuple[Entry, FollowUpCause | None]:
    """A message really sent counts as following up (unless switched off)."""
    if not auto_flag or entry.flagged:
        return entry, None
    return replace(entry, flagged=True), FollowUpCause.MESSAGE_SENT
