"""Reminder's decisions, without I/O: when a recruiter's reminder is due, and what it says."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared import ids

MOST_LISTED = 50


@dataclass(frozen=True, slots=True)
class Schedule:
    recruiter_id: str
    timezone: str = "UTC"
    reminder_hour: int = 8


def due_date(schedule: Schedule, as_of: datetime) -> date | None:
    """The local date whose reminder is due at `as_of`: today, once the local clock has passed
    the reminder hour (so a reminder missed while down is sent later the same day), else
    none. Daylight-saving changes are the zone's business: the local wall clock decides."""
    local = as_of.astimezone(ZoneInfo(schedule.timezone))
    return local.date() if local.hour >= schedule.reminder_hour else None


def reminder_id(recruiter_id: str, day: date) -> str:
    """One id per recruiter and local date: whoever inserts it first sends the reminder."""
    return ids.derive("reminder", recruiter_id, day.isoformat())


@dataclass(frozen=True, slots=True)
class Waiting:
    prospect_id: str
    job_id: str
    name: str
    rating: str
    waiting_since: datetime


class Pending:
    """Who is waiting for one recruiter, kept as the reminder needs it: counts per rating and
    per job, and the oldest few. Memory stays bounded by MOST_LISTED, not by how many wait."""

    __slots__ = ("total", "counts", "per_job", "replied", "_oldest")

    def __init__(self, waiting: Iterable[Waiting] = ()) -> None:
        self.total = 0
        self.counts: Counter[str] = Counter()
        self.per_job: Counter[str] = Counter()
        self.replied = 0  # of those waiting, how many answered a message
        self._oldest: list[Waiting] = []
        for w in waiting:
            self.add(w)

    def add(self, w: Waiting) -> None:
        self.count(w.job_id, w.rating, 1)
        self.consider(w)

    def count(self, job_id: str, rating: str, n: int, replied: int = 0) -> None:
        """`n` more waiting for this job with this rating, `replied` of them having answered
        (counted by the database)."""
        self.total += n
        self.replied += replied
        self.counts[rating] += n
        self.per_job[job_id] += n

    def consider(self, w: Waiting) -> None:
        """One of those waiting, a candidate for the oldest listed."""
        self._oldest.append(w)
        if len(self._oldest) >= 4 * MOST_LISTED:
            self._oldest = self.oldest()

    def oldest(self) -> list[Waiting]:
        return sorted(self._oldest, key=lambda w: (w.waiting_since, w.prospect_id))[:MOST_LISTED]


def reminder(schedule: Schedule, day: date, waiting: list[Waiting] | Pending,
             job_titles: dict[str, str]) -> dict[str, Any] | None:
    """The `follow_up.reminder_due` data, or None when nobody is waiting."""
    pending = waiting if isinstance(waiting, Pending) else Pending(waiting)
    if not pending.total:
        return None
    oldest_first = pending.oldest()
    return {
        "reminder_id": reminder_id(schedule.recruiter_id, day),
        "recruiter_id": schedule.recruiter_id,
        "date": day.isoformat(),
        "timezone": schedule.timezone,
        "pending_total": pending.total,
        "counts": {rating: pending.counts.get(rating, 0) for rating in ("unrated", "shortlist", "not_a_fit")},
        "oldest_pending_since": oldest_first[0].waiting_since,
        "jobs": [{"job_id": job_id, "title": job_titles.get(job_id, ""), "pending": n}
                 for job_id, n in sorted(pending.per_job.items(), key=lambda kv: (-kv[1], kv[0]))],
        "prospects": [{"prospect_id": w.prospect_id, "job_id": w.job_id, "name": w.name, "rating": w.rating,
                       "waiting_since": w.waiting_since} for w in oldest_first],
        "replied": pending.replied,
    }


# --- who is waiting: one decision per input type, into the changes of a batch, without I/O -------


