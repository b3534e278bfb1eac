"""Rating's decision table, in milliseconds: each input type against an explicit batch state,
with no Kafka and no database. What a recruiter would notice: who may act, which events go out,
and that a command sees the effect of the one before it in the same batch."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from aiokafka import ConsumerRecord

from services.rating import domain
from shared.kafka import parse_record
from shared.messages import Received

T0 = datetime(2026, 11, 20, 9, 29, tzinfo=timezone.utc)


def received(type_: str, data: dict[str, Any], topic: str, event_id: str = "e1") -> Received:
    value = json.dumps({"specversion": "1.0", "id": event_id, "source": "tests", "type": type_,
                        "time": "2026-11-25T09:30:00Z", "data": data}).encode()
    record = ConsumerRecord(topic=topic, partition=0, offset=1, timestamp=1764063000000, timestamp_type=0, key=b"k",
                            value=value, checksum=None, serialized_key_size=1, serialized_value_size=len(value),
                            headers=())
    return parse_record(record, topic_prefix="")


def state(**entries: domain.Entry) -> domain.BoardState:
    return domain.BoardState(entries=dict(entries), jobs={"job-42": {"recruiter_id": "rec-7", "open": True}})


def entry(pid: str = "p1", **changes: Any) -> domain.Entry:
    return domain.Entry(**{"prospect_id": pid, "job_id": "job-42", "recruiter_id": "rec-7", "job_open": True,
                           "waiting_since": T0, **changes})


def types(outcome: domain.Outcome) -> list[str]:
    return [e.event["type"] for e in outcome.events]


def test_the_table_covers_every_input_rating_consumes():
    from shared import topics

    consumed = {t for topic in topics.CONSUMED_BY["rating"] for t in topics.TYPES_BY_TOPIC[topic]}
    assert consumed - {"person.erase"} == set(domain.DECISIONS)  # an erasure: shared.privacy, before the table


def test_a_rate_command_rates_once_and_answers_once():
    board = state(p1=entry(), p2=entry("p2", recruiter_id="rec-8"))
    rate = received("prospects.rate", {"recruiter_id": "rec-7", "prospect_ids": ["p1", "p2", "nobody"],
                                       "rating": "shortlist"}, "rating-commands")
    outcome = domain.decide(rate, board)
    assert types(outcome) == ["prospect.rated", "command.completed"]
    result = outcome.events[-1].event["data"]
    assert result["accepted"] == ["p1"]
    assert result["rejected"] == [{"prospect_id": "p2", "reason": "forbidden"},
                                  {"prospect_id": "nobody", "reason": "unknown_prospect"}]
    assert outcome.board[0][0] == "p1" and outcome.board[0][1]["rating"] == "shortlist"
    assert [line["kind"] for line in outcome.history] == ["rated"]
    # The same rating again, later in the same batch: it sees the first, changes nothing.
    again = domain.decide(received("prospects.rate", {"recruiter_id": "rec-7", "prospect_ids": ["p1"],
                                                      "rating": "shortlist"}, "rating-commands", "e2"), board)
    assert types(again) == ["command.completed"] and again.board == []


def test_a_sent_message_sets_the_flag_unless_switched_off():
    sent = received("message.sent", {"message_id": "m1", "command_id": "c1", "prospect_id": "p1", "job_id": "job-42",
                                     "recruiter_id": "rec-7", "template": "ask_to_apply", "to": "lee@example.com",
                                     "subject": "Next step", "sent_at": "2026-11-25T09:31:00Z"}, "messages")
    on = domain.decide(sent, state(p1=entry()))
    assert types(on) == ["prospect.follow_up_flag_changed"]
    assert on.events[0].event["data"]["cause"] == "message_sent"
    assert on.board[0][1]["flagged"] is True and on.board[0][1]["last_message"]["status"] == "sent"
    off_state = state(p1=entry())
    off_state.flag_on_message_sent = False
    off = domain.decide(sent, off_state)
    assert types(off) == [] and "flagged" not in off.board[0][1]


def test_a_failed_message_is_the_last_message_with_its_reason():
    failed = received("message.failed", {"message_id": "m1", "command_id": "c1", "prospect_id": "p1",
                                         "job_id": "job-42", "recruiter_id": "rec-7", "template": "ask_to_apply",
                                         "reason": "recipient refused: 550", "attempts": 1, "permanent": True},
                      "messages")
    outcome = domain.decide(failed, state(p1=entry()))
    assert types(outcome) == []
    assert outcome.board[0][1]["last_message"]["status"] == "failed"
    assert outcome.board[0][1]["last_message"]["reason"] == "recipient refused: 550"


def test_a_new_inquiry_of_a_flagged_prospect_needs_follow_up_again():
    again = received("prospect.inquired_again", {
        "prospect_id": "p1", "person_id": "x1", "job_id": "job-42",
        "profile": {"name": "Lee Park", "email": "lee@example.com"},
        "inquiry": {"board": "jobs-weekly", "inquired_at": "2026-11-25T09:00:00Z"}}, "prospects")
    board = state(p1=entry(flagged=True))
    outcome = domain.decide(again, board)
    assert types(outcome) == ["prospect.follow_up_flag_changed"]
    assert outcome.events[0].event["data"]["cause"] == "new_inquiry"
    assert board.entries["p1"].needs_follow_up
    assert outcome.board[0][1]["board"] == "jobs-weekly"
    assert [line["kind"] for line in outcome.history] == ["inquiry", "flag"]


def test_closing_a_job_takes_its_prospects_out_of_follow_up_in_the_batch():
    board = state(p1=entry())
    outcome = domain.decide(received("job.closed", {"job_id": "job-42"}, "jobs"), board)
    assert outcome.joins == [("job-42", {"job_open": False})]
    assert not board.entries["p1"].needs_follow_up
    flag = domain.decide(received("prospects.flag_follow_up", {"recruiter_id": "rec-7", "prospect_ids": ["p1"],
                                                               "flagged": True}, "rating-commands", "e2"), board)
    assert flag.events[-1].event["data"]["rejected"] == [{"prospect_id": "p1", "reason": "job_closed"}]


def test_event_ids_are_derived_from_the_cause():
    rate = received("prospects.rate", {"recruiter_id": "rec-7", "prospect_ids": ["p1"], "rating": "not_a_fit"},
                    "rating-commands")
    first = domain.decide(rate, state(p1=entry()))
    second = domain.decide(rate, state(p1=entry()))
    assert [e.event["id"] for e in first.events] == [e.event["id"] for e in second.events]


def _board_with_jobs() -> domain.BoardState:
    board = state(p1=entry(profile={"name": "Lee Park", "email": "lee@example.com"}, rating="not_a_fit"),
                  p2=entry("p2", job_id="job-43", profile={"name": "Sam", "email": "sam@example.com"}),
                  p3=entry("p3", recruiter_id="rec-8", profile={"name": "X", "email": "x@example.com"}),
                  p4=entry("p4", job_open=False, profile={"name": "Old", "email": "old@example.com"}))
    board.jobs.update({"job-43": {"recruiter_id": "rec-7", "open": True, "title": "Data Engineer"},
                       "job-44": {"recruiter_id": "rec-8", "open": True}, "job-45": {"recruiter_id": "rec-7", "open": False}})
    return board


def test_suggest_considers_each_person_for_another_job_once_and_says_why_not():
    """`prospects.suggest`: an `inquiry.received` for the target job (board `internal`, an id
    derived from (command, prospect), the profile, `referred_from`), a line on the person's history;
    refused: already on that job, another recruiter's prospect, unknown. A prospect of a closed
    job of the recruiter's may be considered for an open one."""
    board = _board_with_jobs()
    suggest = received("prospects.suggest", {"recruiter_id": "rec-7", "prospect_ids": ["p1", "p2", "p3", "p4", "nobody"],
                                             "job_id": "job-43"}, "rating-commands", event_id="cmd-1")
    outcome = domain.decide(suggest, board)
    assert types(outcome) == ["inquiry.received", "inquiry.received", "command.completed"]
    first = outcome.events[0]
    assert (first.topic, first.event["data"]["board"], first.event["data"]["job_id"]) == ("inquiries", "internal", "job-43")
    assert first.event["data"]["prospect"] == {"name": "Lee Park", "email": "lee@example.com", "skills": []}
    assert first.event["data"]["referred_from"] == {"job_id": "job-42", "prospect_id": "p1"}
    again = domain.decide(suggest, _board_with_jobs())  # a redelivery: the same ids, which intake registers once
    assert [e.event["id"] for e in again.events] == [e.event["id"] for e in outcome.events]
    assert first.event["data"]["board_inquiry_id"] == again.events[0].event["data"]["board_inquiry_id"]
    assert outcome.events[1].event["data"]["referred_from"]["prospect_id"] == "p4"  # from a closed job
    result = outcome.events[-1].event["data"]
    assert result["accepted"] == ["p1", "p4"]
    assert result["rejected"] == [{"prospect_id": "p2", "reason": "same_job"}, {"prospect_id": "p3", "reason": "forbidden"},
                                  {"prospect_id": "nobody", "reason": "unknown_prospect"}]
    assert [(line["prospect_id"], line["kind"], line["job_title"]) for line in outcome.history] == [
        ("p1", "considered", "Data Engineer"), ("p4", "considered", "Data Engineer")]


