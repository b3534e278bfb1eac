"""Reminder's decisions, without I/O: when a recruiter's reminder is due, and what it says."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
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

    __slots__ = ("total", "counts", "per_job", "_oldest")

    def __init__(self, waiting: Iterable[Waiting] = ()) -> None:
        self.total = 0
        self.counts: Counter[str] = Counter()
        self.per_job: Counter[str] = Counter()
        self._oldest: list[Waiting] = []
        for w in waiting:
            self.add(w)

    def add(self, w: Waiting) -> None:
        self.total += 1
        self.counts[w.rating] += 1
        self.per_job[w.job_id] += 1
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
    }
