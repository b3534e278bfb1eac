"""Each decision's whole outcome, compared exactly: every field written, every line of history,
every event with its id, topic, key and data. What a recruiter app reads back is all of this, so
a decision that writes one field differently is a change they would notice (and mutation
testing, `make mutation`, checks that these tests notice it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.messaging import domain as messaging
from services.rating import domain as rating
from shared import ids, topics, views
from shared.contract import SendMessages
from tests.unit.test_rating_decisions import T0, entry, received, state

NOW = "now"


def plain(outcome: rating.Outcome) -> dict[str, Any]:
    """The outcome's document, with its clock readings (`updated_at`, event `time`) replaced."""
    doc = outcome.document()
    for write in doc["board"]:
        assert write["set"]["updated_at"].tzinfo is not None  # UTC, whatever the host's zone
        write["set"] = {k: v for k, v in write["set"].items() if k != "updated_at"}
    doc["events"] = [{**e, "event": {k: v for k, v in e["event"].items() if k != "time"}} for e in doc["events"]]
    return doc


def event(kind: str, cause: str, what: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"specversion": "1.0", "id": ids.event_id(cause, f"{kind}:{what}"), "source": "prospectflow/rating",
            "type": kind, "datacontenttype": "application/json", "data": data, "correlationid": cause}


def line(by: str, kind: str, pid: str, at: datetime, order: int, **details: Any) -> dict[str, Any]:
    return {"_id": ids.derive("history", by, kind, pid), "prospect_id": pid, "kind": kind, "at": at,
            "order": order, **details}


JOB = {"job_id": "job-42", "title": "Backend Engineer", "company": "Acme",
       "recruiter": {"recruiter_id": "rec-7", "name": "Dana", "email": "dana@acme.example", "timezone": "Europe/Berlin"}}
REGISTERED = {"prospect_id": "p1", "person_id": "x1", "job_id": "job-42",
              "profile": {"name": "Lee Park", "email": "lee@example.com", "phone": "+49 1"},
              "inquiry": {"board": "acme-board", "board_inquiry_id": "B-1", "message": "Hi",
                          "inquired_at": "2026-11-20T09:29:00Z"}}


def test_job_opened_records_the_job_and_joins_its_prospects():
    board = rating.BoardState(entries={"p1": entry(recruiter_id=None, job_open=None), "p2": entry("p2", job_id="other")},
                              jobs={})
    outcome = rating.decide(received("job.opened", JOB, "jobs"), board)
    job_doc = {"recruiter_id": "rec-7", "title": "Backend Engineer", "company": "Acme", "open": True,
               "timezone": "Europe/Berlin", "closed_at": None}
    assert plain(outcome) == {"_id": "e1", "board": [], "jobs": [{"id": "job-42", "set": job_doc}],
                              "joins": [{"id": "job-42", "set": {"recruiter_id": "rec-7", "job_open": True,
                                                                 "job_title": "Backend Engineer"}}],
                              "history": [], "events": []}
    assert board.jobs["job-42"] == job_doc
    assert board.entries["p1"].recruiter_id == "rec-7" and board.entries["p1"].job_open is True
    assert board.entries["p2"] == entry("p2", job_id="other")  # another job's prospect untouched


def test_job_updated_keeps_whether_the_job_is_open():
    board = rating.BoardState(entries={}, jobs={"job-42": {"open": False}})
    updated = rating.decide(received("job.updated", {**JOB, "title": "Staff Engineer"}, "jobs"), board)
    assert plain(updated)["jobs"][0]["set"]["open"] is False
    assert plain(updated)["joins"] == [{"id": "job-42", "set": {"recruiter_id": "rec-7", "job_open": False,
                                                                 "job_title": "Staff Engineer"}}]
    unknown = rating.decide(received("job.updated", JOB, "jobs"), rating.BoardState(entries={}, jobs={}))
    assert plain(unknown)["jobs"][0]["set"]["open"] is True


