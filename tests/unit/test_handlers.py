"""Each service's handler with its real store on an in-memory database and a publisher that can
fail, in milliseconds: what a redelivery, a crash between a write and a publish, a job that
arrives after its prospects and two replicas at once do to what a user sees (the events out,
the board, the mails). The same behaviour is tested against the real stack in tests/integration."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import pytest

from services.intake.handlers import RegisterInquiries
from services.intake.store import IntakeStore
from services.messaging.handlers import Messaging
from services.messaging.rendering import Templates
from services.messaging.store import MessagingStore
from services.rating.handlers import RatingProjection
from services.rating.store import RatingStore
from services.reminder.handlers import Reminders
from services.reminder.store import ReminderStore
from shared import ids
from shared.messages import Received, received
from tests.fakes import MemoryDatabase, MemoryMailer, MemoryPublisher, PublishFailed

AT = "2026-11-25T09:30:00Z"


def event(topic: str, type_: str, data: dict[str, Any], event_id: str) -> Received:
    return received(topic, {"specversion": "1.0", "id": event_id, "source": "tests", "type": type_, "time": AT,
                            "data": data})


def inquiry(email: str, event_id: str, job_id: str = "job-42", board_inquiry_id: str | None = None,
            headline: str | None = None) -> Received:
    prospect: dict[str, Any] = {"name": email.split("@")[0].title(), "email": email}
    if headline:
        prospect["headline"] = headline
    return event("inquiries", "inquiry.received", {"job_id": job_id, "board": "acme", "prospect": prospect,
                                                   "board_inquiry_id": board_inquiry_id}, event_id)


def job(job_id: str = "job-42", recruiter_id: str = "rec-7", kind: str = "job.opened") -> Received:
    return event("jobs", kind, {"job_id": job_id, "title": "Backend Engineer", "company": "Acme",
                                "apply_url": "https://acme.example/apply",
                                "recruiter": {"recruiter_id": recruiter_id, "name": "Dana", "email": "dana@acme.example",
                                              "timezone": "UTC", "reminder_hour": 8}},
                 f"{kind}-{job_id}")


def registered(email: str, job_id: str = "job-42", kind: str = "prospect.registered", cause: str = "i") -> Received:
    pid = ids.prospect_id(job_id, email)
    return event("prospects", kind, {
        "prospect_id": pid, "person_id": ids.person_id(email), "job_id": job_id,
        "profile": {"name": email.split("@")[0].title(), "email": email},
        "inquiry": {"board": "acme", "inquired_at": "2026-11-20T09:29:00Z"}}, ids.event_id(cause + email, kind))


# --- intake ---------------------------------------------------------------------------------------


async def intake() -> tuple[RegisterInquiries, MemoryPublisher, IntakeStore]:
    store = IntakeStore(MemoryDatabase())  # type: ignore[arg-type]
    await store.ensure_indexes()
    publisher = MemoryPublisher()
    return RegisterInquiries(store, publisher), publisher, store  # type: ignore[arg-type]


async def test_intake_a_redelivered_batch_emits_nothing_more():
    handle, publisher, _ = await intake()
    batch = [inquiry("lee@example.com", "e1"), inquiry("lee@example.com", "e2", headline="Go"),
             inquiry("kim@example.com", "e3")]
    await handle(batch)
    first = publisher.ids()
    assert [m.event["type"] for m in publisher.published] == [
        "prospect.registered", "prospect.inquired_again", "prospect.registered"]
    await handle(batch)
    assert publisher.ids() == first


async def test_intake_a_crash_between_registering_and_publishing_publishes_the_same_events_once():
    handle, publisher, store = await intake()
    batch = [inquiry("lee@example.com", "e1"), inquiry("kim@example.com", "e2")]
    publisher.fail_next = 1
    with pytest.raises(PublishFailed):
        await handle(batch)
    assert publisher.published == [] and len(store.prospects.docs) == 2  # written, not published
    await handle(batch)  # the redelivery after the restart
    assert sorted(publisher.ids()) == sorted(ids.event_id(e, "prospect.registered") for e in ("e1", "e2"))
    await handle(batch)
    assert len(publisher.published) == 2


async def test_intake_the_same_board_inquiry_under_a_new_event_id_emits_nothing():
    handle, publisher, _ = await intake()
    await handle([inquiry("lee@example.com", "e1", board_inquiry_id="A-1")])
    await handle([inquiry("lee@example.com", "e9", board_inquiry_id="A-1")])
    assert len(publisher.published) == 1


# --- rating ---------------------------------------------------------------------------------------


async def rating() -> tuple[RatingProjection, MemoryPublisher, RatingStore]:
    store = RatingStore(MemoryDatabase())  # type: ignore[arg-type]
    publisher = MemoryPublisher()
    return RatingProjection(store, publisher, flag_on_message_sent=True), publisher, store  # type: ignore[arg-type]


def rate(prospect_ids: list[str], command_id: str = "c1", rating: str = "shortlist") -> Received:
    return event("rating-commands", "prospects.rate", {"recruiter_id": "rec-7", "prospect_ids": prospect_ids,
                                                        "rating": rating}, command_id)


async def test_rating_a_job_after_its_prospects_joins_them_and_lets_its_recruiter_act():
    handle, publisher, store = await rating()
    lee = registered("lee@example.com")
    await handle([lee])
    pid = lee.data.prospect_id  # type: ignore[attr-defined]
    await handle([rate([pid], "c0")])  # before the job: nobody owns the prospect yet
    assert publisher.of_type("command.completed")[-1]["data"]["rejected"] == [{"prospect_id": pid, "reason": "forbidden"}]
    await handle([job()])
    board = store.board.docs[pid]
    assert board["recruiter_id"] == "rec-7" and board["job_open"] is True and board["job_title"] == "Backend Engineer"
    await handle([rate([pid])])
    assert publisher.of_type("command.completed")[-1]["data"]["accepted"] == [pid]
    assert store.board.docs[pid]["rating"] == "shortlist"


async def test_rating_a_command_redelivered_after_a_crash_before_its_publish_answers_once_with_the_same_ids():
    handle, publisher, store = await rating()
    lee = registered("lee@example.com")
    pid = lee.data.prospect_id  # type: ignore[attr-defined]
    await handle([job(), lee])
    publisher.fail_next = 1
    with pytest.raises(PublishFailed):
        await handle([rate([pid])])
    assert store.board.docs[pid]["rating"] == "shortlist"  # applied, not published
    await handle([rate([pid])])
    await handle([rate([pid])])
    assert [m.event["type"] for m in publisher.published] == [
        "prospect.rated", "command.completed"]
    assert publisher.of_type("prospect.rated")[0]["id"] == ids.event_id("c1", f"prospect.rated:{pid}")


async def test_rating_a_registration_redelivered_changes_nothing_and_keeps_one_timeline_line():
    handle, publisher, store = await rating()
    lee = registered("lee@example.com")
    await handle([job(), lee])
    await handle([lee])
    assert len(store.board.docs) == 1 and len(store.history.docs) == 1 and publisher.published == []


# --- reminder -------------------------------------------------------------------------------------


async def test_reminder_two_replicas_evaluating_at_once_send_one_reminder():
    database = MemoryDatabase()
    publishers = [MemoryPublisher(), MemoryPublisher()]
    replicas = [Reminders(ReminderStore(database), p) for p in publishers]  # type: ignore[arg-type]
    await replicas[0]([job(), registered("lee@example.com"), registered("kim@example.com")])
    as_of = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    sent = await asyncio.gather(*(r.evaluate(as_of) for r in replicas))
    assert sorted(sent) == [0, 1]
    reminders = [m.event for p in publishers for m in p.published]
    assert len(reminders) == 1 and reminders[0]["data"]["pending_total"] == 2
    assert await replicas[1].evaluate(as_of) == 0


async def test_reminder_a_job_after_its_prospects_still_reminds_of_them():
    publisher = MemoryPublisher()
    reminders = Reminders(ReminderStore(MemoryDatabase()), publisher)  # type: ignore[arg-type]
    await reminders([registered("lee@example.com")])
    await reminders([job()])
    assert await reminders.evaluate(datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)) == 1
    data = publisher.of_type("follow_up.reminder_due")[0]["data"]
    assert data["recruiter_id"] == "rec-7" and data["jobs"] == [{"job_id": "job-42", "title": "Backend Engineer",
                                                                 "pending": 1}]


async def test_reminder_a_crash_between_recording_and_publishing_sends_the_same_reminder_later():
    publisher = MemoryPublisher()
    store = ReminderStore(MemoryDatabase())  # type: ignore[arg-type]
    reminders = Reminders(store, publisher)
    await reminders([job(), registered("lee@example.com")])
    as_of = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    publisher.fail_next = 1
    with pytest.raises(PublishFailed):
        await reminders.evaluate(as_of)
    for doc in store.reminders.docs.values():  # recorded a while ago by the process that died
        doc["created_at"] = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
    assert await reminders.evaluate(as_of) == 1
    assert await reminders.evaluate(as_of) == 0
    assert len(publisher.published) == 1


# --- messaging ------------------------------------------------------------------------------------


def messaging(database: MemoryDatabase | None = None) -> tuple[Messaging, MemoryPublisher, MemoryMailer]:
    publisher, mailer = MemoryPublisher(), MemoryMailer()
    store = MessagingStore(database or MemoryDatabase())  # type: ignore[arg-type]
    return Messaging(store, publisher, Templates(), mailer, sender="jobs@prospectflow.example",  # type: ignore[arg-type]
                     max_attempts=3, max_backoff_s=0.01), publisher, mailer


def send(prospect_ids: list[str], command_id: str = "m1") -> Received:
    return event("messaging-commands", "messages.send", {"recruiter_id": "rec-7", "template": "ask_to_apply",
                                                          "prospect_ids": prospect_ids}, command_id)


async def test_messaging_a_send_redelivered_after_a_crash_before_its_result_mails_each_person_once():
    database = MemoryDatabase()
    handle, publisher, mailer = messaging(database)
    people = [registered(f"p{n}@example.com") for n in range(3)]
    await handle([job(), *people])
    pids = [p.data.prospect_id for p in people]  # type: ignore[attr-defined]
    publisher.fail_next = 1
    with pytest.raises(PublishFailed):
        await handle([send(pids)])  # queued and recorded; the result never left
    assert mailer.sent == []
    restarted, publisher2, mailer2 = messaging(database)
    restarted.mailer = mailer  # the same mailbox: what the prospects receive
    await restarted([send(pids)])
    await restarted([send(pids)])
    assert sorted(mailer.to()) == sorted(f"p{n}@example.com" for n in range(3))
    assert len(publisher2.of_type("command.completed")) == 1
    assert len(publisher2.of_type("message.sent")) == 3


async def test_messaging_an_opted_out_person_is_rejected_and_not_mailed():
    handle, publisher, mailer = messaging()
    lee = registered("lee@example.com")
    await handle([job(), lee, event("opt-outs", "prospect.opted_out", {"email": "lee@example.com"}, "o1")])
    await handle([send([lee.data.prospect_id])])  # type: ignore[attr-defined]
    result = publisher.of_type("command.completed")[0]["data"]
    assert result["rejected"] == [{"prospect_id": lee.data.prospect_id, "reason": "opted_out"}]  # type: ignore[attr-defined]
    assert mailer.sent == []