@dataclass(frozen=True, slots=True)
class ProspectChange:
    """One write to a prospect's follow-up record (created if missing)."""

    prospect_id: str
    set: dict[str, Any] = field(default_factory=dict)
    set_on_insert: dict[str, Any] = field(default_factory=dict)
    earliest: dict[str, Any] = field(default_factory=dict)  # keep the smaller of stored and given


@dataclass
class Changes:
    """What a batch of events changes, in order; the store writes them."""

    jobs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    joins: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # onto every prospect of a job
    recruiters: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    prospects: list[ProspectChange] = field(default_factory=list)
    registered: list[tuple[str, str]] = field(default_factory=list)  # (prospect, job): to join with its job


def _job(kind: str, data: Any, at: datetime, changes: Changes) -> None:
    fields: dict[str, Any] = {"open": False} if kind == "job.closed" else {
        "recruiter_id": data.recruiter.recruiter_id, "title": data.title}
    if kind == "job.opened":
        fields["open"] = True
    changes.jobs.append((data.job_id, fields))
    changes.joins.append((data.job_id, {("job_open" if k == "open" else k): v for k, v in fields.items()
                                        if k in ("recruiter_id", "open")}))
    if kind != "job.closed":
        changes.recruiters.append((data.recruiter.recruiter_id, {"timezone": data.recruiter.timezone,
                                                                 "reminder_hour": data.recruiter.reminder_hour}))


def _registered(kind: str, data: Any, at: datetime, changes: Changes) -> None:
    # `earliest`, not `set_on_insert`: a rating or flag event may have created the record first
    changes.prospects.append(ProspectChange(data.prospect_id, {"job_id": data.job_id, "name": data.profile.name},
                                            {"flagged": False, "rating": "unrated"},
                                            {"waiting_since": data.inquiry.inquired_at}))
    changes.registered.append((data.prospect_id, data.job_id))


def _rated(kind: str, data: Any, at: datetime, changes: Changes) -> None:
    # A record a rating creates (before its registration) says "not flagged" too: who is waiting
    # is then an equality on the index (`$ne` as its first key scans it whole on DocumentDB).
    changes.prospects.append(ProspectChange(data.prospect_id, {"rating": data.rating.value}, {"flagged": False}))


def _flag_changed(kind: str, data: Any, at: datetime, changes: Changes) -> None:
    # `replied`: waiting because they answered (the flag went off with cause `replied`)
    fields: dict[str, Any] = {"flagged": data.flagged, "replied": not data.flagged and data.cause == "replied"}
    if not data.flagged:
        fields["waiting_since"] = at  # waiting again, from now
    changes.prospects.append(ProspectChange(data.prospect_id, fields))


DECISIONS: dict[str, Callable[[str, Any, datetime, Changes], None]] = {
    "job.opened": _job, "job.updated": _job, "job.closed": _job,
    "prospect.registered": _registered, "prospect.inquired_again": _registered,
    "prospect.rated": _rated, "prospect.follow_up_flag_changed": _flag_changed,
}
"""Input type -> decision (`reminders.run` is not a state change: it evaluates the schedule)."""


def follow_up_changes(events: Iterable[tuple[str, Any, datetime]]) -> Changes:
    """The changes of a batch of (type, data, time), in order."""
    changes = Changes()
    for kind, data, at in events:
        decision = DECISIONS.get(kind)
        if decision is not None:
            decision(kind, data, at, changes)
    return changes


def joins_for_registered(changes: Changes, jobs: dict[str, dict[str, Any]]) -> list[ProspectChange]:
    """New prospects joined with what is known of their jobs (stored, or in this batch)."""
    known = {job_id: dict(fields) for job_id, fields in jobs.items()}
    for job_id, fields in changes.jobs:
        known.setdefault(job_id, {}).update(fields)
    return [ProspectChange(pid, {"recruiter_id": known[job_id].get("recruiter_id"),
                                 "job_open": known[job_id].get("open", True)})
            for pid, job_id in changes.registered if job_id in known]
