"""Rating's use case: decide each input event against the board, record the outcome, apply
it, publish, mark. Decisions run in order over an in-memory copy of the batch's state, so a
command that follows another in the same batch sees its effect."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel

from shared import ids, topics
from shared.contract import (
    CommandCompleted, FlagFollowUp, FollowUpCause, FollowUpFlagChanged, JobClosed, JobOpened, MessageFailed, MessageSent,
    ProspectRated, ProspectRegistered, RateProspects, Rating, new_event,
)
from shared.kafka import Outgoing, Publisher, Received

from services.rating import domain
from services.rating.store import RatingStore

SOURCE = "prospectflow/rating"


@dataclass
class Outcome:
    """What one input event does: fields to set, and events to emit."""

    cause_id: str
    events: list[Outgoing] = field(default_factory=list)
    board: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    jobs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    joins: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def note(self, prospect_id: str, kind: str, at: datetime, **details: Any) -> None:
        """A line of the prospect's history (what recruiter apps show as its timeline); its id is
        derived from the cause, so a replay writes the same line once."""
        self.history.append({"_id": ids.derive("history", self.cause_id, kind, prospect_id), "prospect_id": prospect_id,
                             "kind": kind, "at": at, "order": len(self.history), **details})

    def document(self) -> dict[str, Any]:
        # Lists of {"id", "set"} documents: FerretDB stores no arrays inside arrays.
        def writes(items: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
            return [{"id": key, "set": fields} for key, fields in items]

        return {"_id": self.cause_id, "board": writes(self.board), "jobs": writes(self.jobs),
                "joins": writes(self.joins), "history": self.history,
                "events": [{"topic": e.topic, "key": e.key, "event": e.event} for e in self.events]}


def registration_fields(data: ProspectRegistered, job: dict[str, Any]) -> dict[str, Any]:
    """A new prospect's board fields: unrated, waiting since the inquiry, joined to its job if known."""
    inquired_at = data.inquiry.inquired_at
    return {"job_id": data.job_id, "recruiter_id": job.get("recruiter_id"), "job_open": job.get("open"),
            "job_title": job.get("title"), "rating": Rating.UNRATED.value, "flagged": False,
            "waiting_since": inquired_at, "profile": data.profile.model_dump(mode="json", exclude_none=True),
            "last_inquired_at": inquired_at, "board": data.inquiry.board}


def inquiry_history(cause_id: str, data: ProspectRegistered) -> dict[str, Any]:
    outcome = Outcome(cause_id)
    outcome.note(data.prospect_id, "inquiry", data.inquiry.inquired_at, board=data.inquiry.board,
                 board_inquiry_id=data.inquiry.board_inquiry_id, message=data.inquiry.message)
    return outcome.history[0]


def _outgoing(doc: dict[str, Any]) -> list[Outgoing]:
    return [Outgoing(e["topic"], e["key"], e["event"]) for e in doc["events"]]