def test_job_closed():
    board = rating.BoardState(entries={"p1": entry()}, jobs={"job-42": {"recruiter_id": "rec-7", "open": True}})
    outcome = rating.decide(received("job.closed", {"job_id": "job-42"}, "jobs"), board)
    closed_at = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)  # the event's time: retention counts from it
    assert plain(outcome) == {"_id": "e1", "board": [], "jobs": [{"id": "job-42", "set": {"open": False,
                                                                                         "closed_at": closed_at}}],
                              "joins": [{"id": "job-42", "set": {"job_open": False}}], "history": [], "events": []}
    assert board.jobs["job-42"] == {"recruiter_id": "rec-7", "open": False}
    assert board.entries["p1"].job_open is False and board.entries["p1"].recruiter_id == "rec-7"


def test_a_first_registration():
    board = rating.BoardState(entries={}, jobs={"job-42": {"recruiter_id": "rec-7", "open": True,
                                                          "title": "Backend Engineer"}})
    outcome = rating.decide(received("prospect.registered", REGISTERED, "prospects"), board)
    fields = {"job_id": "job-42", "recruiter_id": "rec-7", "job_open": True, "job_title": "Backend Engineer",
              "rating": "unrated", "flagged": False, "waiting_since": T0,
              "profile": {"name": "Lee Park", "email": "lee@example.com", "phone": "+49 1", "skills": []},
              "last_inquired_at": T0, "board": "acme-board"}
    assert plain(outcome) == {
        "_id": "e1", "board": [{"id": "p1", "set": fields}], "jobs": [], "joins": [],
        "history": [line("e1", "inquiry", "p1", T0, 0, board="acme-board", board_inquiry_id="B-1", message="Hi")],
        "events": []}
    assert board.entries["p1"] == rating.Entry(prospect_id="p1", job_id="job-42", waiting_since=T0,
                                               recruiter_id="rec-7", job_open=True, profile=fields["profile"])


def test_an_inquiry_again_of_an_unflagged_prospect_updates_the_profile_only():
    again = received("prospect.inquired_again", {**REGISTERED, "inquiry": {**REGISTERED["inquiry"],
                                                                          "inquired_at": "2026-11-25T09:00:00Z"}},
                     "prospects")
    board = state(p1=entry())
    outcome = rating.decide(again, board)
    at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert plain(outcome)["board"] == [{"id": "p1", "set": {
        "profile": {"name": "Lee Park", "email": "lee@example.com", "phone": "+49 1", "skills": []},
        "last_inquired_at": at, "board": "acme-board"}}]
    assert plain(outcome)["events"] == []
    assert board.entries["p1"].waiting_since == T0  # still waiting since the first


def test_an_inquiry_again_of_a_flagged_prospect_unflags_it():
    again = received("prospect.inquired_again", {**REGISTERED, "inquiry": {**REGISTERED["inquiry"],
                                                                          "inquired_at": "2026-11-25T09:00:00Z"}},
                     "prospects")
    outcome = rating.decide(again, state(p1=entry(flagged=True)))
    at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    doc = plain(outcome)
    assert doc["board"][0]["set"]["flagged"] is False and doc["board"][0]["set"]["waiting_since"] == at
    assert doc["events"] == [{"topic": topics.ASSESSMENTS, "key": "p1", "event": event(
        "prospect.follow_up_flag_changed", "e1", "p1",
        {"prospect_id": "p1", "job_id": "job-42", "recruiter_id": "rec-7", "flagged": False, "cause": "new_inquiry"})}]
    assert doc["history"][1] == line("e1", "flag", "p1", at, 1, flagged=False, cause="new_inquiry")


SENT = {"message_id": "m1", "command_id": "c1", "prospect_id": "p1", "job_id": "job-42", "recruiter_id": "rec-7",
        "template": "ask_to_apply", "to": "lee@example.com", "subject": "Next step", "sent_at": "2026-11-25T09:31:00Z"}
SENT_AT = datetime(2026, 11, 25, 9, 31, tzinfo=UTC)


