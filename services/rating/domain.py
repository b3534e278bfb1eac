"""Rating's decisions, without I/O: who may act on a prospect, what a command changes, and
when the follow-up flag moves by itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel

from shared import ids, topics, views
from shared.contract import (
    CommandCompleted, FlagFollowUp, FollowUpCause, FollowUpFlagChanged, JobClosed, JobOpened, MessageAutoReplied,
    InquiryReceived, MessageBounced, MessageComplained, MessageFailed, MessageReplied, MessageSent, ProspectRated,
    ProspectProfile, ProspectRegistered, RateProspects, Rating, RejectionReason, SuggestProspects, new_event,
)
from shared.messages import Outgoing, Received

SOURCE = "prospectflow/rating"


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
        return views.needs_follow_up(flagged=self.flagged, job_open=self.job_open)


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


def on_reply(entry: Entry, received_at: datetime) -> tuple[Entry, FollowUpCause | None]:
    """A prospect who answers needs follow-up again, waiting since the reply (one already
    waiting keeps waiting since earlier)."""
    if not entry.flagged:
        return entry, None
    return replace(entry, flagged=False, waiting_since=received_at), FollowUpCause.REPLIED


SNIPPET = 300  # how much of a reply the board keeps (the whole text is on the timeline)


# --- decisions: one function per input type, over the batch's state, without I/O -----------------


@dataclass
class BoardState:
    """What the decisions of one batch see and change, in order: the board entries and jobs
    they touch (loaded before, kept up to date as each input is decided, so a command that
    follows another in the same batch sees its effect)."""

    entries: dict[str, Entry]
    jobs: dict[str, dict[str, Any]]
    flag_on_message_sent: bool = True


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
            "last_inquired_at": inquired_at, "board": data.inquiry.board, **_resume(data)}


def origin_fields(data: ProspectRegistered, jobs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Where an inquiry came from when it is not a board's: considered from another job
    (`referred_from`, with that job's title) or referred by someone (`referred_by`, with their name)."""
    fields: dict[str, Any] = {}
    if data.inquiry.referred_from is not None:
        came = data.inquiry.referred_from
        fields["referred_from"] = {**came.model_dump(mode="json"), "job_title": jobs.get(came.job_id, {}).get("title")}
    if data.inquiry.referred_by is not None:
        fields["referred_by"] = data.inquiry.referred_by.model_dump(mode="json", exclude_none=True)
    if data.inquiry.consent is not None:
        fields["consent"] = data.inquiry.consent.model_dump(mode="json")
    return fields


def _resume(data: ProspectRegistered) -> dict[str, Any]:
    """The latest résumé a board sent with an inquiry (an inquiry without one keeps the last)."""
    resume = data.inquiry.resume
    return {"resume": resume.model_dump(mode="json")} if resume is not None else {}


def _set(state: BoardState, outcome: Outcome, entry: Entry, fields: dict[str, Any]) -> None:
    state.entries[entry.prospect_id] = entry
    outcome.board.append((entry.prospect_id, {**fields, "updated_at": datetime.now(timezone.utc)}))


def _job(state: BoardState, r: Received[JobOpened], outcome: Outcome) -> None:
    job = r.data
    known = state.jobs.get(job.job_id, {})
    is_open = True if r.event.type == "job.opened" else known.get("open", True)
    doc = {"recruiter_id": job.recruiter.recruiter_id, "title": job.title, "company": job.company,
           "open": is_open, "timezone": job.recruiter.timezone,
           **({"closed_at": None} if r.event.type == "job.opened" else {})}
    state.jobs[job.job_id] = doc
    outcome.jobs.append((job.job_id, doc))
    _join(state, outcome, job.job_id, {"recruiter_id": job.recruiter.recruiter_id, "job_open": is_open, "job_title": job.title})


def _job_closed(state: BoardState, r: Received[JobClosed], outcome: Outcome) -> None:
    data = r.data
    state.jobs.setdefault(data.job_id, {})["open"] = False
    outcome.jobs.append((data.job_id, {"open": False, "closed_at": r.time}))  # retention counts from it
    _join(state, outcome, data.job_id, {"job_open": False})