class RatingProjection:
    def __init__(self, store: RatingStore, publisher: Publisher, *, flag_on_message_sent: bool) -> None:
        self.store = store
        self.publisher = publisher
        self.flag_on_message_sent = flag_on_message_sent

    async def __call__(self, batch: list[Received]) -> None:
        unique: dict[str, Received] = {}
        for received in batch:
            unique.setdefault(received.event.id, received)
        unique = await self._register_first(unique)
        if not unique:
            return
        done, pending = await self.store.outbox.state(list(unique))
        fresh = [r for i, r in unique.items() if i not in done and i not in pending]

        prospect_ids, job_ids = set(), set()
        for r in fresh:
            data: Any = r.data
            prospect_ids.update(getattr(data, "prospect_ids", None) or [])
            if getattr(data, "prospect_id", None):
                prospect_ids.add(data.prospect_id)
            if getattr(data, "job_id", None):
                job_ids.add(data.job_id)
        self.entries = await self.store.entries(prospect_ids)
        self.jobs = await self.store.job_docs(job_ids)
        known_prospects, known_jobs = set(self.entries), set(self.jobs)

        outcomes = [self.decide(r).document() for r in fresh]
        await self.store.outbox.record(outcomes)
        replay = [pending[i] for i in unique if i in pending] + outcomes
        await self.store.apply(replay, known_prospects=known_prospects, known_jobs=known_jobs)
        await self.publisher.publish([e for doc in replay for e in _outgoing(doc)])
        await self.store.outbox.mark_published(doc["_id"] for doc in replay)

    async def _register_first(self, unique: dict[str, Received]) -> dict[str, Received]:
        """The hot path: a prospect's first registration goes straight onto the board by one
        insert, with the event's id as `registered_by`, its idempotency record. It emits nothing
        and needs no outbox (whose lookups FerretDB pays for with a scan each). When the prospect
        is there already, a board document registered by this very event means a redelivery
        (nothing to do); any other takes the outbox path below. Returns what is left to do."""
        registrations: dict[str, str] = {}  # prospect id -> event id, the first of the batch
        for event_id, r in unique.items():
            if r.event.type == "prospect.registered":
                registrations.setdefault(r.data.prospect_id, event_id)  # type: ignore[attr-defined]
        if not registrations:
            return unique
        jobs = await self.store.job_docs({unique[e].data.job_id for e in registrations.values()})  # type: ignore[attr-defined]
        now = datetime.now(timezone.utc)
        docs = [{"_id": pid, "registered_by": event_id, "updated_at": now,
                 **registration_fields(unique[event_id].data, jobs.get(unique[event_id].data.job_id, {}))}  # type: ignore[arg-type]
                for pid, event_id in registrations.items()]
        # The history line first: a crash between the two inserts re-inserts it (once), never loses it.
        await self.store.insert_history([inquiry_history(e, unique[e].data) for e in registrations.values()])  # type: ignore[arg-type]
        clashed = {docs[n]["_id"] for n in await self.store.insert_board(docs)}
        there = await self.store.registered_by(list(clashed))
        settled = {event_id for pid, event_id in registrations.items()
                   if pid not in clashed or there.get(pid) == event_id}
        return {i: r for i, r in unique.items() if i not in settled}

    # --- decisions -------------------------------------------------------------------------

    def decide(self, r: Received) -> Outcome:
        outcome = Outcome(r.event.id)
        handler = {
            "job.opened": self._job, "job.updated": self._job, "job.closed": self._job_closed,
            "prospect.registered": self._prospect, "prospect.inquired_again": self._prospect,
            "message.sent": self._message_sent, "message.failed": self._message_failed,
            "prospects.rate": self._rate, "prospects.flag_follow_up": self._flag,
        }.get(r.event.type)
        if handler is not None:
            handler(r, outcome)
        return outcome

    def _set(self, outcome: Outcome, entry: domain.Entry, fields: dict[str, Any]) -> None:
        self.entries[entry.prospect_id] = entry
        outcome.board.append((entry.prospect_id, {**fields, "updated_at": datetime.now(timezone.utc)}))

    def _job(self, r: Received, outcome: Outcome) -> None:
        job: JobOpened = r.data  # type: ignore[assignment]
        known = self.jobs.get(job.job_id, {})
        is_open = True if r.event.type == "job.opened" else known.get("open", True)
        doc = {"recruiter_id": job.recruiter.recruiter_id, "title": job.title, "company": job.company,
               "open": is_open, "timezone": job.recruiter.timezone}
        self.jobs[job.job_id] = doc
        outcome.jobs.append((job.job_id, doc))
        self._join(outcome, job.job_id, {"recruiter_id": job.recruiter.recruiter_id, "job_open": is_open, "job_title": job.title})

    def _job_closed(self, r: Received, outcome: Outcome) -> None:
        data: JobClosed = r.data  # type: ignore[assignment]
        self.jobs.setdefault(data.job_id, {})["open"] = False
        outcome.jobs.append((data.job_id, {"open": False}))
        self._join(outcome, data.job_id, {"job_open": False})

    def _join(self, outcome: Outcome, job_id: str, fields: dict[str, Any]) -> None:
        outcome.joins.append((job_id, fields))
        for pid, entry in self.entries.items():
            if entry.job_id == job_id:
                self.entries[pid] = replace(entry, recruiter_id=fields.get("recruiter_id", entry.recruiter_id),
                                            job_open=fields["job_open"])

    def _prospect(self, r: Received, outcome: Outcome) -> None:
        data: ProspectRegistered = r.data  # type: ignore[assignment]
        inquired_at = data.inquiry.inquired_at
        profile = data.profile.model_dump(mode="json", exclude_none=True)
        outcome.history.append(inquiry_history(r.event.id, data))
        entry = self.entries.get(data.prospect_id)
        if entry is None:
            job = self.jobs.get(data.job_id, {})
            entry = domain.Entry(prospect_id=data.prospect_id, job_id=data.job_id, waiting_since=inquired_at,
                                 recruiter_id=job.get("recruiter_id"), job_open=job.get("open"), profile=profile)
            self._set(outcome, entry, registration_fields(data, job))
            return
        entry, cause = domain.on_new_inquiry(replace(entry, profile=profile), inquired_at)
        fields: dict[str, Any] = {"profile": profile, "last_inquired_at": inquired_at, "board": data.inquiry.board}
        if cause is not None:
            fields.update(flagged=False, waiting_since=inquired_at)
            outcome.events.append(self._flag_event(entry, cause, None, r.event.id))
            outcome.note(entry.prospect_id, "flag", inquired_at, flagged=False, cause=cause.value)
        self._set(outcome, entry, fields)

    def _message_sent(self, r: Received, outcome: Outcome) -> None:
        data: MessageSent = r.data  # type: ignore[assignment]
        entry = self.entries.get(data.prospect_id)
        if entry is None:
            return
        fields: dict[str, Any] = {"last_message": {"template": data.template, "sent_at": data.sent_at,
                                                   "message_id": data.message_id, "status": "sent"}}
        outcome.note(entry.prospect_id, "message", data.sent_at, template=data.template, status="sent",
                     subject=data.subject, message_id=data.message_id)
        entry, cause = domain.on_message_sent(entry, self.flag_on_message_sent)
        if cause is not None:
            fields["flagged"] = True
            outcome.events.append(self._flag_event(entry, cause, data.command_id, r.event.id))
            outcome.note(entry.prospect_id, "flag", data.sent_at, flagged=True, cause=cause.value)
        self._set(outcome, entry, fields)

    def _message_failed(self, r: Received, outcome: Outcome) -> None:
        data: MessageFailed = r.data  # type: ignore[assignment]
        entry = self.entries.get(data.prospect_id)
        if entry is None:
            return
        outcome.note(entry.prospect_id, "message", r.time, template=data.template, status="failed",
                     reason=data.reason, permanent=data.permanent, message_id=data.message_id)
        self._set(outcome, entry, {"last_message": {"template": data.template, "sent_at": r.time,
                                                    "message_id": data.message_id, "status": "failed",
                                                    "reason": data.reason}})

    def _rate(self, r: Received, outcome: Outcome) -> None:
        command: RateProspects = r.data  # type: ignore[assignment]

        def change(entry: domain.Entry) -> None:
            entry, previous = domain.rate(entry, command.rating)
            if previous is not None:
                self._set(outcome, entry, {"rating": entry.rating.value})
                outcome.note(entry.prospect_id, "rated", r.time, rating=entry.rating.value,
                             previous_rating=previous.value)
                data = ProspectRated(prospect_id=entry.prospect_id, job_id=entry.job_id,
                                     recruiter_id=command.recruiter_id, rating=entry.rating,
                                     previous_rating=previous, command_id=r.event.id)
                outcome.events.append(self._event("prospect.rated", data, r.event.id, entry.prospect_id, topics.ASSESSMENTS))

        self._command(r, outcome, command.recruiter_id, command.prospect_ids, change)

    def _flag(self, r: Received, outcome: Outcome) -> None:
        command: FlagFollowUp = r.data  # type: ignore[assignment]

        def change(entry: domain.Entry) -> None:
            entry, changed = domain.flag(entry, command.flagged, r.time)
            if changed:
                self._set(outcome, entry, {"flagged": entry.flagged, "waiting_since": entry.waiting_since})
                outcome.note(entry.prospect_id, "flag", r.time, flagged=entry.flagged, cause=FollowUpCause.RECRUITER.value)
                outcome.events.append(self._flag_event(entry, FollowUpCause.RECRUITER, r.event.id, r.event.id))

        self._command(r, outcome, command.recruiter_id, command.prospect_ids, change)

    def _command(self, r: Received, outcome: Outcome, recruiter_id: str, prospect_ids: list[str], change) -> None:
        accepted, rejected = [], []
        for pid in dict.fromkeys(prospect_ids):  # each id once, in the order given
            reason = domain.check_access(self.entries.get(pid), recruiter_id)
            if reason is not None:
                rejected.append({"prospect_id": pid, "reason": reason})
                continue
            accepted.append(pid)
            change(self.entries[pid])
        result = CommandCompleted(command_id=r.event.id, command_type=r.event.type, recruiter_id=recruiter_id,
                                  accepted=accepted, rejected=rejected)
        outcome.events.append(self._event("command.completed", result, r.event.id, recruiter_id, topics.COMMAND_RESULTS, what=""))

    def _flag_event(self, entry: domain.Entry, cause: FollowUpCause, command_id: str | None, cause_id: str) -> Outgoing:
        data = FollowUpFlagChanged(prospect_id=entry.prospect_id, job_id=entry.job_id,
                                   recruiter_id=entry.recruiter_id or "unassigned", flagged=entry.flagged, cause=cause,
                                   command_id=command_id)
        return self._event("prospect.follow_up_flag_changed", data, cause_id, entry.prospect_id, topics.ASSESSMENTS)

    @staticmethod
    def _event(kind: str, data: BaseModel, cause_id: str, key: str, topic: str, what: str | None = None) -> Outgoing:
        event = new_event(event_id=ids.event_id(cause_id, f"{kind}:{key if what is None else what}"), source=SOURCE,
                          type=kind, data=data, correlationid=cause_id)  # type: ignore[arg-type]
        return Outgoing(topic, key, event)