def test_a_sent_message_exactly():
    outcome = rating.decide(received("message.sent", SENT, "messages"), state(p1=entry()))
    last = {"template": "ask_to_apply", "sent_at": SENT_AT, "message_id": "m1", "status": "sent"}
    assert plain(outcome) == {
        "_id": "e1", "board": [{"id": "p1", "set": {"last_message": last, "flagged": True, "replied": False}}], "jobs": [], "joins": [],
        "history": [line("e1", "message", "p1", SENT_AT, 0, template="ask_to_apply", status="sent",
                         subject="Next step", message_id="m1"),
                    line("e1", "flag", "p1", SENT_AT, 1, flagged=True, cause="message_sent")],
        "events": [{"topic": topics.ASSESSMENTS, "key": "p1", "event": event(
            "prospect.follow_up_flag_changed", "e1", "p1",
            {"prospect_id": "p1", "job_id": "job-42", "recruiter_id": "rec-7", "flagged": True,
             "cause": "message_sent", "command_id": "c1"})}]}
    already = rating.decide(received("message.sent", SENT, "messages"), state(p1=entry(flagged=True)))
    assert plain(already)["events"] == [] and "flagged" not in plain(already)["board"][0]["set"]
    unknown = rating.decide(received("message.sent", SENT, "messages"), state())
    assert plain(unknown)["board"] == [] and plain(unknown)["history"] == []


def test_a_failed_message_exactly():
    failed = {**{k: SENT[k] for k in ("message_id", "command_id", "prospect_id", "job_id", "recruiter_id", "template")},
              "reason": "550 no such user", "attempts": 2, "permanent": True}
    outcome = rating.decide(received("message.failed", failed, "messages"), state(p1=entry()))
    at = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)  # the event's time
    assert plain(outcome) == {
        "_id": "e1", "jobs": [], "joins": [], "events": [],
        "board": [{"id": "p1", "set": {"last_message": {"template": "ask_to_apply", "sent_at": at, "message_id": "m1",
                                                        "status": "failed", "reason": "550 no such user"}}}],
        "history": [line("e1", "message", "p1", at, 0, template="ask_to_apply", status="failed",
                         reason="550 no such user", permanent=True, message_id="m1")]}
    assert plain(rating.decide(received("message.failed", failed, "messages"), state()))["board"] == []


def test_rate_and_flag_commands_exactly():
    at = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    board = state(p1=entry(), p2=entry("p2", job_open=False))
    rated = rating.decide(received("prospects.rate", {"recruiter_id": "rec-7", "prospect_ids": ["p1", "p2", "p1"],
                                                      "rating": "not_a_fit"}, "rating-commands", "c1"), board)
    completed = {"command_id": "c1", "command_type": "prospects.rate", "recruiter_id": "rec-7",
                 "accepted": ["p1"], "rejected": [{"prospect_id": "p2", "reason": "job_closed"}]}
    assert plain(rated) == {
        "_id": "c1", "board": [{"id": "p1", "set": {"rating": "not_a_fit"}}], "jobs": [], "joins": [],
        "history": [line("c1", "rated", "p1", at, 0, rating="not_a_fit", previous_rating="unrated")],
        "events": [{"topic": topics.ASSESSMENTS, "key": "p1", "event": event("prospect.rated", "c1", "p1", {
                        "prospect_id": "p1", "job_id": "job-42", "recruiter_id": "rec-7", "rating": "not_a_fit",
                        "previous_rating": "unrated", "command_id": "c1"})},
                   {"topic": topics.COMMAND_RESULTS, "key": "rec-7",
                    "event": event("command.completed", "c1", "", completed)}]}
    unflag = rating.decide(received("prospects.flag_follow_up", {"recruiter_id": "rec-7", "prospect_ids": ["p1"],
                                                                 "flagged": True}, "rating-commands", "c2"), board)
    assert plain(unflag)["board"] == [{"id": "p1", "set": {"flagged": True, "waiting_since": T0, "replied": False}}]
    assert plain(unflag)["events"][0]["event"]["data"] == {"prospect_id": "p1", "job_id": "job-42",
                                                           "recruiter_id": "rec-7", "flagged": True,
                                                           "cause": "recruiter", "command_id": "c2"}
    again = rating.decide(received("prospects.flag_follow_up", {"recruiter_id": "rec-7", "prospect_ids": ["p1"],
                                                                "flagged": False}, "rating-commands", "c3"), board)
    assert plain(again)["board"] == [{"id": "p1", "set": {"flagged": False, "waiting_since": at}}]  # waits anew
    assert plain(again)["history"] == [line("c3", "flag", "p1", at, 0, flagged=False, cause="recruiter")]