def test_a_person_already_on_the_target_job_as_another_prospect_is_same_job():
    from shared import ids

    board = _board_with_jobs()
    there = ids.prospect_id("job-43", "lee@example.com")
    board.entries[there] = entry(there, job_id="job-43", profile={"name": "Lee Park", "email": "lee@example.com"})
    outcome = domain.decide(received("prospects.suggest", {"recruiter_id": "rec-7", "prospect_ids": ["p1"],
                                                           "job_id": "job-43"}, "rating-commands"), board)
    assert types(outcome) == ["command.completed"]
    assert outcome.events[0].event["data"]["rejected"] == [{"prospect_id": "p1", "reason": "same_job"}]


def test_suggest_for_another_recruiters_job_or_a_closed_one_is_refused_for_everyone():
    for job, reason in (("job-44", "forbidden"), ("job-45", "job_closed"), ("job-99", "forbidden")):
        outcome = domain.decide(received("prospects.suggest", {"recruiter_id": "rec-7", "prospect_ids": ["p1"],
                                                               "job_id": job}, "rating-commands"), _board_with_jobs())
        assert types(outcome) == ["command.completed"]
        assert outcome.events[0].event["data"]["rejected"] == [{"prospect_id": "p1", "reason": reason}]


def test_a_person_considered_from_another_job_says_so_on_the_new_board_entry():
    board = _board_with_jobs()
    registered = received("prospect.registered", {
        "prospect_id": "p9", "person_id": "person-9", "job_id": "job-43",
        "profile": {"name": "Lee Park", "email": "lee@example.com"},
        "inquiry": {"board": "internal", "inquired_at": "2026-11-25T09:30:00Z",
                    "referred_from": {"job_id": "job-42", "prospect_id": "p1"}}}, "prospects")
    outcome = domain.decide(registered, board)
    [(pid, fields)] = outcome.board
    assert (pid, fields["rating"], fields["referred_from"]["prospect_id"]) == ("p9", "unrated", "p1")
    assert outcome.history[0]["referred_from"]["job_id"] == "job-42"


