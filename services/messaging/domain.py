"""Messaging's decisions, without I/O: who may be messaged, what the message says, how an
SMTP failure is classified."""

from __future__ import annotations

from typing import Any

from shared.contract import RejectionReason, Template

NEEDS_LINK = {Template.ASK_TO_APPLY: "apply_url", Template.ARRANGE_INTERVIEW: "interview_url"}


def check(contact: dict[str, Any] | None, job: dict[str, Any] | None, recruiter_id: str, template: Template,
          suppressed: bool) -> RejectionReason | None:
    if contact is None:
        return RejectionReason.UNKNOWN_PROSPECT
    if job is None or job.get("recruiter", {}).get("recruiter_id") != recruiter_id:
        return RejectionReason.FORBIDDEN
    if job.get("open") is False:
        return RejectionReason.JOB_CLOSED
    if suppressed:
        return RejectionReason.OPTED_OUT
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