def test_a_prospect_before_its_job():
    board = rating.BoardState(entries={}, jobs={})
    outcome = rating.decide(received("prospect.registered", REGISTERED, "prospects"), board)
    fields = plain(outcome)["board"][0]["set"]
    assert fields["recruiter_id"] is None and fields["job_open"] is None and fields["job_title"] is None
    assert board.entries["p1"].recruiter_id is None and not board.entries["p1"].needs_follow_up


# --- messaging ---------------------------------------------------------------------------------

CONTACT = {"job_id": "job-42", "name": "Lee  Park", "email": "lee@example.com"}
MJOB = {"title": "Backend Engineer", "company": "Acme", "location": "Berlin", "apply_url": "https://a.example/apply",
        "interview_url": None, "open": True, "job_id": "job-42",
        "recruiter": {"recruiter_id": "rec-7", "name": "Dana", "email": "dana@acme.example", "timezone": "UTC"}}


def test_decide_send_exactly():
    command = SendMessages(recruiter_id="rec-7", template="ask_to_apply", note="Hello",
                           prospect_ids=["p1", "p1", "gone", "out", "closed", "theirs"])
    contacts = {"p1": CONTACT, "out": {**CONTACT, "email": "out@example.com"},
                "closed": {**CONTACT, "job_id": "job-9"}, "theirs": {**CONTACT, "job_id": "job-8"}}
    jobs = {"job-42": MJOB, "job-9": {**MJOB, "open": False},
            "job-8": {**MJOB, "recruiter": {**MJOB["recruiter"], "recruiter_id": "rec-8"}}}
    result, queued = messaging.decide_send("c1", command, contacts, jobs, {"out@example.com"})
    assert result.model_dump(mode="json") == {
        "command_id": "c1", "command_type": "messages.send", "recruiter_id": "rec-7", "accepted": ["p1"],
        "rejected": [{"prospect_id": "gone", "reason": "unknown_prospect"},
                     {"prospect_id": "out", "reason": "opted_out"},
                     {"prospect_id": "closed", "reason": "job_closed"},
                     {"prospect_id": "theirs", "reason": "forbidden"}]}
    assert queued == [{
        "_id": ids.derive("message", "c1", "p1"), "command_id": "c1", "prospect_id": "p1", "job_id": "job-42",
        "recruiter_id": "rec-7", "template": "ask_to_apply", "to": "lee@example.com", "to_name": "Lee  Park",
        "context": {"prospect": {"name": "Lee  Park", "first_name": "Lee", "email": "lee@example.com"},
                    "job": {"job_id": "job-42", "title": "Backend Engineer", "company": "Acme", "location": "Berlin",
                            "apply_url": "https://a.example/apply", "interview_url": None},
                    "recruiter": {"recruiter_id": "rec-7", "name": "Dana", "email": "dana@acme.example"},
                    "note": "Hello"},
        "state": "queued", "attempts": 0, "send_id": "c1", "queued_at": None}]
    in_a_send = messaging.decide_send("c4", command, contacts, jobs, set(), send_id="s1", at=T0)[1]
    assert {(m["send_id"], m["queued_at"]) for m in in_a_send} == {("s1", T0)}
    interview = SendMessages(recruiter_id="rec-7", template="arrange_interview", prospect_ids=["p1"])
    assert messaging.decide_send("c2", interview, contacts, jobs, set())[0].rejected[0].reason == "missing_link"
    no_match = SendMessages(recruiter_id="rec-7", template="not_a_match", prospect_ids=["p1"])
    assert messaging.decide_send("c3", no_match, contacts, jobs, set())[0].accepted == ["p1"]


