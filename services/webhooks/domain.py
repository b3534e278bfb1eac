"""The webhooks service's decisions, without I/O: whose an event is, which endpoints want it,
and what an attempt's answer means for the delivery and its endpoint (a table)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared import topics

DELIVERED_TOPICS = (topics.REMINDERS, topics.ASSESSMENTS, topics.MESSAGES, topics.PROSPECTS, topics.COMMAND_RESULTS,
                    topics.PROSPECT_VIEWS, topics.SEQUENCES, topics.PRIVACY)
EVENT_TYPES = tuple(sorted(t for topic in DELIVERED_TOPICS for t in topics.TYPES_BY_TOPIC[topic]))
"""What an endpoint may subscribe to (or `*`, everything)."""


def recruiter_of(topic: str, data: Mapping[str, Any], job_recruiters: Mapping[str, str]) -> str | None:
    """The recruiter an event is about: named in it, or (a prospect's events) the recruiter of its job."""
    if isinstance(data.get("recruiter_id"), str):
        return str(data["recruiter_id"])
    if topic == topics.PROSPECTS and isinstance(data.get("job_id"), str):
        return job_recruiters.get(str(data["job_id"]))
    return None


def wants(events: Sequence[str], event_type: str) -> bool:
    return "*" in events or event_type in events


def reaches(endpoint_recruiter: str | None, event_recruiter: str | None, event_type: str = "") -> bool:
    """A recruiter's endpoint gets that recruiter's events only; an operator's (no recruiter) gets
    all; `person.erased` (no personal data) reaches every endpoint that takes it: recruiter apps
    must forget the person too."""
    return endpoint_recruiter is None or endpoint_recruiter == event_recruiter or event_type == "person.erased"


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Attempted:
    """What an attempt's answer decides."""

    outcome: Outcome
    next_at: datetime | None = None
    disable: str | None = None  # the endpoint is disabled, for this reason


def after_attempt(status: int | None, *, attempts: int, schedule: Sequence[float], now: datetime,
                  failing_since: datetime | None, disable_after: timedelta,
                  jitter: float | None = None) -> Attempted:
    """The answer of attempt number `attempts` (1 for the first), as a table:

    | answer | delivery | endpoint |
    |---|---|---|
    | 2xx | delivered | failing no more |
    | 410 Gone | dead | disabled: it said it is gone (Standard Webhooks' convention) |
    | anything else (3xx not followed, 4xx, 5xx), a timeout, a refused connection | retried after `schedule[attempts - 1]` ±20 %; dead past the schedule | disabled once failing longer than `disable_after` |
    """
    if status is not None and 200 <= status < 300:
        return Attempted(Outcome.DELIVERED)
    if status == 410:
        return Attempted(Outcome.DEAD, disable="answered 410 Gone")
    disable = None
    if failing_since is not None and now - failing_since >= disable_after:
        disable = f"failing since {failing_since.isoformat(timespec='seconds')}"
    if attempts > len(schedule) or disable:
        return Attempted(Outcome.DEAD, disable=disable)
    spread = jitter if jitter is not None else random.uniform(-0.2, 0.2)
    return Attempted(Outcome.RETRY, next_at=now + timedelta(seconds=schedule[attempts - 1] * (1 + spread)))


# --- dispositions: what became of an application, told to the board it came from ---------------

LINKEDIN_ACTIONS = {"viewed": "APPLICATION_VIEWED", "rejected": "APPLICATION_REJECTED", "resume": "RESUME_DOWNLOADED"}
INDEED_STATUSES = {"viewed": "REVIEWED", "rejected": "NOT_SELECTED", "shortlisted": "PHONE_SCREEN"}


def disposition_of(event_type: str, data: Mapping[str, Any]) -> str | None:
    """What an event tells a board of an application: `viewed` (its page first opened),
    `rejected` (rated not for this job), `shortlisted`; None for anything else."""
    if event_type == "prospect.viewed":
        return "viewed"
    if event_type == "prospect.rated":
        return {"not_a_fit": "rejected", "shortlist": "shortlisted"}.get(str(data.get("rating")))
    return None


def disposition_body(board: str, what: str, application_id: str, at: datetime,
                     integration_context: str | None = None) -> dict[str, Any] | None:
    """The board's own request body for it (None: the board takes no such news).

    LinkedIn Apply Connect's job application feedback: `{jobApplicationId, action, performedAt}`
    (milliseconds), plus `integrationContext` where the customer's organization was given.
    Indeed's disposition data: `{applyId, status, statusChangeDateTime}` (our reading)."""
    if board == "linkedin" and what in LINKEDIN_ACTIONS:
        body: dict[str, Any] = {"jobApplicationId": application_id, "action": LINKEDIN_ACTIONS[what],
                                "performedAt": int(at.timestamp() * 1000)}
        if integration_context:
            body["integrationContext"] = integration_context
        return body
    if board == "indeed" and what in INDEED_STATUSES:
        return {"applyId": application_id, "status": INDEED_STATUSES[what],
                "statusChangeDateTime": at.isoformat().replace("+00:00", "Z")}
    return None


def endpoint_doc(endpoint_id: str, url: str, *, recruiter_id: str | None, events: list[str],
                 secrets: list[dict[str, Any]], now: datetime, **extra: Any) -> dict[str, Any]:
    """An endpoint as stored: a recruiter's, an operator's (`recruiter_id` None: every
    recruiter's events) or a board's disposition endpoint (`kind`, `board`, `token` in `extra`)."""
    return {"_id": endpoint_id, "recruiter_id": recruiter_id, "url": url, "events": events, "secrets": secrets,
            "created_at": now, "disabled": None, "failing_since": None, **extra}
