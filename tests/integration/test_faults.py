"""Paths the other tests leave out, on the real stack: a message that fails in processing (not
in validation), a recipient's temporary refusal until the last attempt, `job.updated`, the
auto-flag switched off, Kafka going away in the middle of a batch, a replica joining while a batch
is in hand, and a replica stopped in the middle of a stream."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from shared import ids
from shared.kafka import BatchConsumer, DeadLetters, Producer, broker_factory, ensure_topics, subscribe_batches
from shared.messages import Received
from shared.settings import KafkaSettings, ServiceSettings
from tests.integration.test_messaging import job, outcomes, send, setup
from tests.integration.test_rating import RECRUITER, lee_on_board_and_mailed, on_board, prospect_event
from tests.support import (
    Kafka, Namespace, ServiceProcess, cloud_event, eventually, events, headers, http_text, mails, metric,
)


async def test_a_message_failing_in_processing_is_dead_lettered_alone(ns: Namespace, kafka: Kafka):
    """Valid by the contract, but its processing raises (not an outage): the batch is retried
    message by message, the one that still fails lands on the DLQ as `processing_failed`, the
    others are applied once, and the consumer goes on."""
    settings = ServiceSettings(service_name="faults", kafka=KafkaSettings(bootstrap_servers=ns.stack.kafka,
                                                                          topic_prefix=ns.prefix),
                               group_id=f"{ns.name}-faults", batch_timeout_ms=200)
    broker = broker_factory(settings.kafka, client_id="faults")
    producer = Producer(settings.kafka, client_id="faults")
    applied: list[str] = []
    poison = cloud_event("job.closed", {"job_id": "poison"})

    async def apply(batch: list[Received]) -> None:
        if any(r.event.id == poison["id"] for r in batch):
            raise ValueError("this job cannot be closed")
        applied.extend(r.event.id for r in batch)

    consumer = BatchConsumer(apply=apply, dead_letters=DeadLetters(producer, "faults", ns.prefix), settings=settings)
    subscribe_batches(broker, settings, ["jobs"], consumer, title="faults", description="test")
    await ensure_topics(settings.kafka, ["jobs"])
    good = [cloud_event("job.closed", {"job_id": f"j{n}"}) for n in range(5)]
    await kafka.send_many(ns.topic("jobs"), [("same-key", e) for e in [*good[:2], poison, *good[2:]]])
    await producer.start()
    await broker.start()
    try:
        [dead] = await kafka.read(ns.topic("jobs.dlq"), count=1, timeout_s=60)
        await eventually(lambda: len(applied) >= 5, timeout_s=30)
    finally:
        await broker.stop()
        await producer.stop()
    assert json.loads(dead.value)["id"] == poison["id"]
    assert headers(dead)["x-dlq-reason"] == "processing_failed"
    assert "ValueError: this job cannot be closed" in headers(dead)["x-dlq-error"]
    assert sorted(applied) == sorted(e["id"] for e in good)  # each once: split, not replayed whole


async def test_a_temporary_refusal_is_retried_then_reported_failed(ns: Namespace, kafka: Kafka):
    messaging = ns.start("messaging", MESSAGING_SMTP_MAX_ATTEMPTS="3", MESSAGING_RETRY_MAX_BACKOFF_S="0.2")
    tag = ns.name
    ok, later = await setup(ns, kafka, [f"{tag}-ok@example.com", f"tempfail-{tag}@example.com"])
    await kafka.send_event(ns.topic("messaging-commands"), send([ok, later], "ask_to_apply"), key=RECRUITER)
    done = {e["data"]["prospect_id"]: e for e in await outcomes(kafka, ns, 2)}
    assert done[ok]["type"] == "message.sent"
    failed = done[later]["data"]
    assert done[later]["type"] == "message.failed" and failed["permanent"] is False and failed["attempts"] == 3
    assert "451" in failed["reason"]
    assert messaging.log().count("sending failed, retrying") == 2  # tried three times in all
    text = http_text(f"{messaging.http}/metrics")[1]
    assert metric(text, "prospectflow_mails_total", template="ask_to_apply", result="failed_temporary") == 1
    assert metric(text, "prospectflow_mails_total", template="ask_to_apply", result="sent") == 1
    assert metric(text, "prospectflow_retries_total", dependency="smtp") == 2


async def test_job_updated_reaches_the_board_and_the_mail(ns: Namespace, kafka: Kafka):
    ns.start("rating")
    ns.start("messaging")
    tag = ns.name
    [pid] = await setup(ns, kafka, [f"{tag}-a@example.com"])
    await kafka.send_event(ns.topic("prospects"), prospect_event(f"{tag}-a@example.com"), key=pid)
    await on_board(ns, 1, {"_id": pid})
    updated = job(title="Staff Engineer")
    updated["type"] = "job.updated"
    await kafka.send_event(ns.topic("jobs"), updated, key="job-42")
    await on_board(ns, 1, {"_id": pid, "job_title": "Staff Engineer"})
    await kafka.caught_up(ns, "messaging")
    await kafka.send_event(ns.topic("messaging-commands"), send([pid], "ask_to_apply"), key=RECRUITER)
    await outcomes(kafka, ns, 1)
    [mail] = mails(ns.stack.maildir, tag)
    assert mail["Subject"] == "Next step for the Staff Engineer role at Acme"


async def test_with_the_auto_flag_off_a_sent_message_flags_nothing(ns: Namespace, kafka: Kafka):
    ns.start("rating", RATING_FLAG_ON_MESSAGE_SENT="false")
    pid, _ = await lee_on_board_and_mailed(ns, kafka)
    await on_board(ns, 1, {"_id": pid, "last_message.message_id": ids.derive("m", pid)})  # the message is known
    await kafka.caught_up(ns, "rating")
    assert await kafka.read_to_end(ns.topic("assessments")) == []
    await on_board(ns, 1, {"_id": pid, "flagged": {"$ne": True}})


async def test_kafka_going_away_mid_batch_loses_and_duplicates_nothing(ns: Namespace, private_kafka):
    """Intake with batches of 50 takes 2,000 inquiries; Kafka is killed while it works and comes
    back: every inquiry registered, each by one event id, none twice."""
    total = 2000
    intake = ns.start("intake", KAFKA_BOOTSTRAP_SERVERS=private_kafka.bootstrap, INTAKE_BATCH_MAX_RECORDS="50",
                      INTAKE_RETRY_MAX_BACKOFF_S="0.5", INTAKE_WATCH_INTERVAL_S="0.3")
    private = Kafka(private_kafka.bootstrap)
    try:
        await eventually(lambda: "ready" in intake.log(), timeout_s=60)
        await private.send_many(ns.topic("inquiries"), [
            (f"k{n}@example.com", cloud_event("inquiry.received", {
                "job_id": "job-42", "board": "acme-board", "prospect": {"name": f"P {n}", "email": f"k{n}@example.com"}}))
            for n in range(total)])
        await private.close()

        async def midway() -> bool:
            done = metric(http_text(f"{intake.http}/metrics")[1], "prospectflow_events_published_total", topic="prospects")
            return 100 <= done < total
        await eventually(midway, timeout_s=60, interval_s=0.02)
        private_kafka.stop()
        await eventually(lambda: "kafka is failing" in intake.log(), timeout_s=30)
        await asyncio.to_thread(private_kafka.start)
        private = Kafka(private_kafka.bootstrap)
        await private.read(ns.topic("prospects"), until=lambda rs: len({json.loads(r.value)["id"] for r in rs}) >= total,
                           timeout_s=180)
        await private.caught_up(ns, "intake")
        registered = [e for e in events(await private.read_to_end(ns.topic("prospects")))]
    finally:
        await private.close()
    distinct: dict[str, Any] = {e["id"]: e for e in registered}
    assert len(distinct) == total and {e["type"] for e in distinct.values()} == {"prospect.registered"}
    assert len({e["data"]["prospect_id"] for e in distinct.values()}) == total
    assert "kafka answers again" in intake.log()


async def intake_busy_with(ns: Namespace, kafka: Kafka, total: int) -> ServiceProcess:
    """Intake, with batches of 50, started and then given `total` inquiries of distinct people."""
    intake = ns.start("intake", INTAKE_BATCH_MAX_RECORDS="50")
    await eventually(lambda: "ready" in intake.log(), timeout_s=60)
    await kafka.send_many(ns.topic("inquiries"), [
        (f"r{n}@example.com", cloud_event("inquiry.received", {
            "job_id": "job-42", "board": "acme-board", "prospect": {"name": f"P {n}", "email": f"r{n}@example.com"}}))
        for n in range(total)])
    return intake


async def test_a_replica_joining_mid_batch_redelivers_nothing(ns: Namespace, kafka: Kafka):
    """Intake works through 20,000 inquiries in batches of 50; a second replica joins meanwhile
    (the first hears of it by its heartbeat, within 3 s, so the first must still be busy then).
    The rebalance waits for the batch in hand and commits it, so no inquiry is processed twice:
    every prospect event is published exactly once (not just once per id)."""
    total = 20_000
    first = await intake_busy_with(ns, kafka, total)

    async def started() -> bool:
        return metric(http_text(f"{first.http}/metrics")[1], "prospectflow_batch_seconds_count") >= 1
    await eventually(started, timeout_s=60, interval_s=0.02)
    second = ns.start("intake", INTAKE_BATCH_MAX_RECORDS="50")
    await kafka.read(ns.topic("prospects"), count=total, timeout_s=180)
    await kafka.caught_up(ns, "intake")
    records = await kafka.read_to_end(ns.topic("prospects"))
    assert len(records) == total and len({json.loads(r.value)["id"] for r in records}) == total
    consumed = [metric(http_text(f"{p.http}/metrics")[1], "prospectflow_events_consumed_total", topic="inquiries")
                for p in (first, second)]
    assert sum(consumed) == total and all(consumed), consumed  # both took a share, nobody took one twice


async def test_a_replica_stopped_mid_stream_commits_all_it_did_and_its_successor_goes_on_from_there(
        ns: Namespace, kafka: Kafka):
    """Intake works through 8,000 inquiries in batches of 50 and is stopped (SIGTERM) in the
    middle. A commit goes on while the next batch is handled; the stop waits for it, so what the
    group committed is exactly what intake published, and a replica started afterwards takes
    only the rest: nothing is processed twice."""
    total = 8000
    first = await intake_busy_with(ns, kafka, total)

    async def midway() -> bool:
        return metric(http_text(f"{first.http}/metrics")[1], "prospectflow_events_published_total", topic="prospects") >= 200
    await eventually(midway, timeout_s=60, interval_s=0.02)
    first.stop()
    assert "Application shutdown complete" in first.log(), first.log()[-3000:]  # a graceful stop, not a kill
    published = len(await kafka.read_to_end(ns.topic("prospects")))
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(f"{ns.name}-intake")
    finally:
        await admin.close()
    committed = sum(o.offset for tp, o in offsets.items() if tp.topic == ns.topic("inquiries") and o.offset > 0)
    assert 0 < committed == published < total  # the last batch's commit was not lost with the process

    second = ns.start("intake", INTAKE_BATCH_MAX_RECORDS="50")
    await kafka.read(ns.topic("prospects"), count=total, timeout_s=180)
    await kafka.caught_up(ns, "intake")
    records = await kafka.read_to_end(ns.topic("prospects"))
    assert len(records) == total and len({json.loads(r.value)["id"] for r in records}) == total
    consumed = metric(http_text(f"{second.http}/metrics")[1], "prospectflow_events_consumed_total", topic="inquiries")
    assert consumed == total - committed