def test_first_names_and_permanent_codes():
    assert messaging.first_name("Lee Park") == "Lee" and messaging.first_name("  ") == "  "
    assert messaging.first_name("Madonna") == "Madonna"
    assert [messaging.is_permanent(c) for c in (None, 250, 451, 499, 500, 550, 599, 600)] == [
        False, False, False, False, True, True, True, False]


# --- the views ---------------------------------------------------------------------------------


def test_view_queries_exactly():
    assert views.view_query("rec-7", "needs_follow_up") == {"recruiter_id": "rec-7", "job_open": True, "flagged": False}
    assert views.view_query("rec-7", "shortlist") == {"recruiter_id": "rec-7", "job_open": True, "rating": "shortlist"}
    assert views.view_query("rec-7", "not_a_fit") == {"recruiter_id": "rec-7", "job_open": True, "rating": "not_a_fit"}
    assert views.views_holding(flagged=False, job_open=True, rating="shortlist") == ["all", "needs_follow_up", "shortlist"]
    assert views.views_holding(flagged=True, job_open=True, rating="not_a_fit") == ["all", "not_a_fit"]
    assert views.views_holding(flagged=False, job_open=False, rating="shortlist") == ["all"]
    assert views.views_holding(flagged=None, job_open=None, rating=None) == ["all"]
    assert views.view_query("rec-7", "all") == {"recruiter_id": "rec-7"}
    assert views.view_query("rec-7", "all", "job-42") == {"recruiter_id": "rec-7", "job_id": "job-42"}
    assert views.needs_follow_up(flagged=False, job_open=True)
    assert not views.needs_follow_up(flagged=True, job_open=True)
    assert not views.needs_follow_up(flagged=False, job_open=False)
    assert not views.needs_follow_up(flagged=False, job_open=None)


# --- reminder ----------------------------------------------------------------------------------


def test_the_reminder_data_exactly():
    from datetime import date

    from services.reminder import domain as reminders

    waiting = [reminders.Waiting("p2", "job-9", "Sam", "shortlist", datetime(2026, 11, 21, tzinfo=UTC)),
               reminders.Waiting("p1", "job-42", "Lee", "unrated", datetime(2026, 11, 20, tzinfo=UTC)),
               reminders.Waiting("p3", "job-42", "Alex", "unrated", datetime(2026, 11, 22, tzinfo=UTC))]
    schedule = reminders.Schedule("rec-7", "Europe/Berlin", 8)
    assert reminders.reminder(schedule, date(2026, 11, 26), waiting, {"job-42": "Backend Engineer"}) == {
        "reminder_id": ids.derive("reminder", "rec-7", "2026-11-26"), "recruiter_id": "rec-7", "date": "2026-11-26",
        "timezone": "Europe/Berlin", "pending_total": 3, "counts": {"unrated": 2, "shortlist": 1, "not_a_fit": 0},
        "oldest_pending_since": datetime(2026, 11, 20, tzinfo=UTC),
        "jobs": [{"job_id": "job-42", "title": "Backend Engineer", "pending": 2},
                 {"job_id": "job-9", "title": "", "pending": 1}],
        "prospects": [{"prospect_id": p, "job_id": j, "name": n, "rating": r, "waiting_since": w.waiting_since}
                      for w, (p, j, n, r) in zip(sorted(waiting, key=lambda w: w.waiting_since),
                                                 [("p1", "job-42", "Lee", "unrated"), ("p2", "job-9", "Sam", "shortlist"),
                                                  ("p3", "job-42", "Alex", "unrated")])],
        "replied": 0}
    assert reminders.reminder(schedule, date(2026, 11, 26), [], {}) is None
    answered = reminders.Pending(waiting)
    answered.count("job-42", "unrated", 2, replied=2)
    assert reminders.reminder(schedule, date(2026, 11, 26), answered, {})["replied"] == 2