def _join(state: BoardState, outcome: Outcome, job_id: str, fields: dict[str, Any]) -> None:
    outcome.joins.append((job_id, fields))
    for pid, entry in state.entries.items():
        if entry.job_id == job_id:
            state.entries[pid] = replace(entry, recruiter_id=fields.get("recruiter_id", entry.recruiter_id),
                                        job_open=fields["job_open"])


def _prospect(state: BoardState, r: Received[ProspectRegistered], outcome: Outcome) -> None:
    data = r.data
    inquired_at = data.inquiry.inquired_at
    profile = data.profile.model_dump(mode="json", exclude_none=True)
    origin = origin_fields(data, state.jobs)
    outcome.note(data.prospect_id, "inquiry", inquired_at, board=data.inquiry.board,
                 board_inquiry_id=data.inquiry.board_inquiry_id, message=data.inquiry.message,
                 **({"resume": data.inquiry.resume.filename} if data.inquiry.resume else {}), **origin)
    entry = state.entries.get(data.prospect_id)
    if entry is None:
        job = state.jobs.get(data.job_id, {})
        entry = Entry(prospect_id=data.prospect_id, job_id=data.job_id, waiting_since=inquired_at,
                             recruiter_id=job.get("recruiter_id"), job_open=job.get("open"), profile=profile)
        _set(state, outcome, entry, {**registration_fields(data, job), **origin})
        return
    entry, cause = on_new_inquiry(replace(entry, profile=profile), inquired_at)
    fields: dict[str, Any] = {"profile": profile, "last_inquired_at": inquired_at, "board": data.inquiry.board,
                              **_resume(data), **({"consent": origin["consent"]} if "consent" in origin else {})}
    if cause is not None:
        fields.update(flagged=False, waiting_since=inquired_at)
        _flag_changed(outcome, entry, cause, None, inquired_at)
    _set(state, outcome, entry, fields)


def _message_sent(state: BoardState, r: Received[MessageSent], outcome: Outcome) -> None:
    data = r.data
    entry = state.entries.get(data.prospect_id)
    if entry is None:
        return
    fields: dict[str, Any] = {"last_message": {"template": data.template, "sent_at": data.sent_at,
                                               "message_id": data.message_id, "status": "sent"}}
    outcome.note(entry.prospect_id, "message", data.sent_at, template=data.template, status="sent",
                 subject=data.subject, message_id=data.message_id)
    entry, cause = on_message_sent(entry, state.flag_on_message_sent)
    if cause is not None:
        fields.update(flagged=True, replied=False)
        _flag_changed(outcome, entry, cause, data.command_id, data.sent_at)
    _set(state, outcome, entry, fields)


def _message_failed(state: BoardState, r: Received[MessageFailed], outcome: Outcome) -> None:
    data = r.data
    entry = state.entries.get(data.prospect_id)
    if entry is None:
        return
    outcome.note(entry.prospect_id, "message", r.time, template=data.template, status="failed",
                 reason=data.reason, permanent=data.permanent, message_id=data.message_id)
    _set(state, outcome, entry, {"last_message": {"template": data.template, "sent_at": r.time,
                                                "message_id": data.message_id, "status": "failed",
                                                "reason": data.reason}})


def _message_replied(state: BoardState, r: Received[MessageReplied], outcome: Outcome) -> None:
    data = r.data
    entry = state.entries.get(data.prospect_id)
    if entry is None:
        return
    outcome.note(entry.prospect_id, "reply", data.received_at, message_id=data.message_id, subject=data.subject,
                 text=data.text, **{"from": data.from_})
    fields: dict[str, Any] = {"last_reply": {"received_at": data.received_at, "message_id": data.message_id,
                                             "text": data.text[:SNIPPET]}}
    entry, cause = on_reply(entry, data.received_at)
    if cause is not None:
        fields.update(flagged=False, waiting_since=entry.waiting_since, replied=True)
        _flag_changed(outcome, entry, cause, None, data.received_at)
    elif not entry.flagged:
        fields["replied"] = True  # already waiting: now also one who answered
    _set(state, outcome, entry, fields)


def _message_auto_replied(state: BoardState, r: Received[MessageAutoReplied], outcome: Outcome) -> None:
    data = r.data
    if data.prospect_id in state.entries:  # a line on the timeline; no flag moves
        outcome.note(data.prospect_id, "auto_reply", data.received_at, message_id=data.message_id,
                     auto_kind=data.kind.value)


