"""The sequences use case with its real store on an in-memory database, in milliseconds: a
redelivered enrollment, a repeated run and two replicas at once send each step once; a step sent
schedules the next; a reply, an opt-out or the recruiter stops it. The same on the real stack:
tests/integration/test_sequences.py."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from services.sequences.handlers import Definitions, Sequences
from services.sequences.store import SequencesStore
from shared import ids
from shared.messages import Received, received
from tests.fakes import MemoryDatabase, MemoryPublisher

EMAILS = ["ana@example.com", "ben@example.com"]
PIDS = [ids.prospect_id("job-42", e) for e in EMAILS]
TUESDAY_AFTERNOON = datetime(2026, 12, 8, 15, 30, tzinfo=timezone.utc)  # 16:30 in Berlin


def event(topic: str, type_: str, data: dict[str, Any], event_id: str, at: str = "2026-12-07T07:00:00Z") -> Received:
    return received(topic, {"specversion": "1.0", "id": event_id, "source": "tests", "type": type_, "time": at,
                            "data": data})


def state() -> list[Received]:
    job = event("jobs", "job.opened", {"job_id": "job-42", "title": "Backend", "company": "Acme", "recruiter": {
        "recruiter_id": "rec-7", "name": "Dana", "email": "dana@acme.example", "timezone": "Europe/Berlin",
        "country": "DE"}}, "job")
    people = [event("prospects", "prospect.registered", {
        "prospect_id": pid, "person_id": ids.person_id(email), "job_id": "job-42",
        "profile": {"name": "Someone", "email": email}, "inquiry": {"board": "b", "inquired_at": "2026-12-01T09:00:00Z"}},
        f"registered-{pid}") for pid, email in zip(PIDS, EMAILS)]
    return [job, *people]


async def world(daily_cap: int = 50, run_batch: int = 1_000) -> tuple[SequencesStore, Sequences, MemoryPublisher, str]:
    store, publisher = SequencesStore(MemoryDatabase()), MemoryPublisher()
    sequences = Sequences(store, publisher, run_batch=run_batch)
    definition = await Definitions(store).create("rec-7", {
        "name": "Follow-up", "daily_cap": daily_cap, "window": {"start_hour": 9, "end_hour": 17,
                                                         "days": ["mon", "tue", "wed", "thu", "fri"]},
        "steps": [{"template": "ask_to_apply", "delay_business_days": 0},
                  {"template": "arrange_interview", "delay_business_days": 2}]})
    await sequences(state())
    return store, sequences, publisher, definition["sequence_id"]


def enroll(sequence_id: str, command_id: str = "enroll-1", prospect_ids: list[str] = PIDS,
           at: str = "2026-12-07T07:00:00Z") -> Received:
    return event("sequence-commands", "sequences.enroll", {"recruiter_id": "rec-7", "sequence_id": sequence_id,
                                                           "prospect_ids": prospect_ids}, command_id, at)


async def test_a_redelivered_enrollment_and_repeated_runs_send_each_step_once():
    store, sequences, publisher, sequence_id = await world()
    await sequences([enroll(sequence_id)])
    await sequences([enroll(sequence_id)])  # redelivered: the same answer, nobody enrolled twice
    results = publisher.of_type("command.completed")
    assert [sorted(r["data"]["accepted"]) for r in results] == [sorted(PIDS)] * 2
    assert len(set(e["id"] for e in publisher.of_type("sequence.enrolled"))) == 2
    for _ in range(3):
        await sequences.run(TUESDAY_AFTERNOON)
    steps = publisher.of_type("messages.send")
    assert sorted(s["data"]["prospect_ids"][0] for s in steps) == sorted(PIDS)
    assert {s["data"]["sequence"]["step"] for s in steps} == {1}


async def test_a_run_reads_what_is_due_a_page_at_a_time_and_sends_all_of_it():
    store, sequences, publisher, sequence_id = await world(run_batch=1)
    await sequences([enroll(sequence_id)])
    assert await sequences.run(TUESDAY_AFTERNOON) == 2
    assert sorted(s["data"]["prospect_ids"][0] for s in publisher.of_type("messages.send")) == sorted(PIDS)


async def test_the_cap_sends_the_oldest_first_and_the_rest_the_next_business_day():
    store, sequences, publisher, sequence_id = await world(daily_cap=1, run_batch=1)
    await sequences([enroll(sequence_id, "enroll-b", [PIDS[1]], at="2026-12-08T08:30:00Z")])  # 09:30 in Berlin
    await sequences([enroll(sequence_id, "enroll-a", [PIDS[0]], at="2026-12-08T09:00:00Z")])
    assert await sequences.run(TUESDAY_AFTERNOON) == 1
    assert await sequences.run(TUESDAY_AFTERNOON) == 0  # the day's one is sent
    assert [s["data"]["prospect_ids"] for s in publisher.of_type("messages.send")] == [[PIDS[1]]]
    assert await sequences.run(datetime(2026, 12, 9, 8, 5, tzinfo=timezone.utc)) == 1  # Wednesday 09:05
    assert [s["data"]["prospect_ids"] for s in publisher.of_type("messages.send")] == [[PIDS[1]], [PIDS[0]]]


async def test_two_replicas_at_once_send_each_step_once():
    store, sequences, publisher, sequence_id = await world()
    await sequences([enroll(sequence_id)])
    other = Sequences(store, publisher)  # a second replica on the same database
    await asyncio.gather(sequences.run(TUESDAY_AFTERNOON), other.run(TUESDAY_AFTERNOON))
    assert sorted(s["data"]["prospect_ids"][0] for s in publisher.of_type("messages.send")) == sorted(PIDS)


async def test_a_sent_step_schedules_the_next_and_a_reply_stops_the_sequence():
    store, sequences, publisher, sequence_id = await world()
    await sequences([enroll(sequence_id)])
    await sequences.run(TUESDAY_AFTERNOON)
    sent = []
    for n, step in enumerate(publisher.of_type("messages.send")):
        pid = step["data"]["prospect_ids"][0]
        sent.append(event("messages", "message.sent", {
            "message_id": f"m{n}", "command_id": step["id"], "prospect_id": pid, "job_id": "job-42",
            "recruiter_id": "rec-7", "template": "ask_to_apply", "to": "x@example.com", "subject": "Hi",
            "sent_at": "2026-12-08T15:31:00Z", "sequence": step["data"]["sequence"]}, f"sent-{n}"))
    await sequences(sent)
    [ana] = await store.enrollments_of([PIDS[0]], "rec-7")
    # Sent Tuesday 16:31 Berlin; two business days later: Thursday 16:31, inside the window.
    assert (ana["state"], ana["step"], ana["steps_sent"]) == ("running", 2, 1)
    assert ana["next_at"] == datetime(2026, 12, 10, 15, 31, tzinfo=timezone.utc)
    await sequences([event("messages", "message.replied", {
        "message_id": "m0", "prospect_id": PIDS[0], "job_id": "job-42", "recruiter_id": "rec-7",
        "received_at": "2026-12-09T10:00:00Z", "from": "x@example.com", "subject": "Re: Hi", "text": "Yes!"}, "reply")])
    [stopped] = publisher.of_type("sequence.stopped")
    assert (stopped["data"]["prospect_id"], stopped["data"]["reason"]) == (PIDS[0], "replied")
    before = len(publisher.of_type("messages.send"))
    await sequences.run(datetime(2026, 12, 10, 15, 45, tzinfo=timezone.utc))
    later = publisher.of_type("messages.send")[before:]
    assert [(s["data"]["prospect_ids"], s["data"]["sequence"]["step"]) for s in later] == [([PIDS[1]], 2)]


async def test_an_opt_out_and_the_recruiter_stop_sequences_and_enrolling_again_is_refused_while_running():
    store, sequences, publisher, sequence_id = await world()
    await sequences([enroll(sequence_id)])
    await sequences([enroll(sequence_id, "enroll-2")])
    again = publisher.of_type("command.completed")[-1]["data"]
    assert {r["reason"] for r in again["rejected"]} == {"already_enrolled"}
    await sequences([event("opt-outs", "prospect.opted_out", {"email": EMAILS[0], "reason": "asked"}, "opt-out")])
    await sequences([event("sequence-commands", "sequences.stop", {"recruiter_id": "rec-7", "prospect_ids": [PIDS[1]]},
                           "stop-1")])
    reasons = {e["data"]["prospect_id"]: e["data"]["reason"] for e in publisher.of_type("sequence.stopped")}
    assert reasons == {PIDS[0]: "opted_out", PIDS[1]: "recruiter"}
    await sequences([event("sequence-commands", "sequences.stop", {"recruiter_id": "rec-7", "prospect_ids": [PIDS[1]]},
                           "stop-1")])  # the same command again (a reload of the page): the same answer
    answers = [c["data"] for c in publisher.of_type("command.completed") if c["data"]["command_id"] == "stop-1"]
    assert [(a["accepted"], a["rejected"]) for a in answers] == [([PIDS[1]], [])] * 2
    await sequences.run(TUESDAY_AFTERNOON)
    assert publisher.of_type("messages.send") == []
    # Stopped: they may be enrolled again.
    await sequences([enroll(sequence_id, "enroll-3")])
    assert sorted(publisher.of_type("command.completed")[-1]["data"]["accepted"]) == sorted(PIDS)


async def test_the_enrollments_timeline_lists_each_sequence_event_in_order():
    store, sequences, publisher, sequence_id = await world()
    await sequences([enroll(sequence_id)])
    await sequences([event("messages", "message.auto_replied", {
        "message_id": "m0", "prospect_id": PIDS[0], "job_id": "job-42", "recruiter_id": "rec-7", "kind": "out_of_office",
        "received_at": "2026-12-07T08:00:00Z", "text": "Out of office, back on 9 December."}, "ooo",
        at="2026-12-07T08:00:00Z")])
    await sequences.run(datetime(2026, 12, 9, 9, 0, tzinfo=timezone.utc))  # Wednesday 10:00 in Berlin: resumed
    await sequences([event("messages", "message.replied", {
        "message_id": "m0", "prospect_id": PIDS[0], "job_id": "job-42", "recruiter_id": "rec-7",
        "received_at": "2026-12-09T10:00:00Z", "from": "x@example.com", "subject": "Re: Hi", "text": "Yes!"}, "reply")])
    [ana] = await Definitions(store).enrollments("rec-7", [PIDS[0]])
    assert [(e["kind"], e.get("until"), e.get("reason")) for e in ana["events"]] == [
        ("enrolled", None, None), ("paused", datetime(2026, 12, 9, 8, 0, tzinfo=timezone.utc), None),
        ("resumed", None, None), ("stopped", None, "replied")]