def test_who_is_waiting_changes_exactly():
    from services.reminder import domain as reminders
    from shared.contract import EVENT_TYPES

    def data(kind: str, value: dict[str, Any]) -> Any:
        return EVENT_TYPES[kind].model_validate(value)

    at = datetime(2026, 11, 25, 10, tzinfo=UTC)
    job = {**JOB, "recruiter": {**JOB["recruiter"], "reminder_hour": 9}}
    changes = reminders.follow_up_changes([
        ("job.opened", data("job.opened", job), at),
        ("job.updated", data("job.updated", {**job, "title": "Staff"}), at),
        ("prospect.registered", data("prospect.registered", REGISTERED), at),
        ("prospect.rated", data("prospect.rated", {"prospect_id": "p1", "job_id": "job-42", "recruiter_id": "rec-7",
                                                   "rating": "shortlist", "previous_rating": "unrated",
                                                   "command_id": "c1"}), at),
        ("prospect.follow_up_flag_changed", data("prospect.follow_up_flag_changed", {
            "prospect_id": "p1", "job_id": "job-42", "recruiter_id": "rec-7", "flagged": True, "cause": "recruiter"}), at),
        ("prospect.follow_up_flag_changed", data("prospect.follow_up_flag_changed", {
            "prospect_id": "p1", "job_id": "job-42", "recruiter_id": "rec-7", "flagged": False,
            "cause": "new_inquiry"}), at),
        ("job.closed", data("job.closed", {"job_id": "job-42"}), at),
        ("reminders.run", None, at),
    ])
    assert changes.jobs == [("job-42", {"recruiter_id": "rec-7", "title": "Backend Engineer", "open": True}),
                            ("job-42", {"recruiter_id": "rec-7", "title": "Staff"}), ("job-42", {"open": False})]
    assert changes.joins == [("job-42", {"recruiter_id": "rec-7", "job_open": True}),
                             ("job-42", {"recruiter_id": "rec-7"}), ("job-42", {"job_open": False})]
    assert changes.recruiters == [("rec-7", {"timezone": "Europe/Berlin", "reminder_hour": 9})] * 2
    assert changes.prospects == [
        reminders.ProspectChange("p1", {"job_id": "job-42", "name": "Lee Park"}, {"flagged": False, "rating": "unrated"},
                                 {"waiting_since": T0}),
        reminders.ProspectChange("p1", {"rating": "shortlist"}, {"flagged": False}),
        reminders.ProspectChange("p1", {"flagged": True, "replied": False}),
        reminders.ProspectChange("p1", {"flagged": False, "replied": False, "waiting_since": at})]
    assert changes.registered == [("p1", "job-42")]
    assert reminders.joins_for_registered(changes, {}) == [
        reminders.ProspectChange("p1", {"recruiter_id": "rec-7", "job_open": False})]
    unknown_job = reminders.follow_up_changes([("prospect.registered", data("prospect.registered", REGISTERED), at)])
    assert reminders.joins_for_registered(unknown_job, {}) == []
    assert reminders.joins_for_registered(unknown_job, {"job-42": {"recruiter_id": "rec-9"}}) == [
        reminders.ProspectChange("p1", {"recruiter_id": "rec-9", "job_open": True})]


# --- intake and the contract -------------------------------------------------------------------


def test_new_event_exactly():
    from shared.contract import JobClosed, new_event

    at = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    assert new_event(event_id="e1", source="s", type="job.closed", data=JobClosed(job_id="j"), time=at,
                     correlationid="c") == {
        "specversion": "1.0", "id": "e1", "source": "s", "type": "job.closed", "time": "2026-11-25T09:30:00Z",
        "datacontenttype": "application/json", "data": {"job_id": "j"}, "correlationid": "c"}
    assert "correlationid" not in new_event(event_id="e1", source="s", type="job.closed", data=JobClosed(job_id="j"))
    from shared.contract import MessageSent

    sent = new_event(event_id="e2", source="s", type="message.sent", data=MessageSent.model_validate(SENT))
    assert sent["data"]["sent_at"] == "2026-11-25T09:31:00Z"  # JSON-ready: the publisher encodes it as is
    import pytest

    with pytest.raises(ValueError):
        new_event(event_id="e1", source="s", type="job.exploded", data=JobClosed(job_id="j"))


