"""Messaging's and reminder's decision tables, in milliseconds: no Kafka, no database."""

from __future__ import annotations

from datetime import datetime, timezone

from services.messaging import domain as messaging
from services.reminder import domain as reminder
from shared.contract import (
    FollowUpFlagChanged, JobClosed, JobOpened, ProspectRated, ProspectRegistered, SendMessages,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
RECRUITER = {"recruiter_id": "rec-7", "name": "Dana Smith", "email": "dana@acme.example"}


def test_a_send_queues_one_message_per_sendable_prospect_and_says_why_for_the_rest():
    contacts = {p: {"job_id": "job-42", "name": f"Person {p}", "email": f"{p}@example.com"} for p in ("p1", "p2", "p3")}
    contacts["p4"] = {"job_id": "job-other", "name": "Other", "email": "p4@example.com"}
    jobs = {"job-42": {"recruiter": RECRUITER, "title": "Backend Engineer", "company": "Acme", "open": True,
                       "apply_url": "https://acme.example/apply"},
            "job-other": {"recruiter": {**RECRUITER, "recruiter_id": "rec-8"}, "open": True}}
    command = SendMessages(recruiter_id="rec-7", template="ask_to_apply", prospect_ids=["p1", "p2", "p1", "p4", "p9"],
                           note="Hello")
    result, queued = messaging.decide_send("cmd-1", command, contacts, jobs, suppressed={"p2@example.com"})
    assert result.accepted == ["p1"]
    assert [(r.prospect_id, r.reason) for r in result.rejected] == [
        ("p2", "opted_out"), ("p4", "forbidden"), ("p9", "unknown_prospect")]
    assert [m["prospect_id"] for m in queued] == ["p1"]
    assert queued[0]["context"]["note"] == "Hello" and queued[0]["context"]["prospect"]["first_name"] == "Person"
    again, requeued = messaging.decide_send("cmd-1", command, contacts, jobs, suppressed={"p2@example.com"})
    assert [m["_id"] for m in requeued] == [m["_id"] for m in queued]  # a redelivery queues the same ids
    no_link = SendMessages(recruiter_id="rec-7", template="arrange_interview", prospect_ids=["p3"])
    assert messaging.decide_send("cmd-2", no_link, contacts, jobs, set())[0].rejected[0].reason == "missing_link"


def job(job_id: str = "job-42") -> JobOpened:
    return JobOpened.model_validate({"job_id": job_id, "title": "Backend Engineer", "company": "Acme",
                                     "recruiter": {**RECRUITER, "timezone": "Europe/Berlin", "reminder_hour": 7}})


def registered(pid: str = "p1") -> ProspectRegistered:
    return ProspectRegistered.model_validate({
        "prospect_id": pid, "person_id": "x", "job_id": "job-42", "profile": {"name": "Lee Park", "email": "l@example.com"},
        "inquiry": {"board": "b", "inquired_at": "2026-11-20T09:29:00Z"}})


def test_who_is_waiting_follows_jobs_registrations_ratings_and_flags_in_order():
    changes = reminder.follow_up_changes([
        ("prospect.registered", registered(), T0),
        ("job.opened", job(), T0),
        ("prospect.rated", ProspectRated(prospect_id="p1", job_id="job-42", recruiter_id="rec-7", rating="shortlist",
                                         previous_rating="unrated", command_id="c"), T0),
        ("prospect.follow_up_flag_changed", FollowUpFlagChanged(prospect_id="p1", job_id="job-42", recruiter_id="rec-7",
                                                                flagged=False, cause="new_inquiry"), T0),
        ("reminders.run", object(), T0),  # not a state change
    ])
    assert changes.jobs == [("job-42", {"recruiter_id": "rec-7", "title": "Backend Engineer", "open": True})]
    assert changes.recruiters == [("rec-7", {"timezone": "Europe/Berlin", "reminder_hour": 7})]
    assert [c.set for c in changes.prospects] == [{"job_id": "job-42", "name": "Lee Park"}, {"rating": "shortlist"},
                                                  {"flagged": False, "replied": False, "waiting_since": T0}]
    # the new prospect is joined with the job opened later in the same batch
    joined = reminder.joins_for_registered(changes, jobs={})
    assert [(c.prospect_id, c.set) for c in joined] == [("p1", {"recruiter_id": "rec-7", "job_open": True})]
    closed = reminder.follow_up_changes([("job.closed", JobClosed(job_id="job-42"), T0)])
    assert closed.joins == [("job-42", {"job_open": False})] and closed.recruiters == []