def _message_bounced(state: BoardState, r: Received[MessageBounced], outcome: Outcome) -> None:
    data = r.data
    entry = state.entries.get(data.prospect_id)
    if entry is None:
        return
    details = {"message_id": data.message_id, "permanent": data.permanent, "status": data.status,
               "diagnostic": data.diagnostic}
    outcome.note(entry.prospect_id, "bounce", data.received_at, **details)
    _set(state, outcome, entry, {"bounced": {**details, "at": data.received_at}})


def _message_complained(state: BoardState, r: Received[MessageComplained], outcome: Outcome) -> None:
    data = r.data
    entry = state.entries.get(data.prospect_id)
    if entry is None:
        return
    outcome.note(entry.prospect_id, "complaint", data.received_at, message_id=data.message_id)
    _set(state, outcome, entry, {"complained_at": data.received_at})


def _rate(state: BoardState, r: Received[RateProspects], outcome: Outcome) -> None:
    command = r.data

    def change(entry: Entry) -> None:
        entry, previous = rate(entry, command.rating)
        if previous is not None:
            _set(state, outcome, entry, {"rating": entry.rating.value})
            outcome.note(entry.prospect_id, "rated", r.time, rating=entry.rating.value,
                         previous_rating=previous.value)
            data = ProspectRated(prospect_id=entry.prospect_id, job_id=entry.job_id,
                                 recruiter_id=command.recruiter_id, rating=entry.rating,
                                 previous_rating=previous, command_id=r.event.id)
            outcome.events.append(_event("prospect.rated", data, r.event.id, entry.prospect_id, topics.ASSESSMENTS))

    _command(state, r, outcome, command.recruiter_id, command.prospect_ids, change)


def _flag(state: BoardState, r: Received[FlagFollowUp], outcome: Outcome) -> None:
    command = r.data

    def change(entry: Entry) -> None:
        entry, changed = flag(entry, command.flagged, r.time)
        if changed:
            fields: dict[str, Any] = {"flagged": entry.flagged, "waiting_since": entry.waiting_since}
            if entry.flagged:
                fields["replied"] = False  # followed up: the answer is dealt with
            _set(state, outcome, entry, fields)
            _flag_changed(outcome, entry, FollowUpCause.RECRUITER, r.event.id, r.time)

    _command(state, r, outcome, command.recruiter_id, command.prospect_ids, change)


def target_prospect_id(entry: Entry, target_id: str) -> str | None:
    """The id the person would have on the target job (derived from it and their e-mail)."""
    email = entry.profile.get("email")
    return ids.prospect_id(target_id, str(email)) if email else None


def targets_of(suggestions: list[Received], entries: dict[str, Entry]) -> set[str]:
    """The ids the people of these `prospects.suggest` commands would have on their target jobs."""
    found = set()
    for r in suggestions:
        command = r.of(SuggestProspects).data
        for pid in command.prospect_ids:
            if pid in entries and (there := target_prospect_id(entries[pid], command.job_id)):
                found.add(there)
    return found


def suggestion_refused(entry: Entry | None, recruiter_id: str, target_id: str, target: dict[str, Any] | None,
                       entries: dict[str, Entry]) -> RejectionReason | None:
    """Why a prospect may not be considered for the job `target_id`, or None: the prospect must be
    the recruiter's (a closed job of theirs too: the person may fit an open one), the target
    the recruiter's and open, and the person not on it already (as this prospect or another)."""
    reason = check_access(entry, recruiter_id)
    if reason is not None and reason is not RejectionReason.JOB_CLOSED:
        return reason
    if target is None or target.get("recruiter_id") != recruiter_id:
        return RejectionReason.FORBIDDEN
    if target.get("open") is False:
        return RejectionReason.JOB_CLOSED
    if entry is not None and (entry.job_id == target_id or target_prospect_id(entry, target_id) in entries):
        return RejectionReason.SAME_JOB
    return None