def test_documented_envelopes_name_and_pin_their_type():
    from shared.contract import EVENT_TYPES, documented_envelope

    model = documented_envelope("prospect.follow_up_flag_changed")
    assert model.__name__ == "ProspectFollowUpFlagChangedEvent"
    assert (model.__doc__ or "").startswith("`prospect.follow_up_flag_changed`: ")
    schema = model.model_json_schema()
    assert schema["properties"]["type"]["const"] == "prospect.follow_up_flag_changed"
    assert "data" in schema["required"]
    assert schema["properties"]["type"]["description"] == "the event type"
    from shared.contract import CloudEvent

    for kind in EVENT_TYPES:
        envelope = documented_envelope(kind)
        assert issubclass(envelope, CloudEvent) and envelope.model_fields["data"].annotation is EVENT_TYPES[kind]
        assert envelope.model_fields["data"].is_required()
        assert envelope.model_json_schema()["properties"]["type"]["const"] == kind


def test_an_inquiry_from_its_event_exactly():
    from services.intake import domain as intake
    from shared.contract import InquiryReceived

    data = InquiryReceived.model_validate({"job_id": "job-42", "board": "acme-board", "board_inquiry_id": "B-1",
                                           "message": "Hi", "prospect": {"name": "Lee Park", "email": " Lee@Example.com ",
                                                                         "phone": "", "skills": []}})
    at = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    assert intake.inquiry_from_event("e1", data, at) == intake.Inquiry(
        event_id="e1", prospect_id=ids.prospect_id("job-42", "lee@example.com"),
        person_id=ids.person_id("lee@example.com"), job_id="job-42", board="acme-board", board_inquiry_id="B-1",
        profile={"name": "Lee Park", "email": "lee@example.com"}, message="Hi", inquired_at=at)
    assert intake.merge_profile({"name": "Lee", "phone": "1"}, {"name": "Lee Park", "phone": "", "skills": []}) == {
        "name": "Lee Park", "phone": "1"}


def test_a_job_opened_again_reopens_it_and_a_later_inquiry_moves_the_wait():
    board = rating.BoardState(entries={"p1": entry(flagged=True)}, jobs={"job-42": {"open": False}})
    reopened = rating.decide(received("job.opened", JOB, "jobs"), board)
    assert plain(reopened)["jobs"][0]["set"]["open"] is True and board.entries["p1"].job_open is True
    again = received("prospect.inquired_again", {**REGISTERED, "inquiry": {**REGISTERED["inquiry"],
                                                                          "inquired_at": "2026-11-25T09:00:00Z"}},
                     "prospects", "e2")
    rating.decide(again, board)
    assert board.entries["p1"].waiting_since == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert board.entries["p1"].profile == {"name": "Lee Park", "email": "lee@example.com", "phone": "+49 1", "skills": []}
    closed_unknown = rating.BoardState(entries={}, jobs={})
    rating.decide(received("job.closed", {"job_id": "job-new"}, "jobs"), closed_unknown)
    assert closed_unknown.jobs == {"job-new": {"open": False}}


def test_reminder_jobs_most_waiting_first_then_by_id():
    from datetime import date

    from services.reminder import domain as reminders

    at = datetime(2026, 11, 20, tzinfo=UTC)
    waiting = [reminders.Waiting("p1", "job-a", "A", "unrated", at),
               *(reminders.Waiting(f"z{n}", "job-z", "Z", "unrated", at) for n in range(2)),
               *(reminders.Waiting(f"m{n}", "job-m", "M", "unrated", at) for n in range(2))]
    data = reminders.reminder(reminders.Schedule("rec-7", "UTC", 8), date(2026, 11, 26), reminders.Pending(waiting), {})
    assert data is not None
    assert [j["job_id"] for j in data["jobs"]] == ["job-m", "job-z", "job-a"]
