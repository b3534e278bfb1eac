"""Messaging's decisions, without I/O: who may be messaged, what the message says, how an
SMTP failure is classified."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared import ids
from shared.contract import (
    CommandCompleted, JobClosed, JobOpened, ProspectOptedOut, ProspectRegistered, RejectionReason, SendMessages,
    Template,
)
from shared.messages import Received

NEEDS_LINK: dict[str, str] = {Template.ASK_TO_APPLY: "apply_url", Template.ARRANGE_INTERVIEW: "interview_url"}


def check(contact: dict[str, Any] | None, job: dict[str, Any] | None, recruiter_id: str, template: str,
          suppressed: bool, bounced: bool = False) -> RejectionReason | None:
    if contact is None:
        return RejectionReason.UNKNOWN_PROSPECT
    if job is None or job.get("recruiter", {}).get("recruiter_id") != recruiter_id:
        return RejectionReason.FORBIDDEN
    if job.get("open") is False:
        return RejectionReason.JOB_CLOSED
    if suppressed:
        return RejectionReason.OPTED_OUT
    if bounced:
        return RejectionReason.BOUNCED
    link = NEEDS_LINK.get(template)
    if link and not job.get(link):
        return RejectionReason.MISSING_LINK
    return None


def first_name(name: str) -> str:
    return name.split()[0] if name.split() else name


def context(contact: dict[str, Any], job: dict[str, Any], note: str | None) -> dict[str, Any]:
    recruiter = job["recruiter"]
    return {
        "prospect": {"name": contact["name"], "first_name": first_name(contact["name"]), "email": contact["email"]},
        "job": {k: job.get(k) for k in ("job_id", "title", "company", "location", "apply_url", "interview_url")},
        "recruiter": {k: recruiter.get(k) for k in ("recruiter_id", "name", "email")},
        "note": note,
    }


def is_permanent(code: int | None) -> bool:
    """5xx replies are permanent; 4xx and no reply at all (connection trouble) are transient."""
    return code is not None and 500 <= code < 600


def decide_send(command_id: str, command: SendMessages, contacts: dict[str, dict[str, Any]],
                jobs: dict[str, dict[str, Any]], suppressed: set[str], *, send_id: str | None = None,
                at: Any = None, bounced: set[str] | frozenset[str] = frozenset(),
                custom: dict[str, Any] | None = None) -> tuple[CommandCompleted, list[dict[str, Any]]]:
    """A `messages.send` against what is known: its result (each id accepted or rejected with
    the reason) and the messages to queue, one per accepted prospect, with ids derived from
    (command, prospect) so a redelivery queues the same ones. `send_id` groups the commands of
    one send (the command's `correlationid`; the command itself when it has none), so its
    progress can be read back. `custom` is the recruiter's own template the command names
    (`custom:<id>`), already found to be theirs; None for a built-in one."""
    template = str(command.template)  # a built-in, or `custom:<id>` (its text is in `custom`)
    accepted, rejected, messages = [], [], []
    for pid in dict.fromkeys(command.prospect_ids):
        contact = contacts.get(pid)
        job = jobs.get(contact["job_id"]) if contact else None
        reason = check(contact, job, command.recruiter_id, template,
                       suppressed=bool(contact and contact["email"] in suppressed),
                       bounced=bool(contact and contact["email"] in bounced))
        if reason is not None:
            rejected.append({"prospect_id": pid, "reason": reason})
            continue
        assert contact is not None and job is not None
        accepted.append(pid)
        messages.append({
            "_id": ids.derive("message", command_id, pid), "command_id": command_id, "prospect_id": pid,
            "job_id": contact["job_id"], "recruiter_id": command.recruiter_id, "template": template,
            "to": contact["email"], "to_name": contact["name"],
            "context": context(contact, job, command.note), "state": "queued", "attempts": 0,
            "send_id": send_id or command_id, "queued_at": at,
            **({"sequence": command.sequence.model_dump()} if command.sequence else {}),
            # A recruiter's own template as it was when sent: a later edit changes no queued mail.
            **({"custom": {"subject": custom["subject"], "text": custom["text"]}} if custom else {}),
        })
    result = CommandCompleted.model_validate({"command_id": command_id, "command_type": "messages.send",
                                              "recruiter_id": command.recruiter_id, "accepted": accepted,
                                              "rejected": rejected})
    return result, messages


def refuse_all(command_id: str, command: SendMessages, reason: RejectionReason) -> CommandCompleted:
    """A command none of whose prospects can be sent it (a template that is not the recruiter's)."""
    return CommandCompleted.model_validate({
        "command_id": command_id, "command_type": "messages.send", "recruiter_id": command.recruiter_id,
        "accepted": [], "rejected": [{"prospect_id": p, "reason": reason} for p in dict.fromkeys(command.prospect_ids)]})


# --- what the state events change: a decision per type, over the batch's changes ------------------


@dataclass
class StateChanges:
    """The writes one batch's state events add up to, merged by key in order."""

    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    recruiters: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    suppressed: dict[str, dict[str, Any]] = field(default_factory=dict)


def _job(changes: StateChanges, r: Received[JobOpened]) -> None:
    job = r.data
    fields = {"recruiter": job.recruiter.model_dump(mode="json"),
              **job.model_dump(mode="json", include={"title", "company", "location", "apply_url", "interview_url"})}
    if r.event.type == "job.opened":
        fields["open"] = True
    changes.jobs.setdefault(job.job_id, {}).update(fields)
    changes.recruiters[job.recruiter.recruiter_id] = job.recruiter.model_dump(mode="json")


def _job_closed(changes: StateChanges, r: Received[JobClosed]) -> None:
    closed = r.data
    changes.jobs.setdefault(closed.job_id, {})["open"] = False


def _prospect(changes: StateChanges, r: Received[ProspectRegistered]) -> None:
    prospect = r.data
    changes.contacts[prospect.prospect_id] = {"job_id": prospect.job_id, "name": prospect.profile.name,
                                              "email": prospect.profile.email}


def _opted_out(changes: StateChanges, r: Received[ProspectOptedOut]) -> None:
    opt_out = r.data
    changes.suppressed.setdefault(opt_out.email, {"reason": opt_out.reason, "at": r.time})


STATE_DECISIONS: dict[str, Callable[[StateChanges, Received[Any]], None]] = {
    "job.opened": _job, "job.updated": _job, "job.closed": _job_closed,
    "prospect.registered": _prospect, "prospect.inquired_again": _prospect,
    "prospect.opted_out": _opted_out,
}
"""The dispatch table of state events: input type -> decision. Types not listed change nothing."""


def state_changes(events: list[Received]) -> StateChanges:
    changes = StateChanges()
    for r in events:
        decision = STATE_DECISIONS.get(r.event.type)
        if decision is not None:
            decision(changes, r)
    return changes