def _suggest(state: BoardState, r: Received[SuggestProspects], outcome: Outcome) -> None:
    """Each person an `inquiry.received` for the target job (board `internal`), with a
    `board_inquiry_id` derived from (command, prospect): a repeat registers nobody twice."""
    command = r.data
    target = state.jobs.get(command.job_id)

    def consider(entry: Entry) -> None:
        profile = {k: v for k, v in entry.profile.items() if k in INQUIRY_PROFILE}
        data = InquiryReceived.model_validate({
            "job_id": command.job_id, "board": "internal",
            "board_inquiry_id": ids.derive("suggest", r.event.id, entry.prospect_id),
            "prospect": profile, "inquired_at": r.time,
            "referred_from": {"job_id": entry.job_id, "prospect_id": entry.prospect_id}})
        outcome.events.append(_event("inquiry.received", data, r.event.id, entry.prospect_id, topics.INQUIRIES,
                                     what=f"suggest:{entry.prospect_id}"))
        outcome.note(entry.prospect_id, "considered", r.time, job_id=command.job_id,
                     job_title=(target or {}).get("title"))

    _command(state, r, outcome, command.recruiter_id, command.prospect_ids, consider,
             refused=lambda entry: suggestion_refused(entry, command.recruiter_id, command.job_id, target, state.entries))


INQUIRY_PROFILE = frozenset(ProspectProfile.model_fields)


def _command(state: BoardState, r: Received, outcome: Outcome, recruiter_id: str, prospect_ids: list[str],
             change: Callable[[Entry], None], refused: Callable[[Entry | None], RejectionReason | None] | None = None) -> None:
    accepted, rejected = [], []
    for pid in dict.fromkeys(prospect_ids):  # each id once, in the order given
        entry = state.entries.get(pid)
        reason = refused(entry) if refused is not None else check_access(entry, recruiter_id)
        if reason is not None:
            rejected.append({"prospect_id": pid, "reason": reason})
            continue
        accepted.append(pid)
        change(state.entries[pid])
    result = CommandCompleted(command_id=r.event.id, command_type=r.event.type, recruiter_id=recruiter_id,
                              accepted=accepted, rejected=rejected)
    outcome.events.append(_event("command.completed", result, r.event.id, recruiter_id, topics.COMMAND_RESULTS, what=""))


def _flag_changed(outcome: Outcome, entry: Entry, cause: FollowUpCause, command_id: str | None, at: datetime) -> None:
    """The flag moved (`entry` holds its new state): the event, and the line in the history."""
    outcome.events.append(_flag_event(entry, cause, command_id, outcome.cause_id))
    outcome.note(entry.prospect_id, "flag", at, flagged=entry.flagged, cause=cause.value)


def _flag_event(entry: Entry, cause: FollowUpCause, command_id: str | None, cause_id: str) -> Outgoing:
    data = FollowUpFlagChanged(prospect_id=entry.prospect_id, job_id=entry.job_id,
                               recruiter_id=entry.recruiter_id or "unassigned", flagged=entry.flagged, cause=cause,
                               command_id=command_id)
    return _event("prospect.follow_up_flag_changed", data, cause_id, entry.prospect_id, topics.ASSESSMENTS)


def _event(kind: str, data: BaseModel, cause_id: str, key: str, topic: str, what: str | None = None) -> Outgoing:
    event = new_event(event_id=ids.event_id(cause_id, f"{kind}:{key if what is None else what}"), source=SOURCE,
                      type=kind, data=data, correlationid=cause_id)
    return Outgoing(topic, key, event)


def decide(r: Received, state: BoardState) -> Outcome:
    """What one input does, given the batch's state (which it updates)."""
    outcome = Outcome(r.event.id)
    decision = DECISIONS.get(r.event.type)
    if decision is not None:
        decision(state, r, outcome)
    return outcome


DECISIONS: dict[str, Callable[[BoardState, Received[Any], Outcome], None]] = {
    "job.opened": _job, "job.updated": _job, "job.closed": _job_closed,
    "prospect.registered": _prospect, "prospect.inquired_again": _prospect,
    "message.sent": _message_sent, "message.failed": _message_failed,
    "message.replied": _message_replied, "message.auto_replied": _message_auto_replied,
    "message.bounced": _message_bounced, "message.complained": _message_complained,
    "prospects.rate": _rate, "prospects.flag_follow_up": _flag, "prospects.suggest": _suggest,
}
"""The dispatch table: input type -> decision. Types not listed change nothing."""