def test_the_consent_a_board_sends_is_kept_on_the_entry_and_the_history_line():
    registered = received("prospect.registered", {
        "prospect_id": "p9", "person_id": "person-9", "job_id": "job-42",
        "profile": {"name": "Lee Park", "email": "lee@example.com"},
        "inquiry": {"board": "acme-board", "inquired_at": "2026-11-25T09:30:00Z",
                    "consent": {"given_at": "2026-11-25T09:29:00Z", "statement": "I agree to be contacted about jobs."}}},
        "prospects")
    outcome = domain.decide(registered, state())
    [(_, fields)] = outcome.board
    assert fields["consent"]["statement"] == "I agree to be contacted about jobs."
    assert outcome.history[0]["consent"]["given_at"] == "2026-11-25T09:29:00Z"


async def test_a_long_history_is_read_page_after_page_never_cut():
    from services.rating.handlers import Board
    from services.rating.store import BoardViews, RatingStore
    from tests.fakes import MemoryDatabase

    store = RatingStore(MemoryDatabase())  # type: ignore[arg-type]
    await store.board.insert_one({"_id": "p1", "recruiter_id": "rec-7", "job_id": "job-42"})
    lines = [{"_id": f"h{n:02d}", "prospect_id": "p1", "kind": "flag", "at": T0 if n < 3 else datetime(2026, 11, 21, tzinfo=timezone.utc),
              "order": n % 2} for n in range(7)]
    await store.history.insert_many(lines)
    board = Board(BoardViews(store))
    seen, cursor = [], None
    while True:
        found = await board.history("rec-7", "p1", limit=3, cursor=cursor)
        assert found is not None
        page, cursor = found
        seen += [line["_id"] for line in page]
        if cursor is None:
            break
    expected = [d["_id"] for d in sorted(lines, key=lambda d: (d["at"], d["order"], d["_id"]))]
    assert seen == expected and len(seen) == 7
    assert await board.history("rec-8", "p1") is None
