"""One valid `data` per contract event type: the seeds of the fuzzers (tests/unit/test_fuzz_contract.py)."""

from __future__ import annotations

from typing import Any

_JOB = {"job_id": "job-42", "title": "Backend Engineer", "company": "Acme", "location": "Berlin",
        "apply_url": "https://acme.example/jobs/42/apply",
        "recruiter": {"recruiter_id": "rec-7", "name": "Dana Smith", "email": "dana@acme.example",
                      "timezone": "Europe/Berlin", "reminder_hour": 8}}
_PROSPECT = {"prospect_id": "p-1", "person_id": "person-1", "job_id": "job-42",
             "profile": {"name": "Lee Park", "email": "lee@example.com"},
             "inquiry": {"board": "acme-board", "inquired_at": "2026-11-20T09:29:00Z"}}
_MESSAGE = {"message_id": "m-1", "command_id": "c-1", "prospect_id": "p-1", "job_id": "job-42",
            "recruiter_id": "rec-7", "template": "ask_to_apply"}

_ANSWER = {"message_id": "m-1", "prospect_id": "p-1", "job_id": "job-42", "recruiter_id": "rec-7",
           "received_at": "2026-11-25T10:00:00Z"}

_ENROLLMENT = {"enrollment_id": "en-1", "sequence_id": "s-1", "version": 1, "prospect_id": "p-1", "job_id": "job-42",
               "recruiter_id": "rec-7"}

SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "job.opened": _JOB,
    "job.updated": _JOB,
    "job.closed": {"job_id": "job-42"},
    "inquiry.received": {"job_id": "job-42", "board": "acme-board",
                         "prospect": {"name": "Lee Park", "email": "lee@example.com"}},
    "prospect.opted_out": {"email": "lee@example.com"},
    "prospect.registered": _PROSPECT,
    "prospect.inquired_again": _PROSPECT,
    "prospects.rate": {"recruiter_id": "rec-7", "prospect_ids": ["p-1"], "rating": "shortlist"},
    "prospects.flag_follow_up": {"recruiter_id": "rec-7", "prospect_ids": ["p-1"], "flagged": True},
    "prospects.suggest": {"recruiter_id": "rec-7", "prospect_ids": ["p-1"], "job_id": "job-43"},
    "messages.send": {"recruiter_id": "rec-7", "prospect_ids": ["p-1"], "template": "ask_to_apply"},
    "reminders.run": {"as_of": "2026-11-25T08:00:00Z"},
    "command.completed": {"command_id": "c-1", "command_type": "prospects.rate", "recruiter_id": "rec-7",
                          "accepted": ["p-1"], "rejected": []},
    "prospect.rated": {"prospect_id": "p-1", "job_id": "job-42", "recruiter_id": "rec-7", "rating": "shortlist",
                       "previous_rating": "unrated", "command_id": "c-1"},
    "prospect.follow_up_flag_changed": {"prospect_id": "p-1", "job_id": "job-42", "recruiter_id": "rec-7",
                                        "flagged": True, "cause": "recruiter", "command_id": "c-1"},
    "message.sent": {**_MESSAGE, "to": "lee@example.com", "subject": "Next step", "sent_at": "2026-11-25T10:00:00Z"},
    "message.failed": {**_MESSAGE, "reason": "550 no such user", "attempts": 1, "permanent": True},
    "message.replied": {**_ANSWER, "from": "lee.park@example.com", "subject": "Re: Next step",
                        "text": "Yes, Tuesday works."},
    "message.auto_replied": {**_ANSWER, "kind": "out_of_office"},
    "message.bounced": {**_ANSWER, "permanent": True, "status": "5.1.1", "diagnostic": "smtp; 550 5.1.1 unknown"},
    "message.complained": dict(_ANSWER),
    "prospect.viewed": {"prospect_id": "p-1", "job_id": "job-42", "recruiter_id": "rec-7",
                        "viewed_at": "2026-11-25T09:40:00Z"},
    "sequences.enroll": {"recruiter_id": "rec-7", "sequence_id": "s-1", "prospect_ids": ["p-1"]},
    "sequences.stop": {"recruiter_id": "rec-7", "prospect_ids": ["p-1"]},
    "sequences.run": {"as_of": "2026-11-25T10:00:00Z"},
    "sequence.enrolled": {**_ENROLLMENT, "command_id": "c-1", "next_step": 1, "next_at": "2026-11-25T10:00:00Z"},
    "sequence.paused": {**_ENROLLMENT, "reason": "out_of_office", "until": "2026-12-14T08:00:00Z"},
    "sequence.resumed": {**_ENROLLMENT, "next_step": 2, "next_at": "2026-12-14T08:00:00Z"},
    "sequence.stopped": {**_ENROLLMENT, "reason": "replied", "steps_sent": 1},
    "sequence.completed": {**_ENROLLMENT, "steps_sent": 3},
    "person.erase": {"email": "lee@example.com", "requested_by": "ops@acme.example", "reason": "request"},
    "person.erased": {"person_id": "person-1", "request_id": "c-9", "service": "rating",
                      "erased_at": "2026-12-07T10:00:00Z", "removed": {"board": 1},
                      "kafka_copies_gone_by": "2027-01-06T10:00:00Z"},
    "follow_up.reminder_due": {"reminder_id": "r-1", "recruiter_id": "rec-7", "date": "2026-11-25",
                               "timezone": "Europe/Berlin", "pending_total": 1,
                               "oldest_pending_since": "2026-11-20T09:29:00Z",
                               "counts": {"unrated": 1, "shortlist": 0, "not_a_fit": 0},
                               "jobs": [{"job_id": "job-42", "title": "Backend Engineer", "pending": 1}],
                               "prospects": [{"prospect_id": "p-1", "job_id": "job-42", "name": "Lee Park",
                                              "rating": "unrated", "waiting_since": "2026-11-20T09:29:00Z"}]},
}
