"""No write lost to concurrent first writes, through the product (issue 27): two reminder
replicas are paused (SIGSTOP) while registrations and ratings of the same new prospects pile up
on `prospects` and `assessments`, then resumed at once. With `assessments` partitioned unlike
`prospects` (as topics made at different times often are), a prospect's two events sit on
partitions held by different replicas, which then write the same new record at the same moment.
Every record must hold both: the registration (job, waiting since) and the rating."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.test_reminder import _members_are, job, rated, registered
from tests.support import Kafka, Namespace, eventually, mongo_count

PROSPECTS = 1000


def _held(log: str, topic: str) -> int:
    """A partition of `topic` that a replica holds, from its last assignment in its log."""
    assigned = log.rsplit("assigned to partitions", 1)[1].split("\n", 1)[0]
    return int(re.findall(rf"topic='{re.escape(topic)}', partition=(\d+)", assigned)[0])


async def test_paused_replicas_resumed_together_keep_every_write(ns: Namespace, kafka: Kafka):
    admin = AIOKafkaAdminClient(bootstrap_servers=ns.stack.kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(ns.topic("prospects"), 6, 1), NewTopic(ns.topic("assessments"), 5, 1)])
    finally:
        await admin.close()
    replicas = [ns.start("reminder", REMINDER_TICK_S="0", REMINDER_BATCH_MAX_RECORDS="20") for _ in range(2)]
    await kafka.send_event(ns.topic("jobs"), job(), key="job-42")
    await eventually(lambda: _members_are(kafka, f"{ns.name}-reminder", 2), timeout_s=60)
    await kafka.caught_up(ns, "reminder")

    for replica in replicas:
        assert replica.popen is not None
        os.kill(replica.popen.pid, signal.SIGSTOP)
    try:
        people = [registered(f"{ns.name}-{n}@example.com") for n in range(PROSPECTS)]
        pids = [e["data"]["prospect_id"] for e in people]
        # The registrations on a partition of `prospects` the first replica holds, the ratings on
        # one of `assessments` the second holds, in the same order: resumed, each writes the same
        # new records as the other, at the same moment (as keys land on different partitions
        # when topics differ in partition count, only less often).
        first, second = (_held(replica.log(), ns.topic(topic)) for replica, topic in
                         zip(replicas, ("prospects", "assessments")))
        producer = await kafka.producer()
        sends = [await producer.send(ns.topic("prospects"), json.dumps(e).encode(), key=pid.encode(), partition=first)
                 for pid, e in zip(pids, people)]
        sends += [await producer.send(ns.topic("assessments"), json.dumps(rated(pid, "shortlist")).encode(),
                                      key=pid.encode(), partition=second) for pid in pids]
        await asyncio.gather(*sends)
    finally:
        for replica in replicas:
            assert replica.popen is not None
            os.kill(replica.popen.pid, signal.SIGCONT)
    await kafka.caught_up(ns, "reminder")

    database = ns.database("reminder")

    async def all_there() -> bool:
        return await mongo_count(ns.stack, database, "prospects", {"_id": {"$in": pids}}) == PROSPECTS

    await eventually(all_there, timeout_s=60)
    whole = await mongo_count(ns.stack, database, "prospects", {
        "_id": {"$in": pids}, "job_id": "job-42", "rating": "shortlist", "waiting_since": {"$exists": True}})
    missing_registration = await mongo_count(ns.stack, database, "prospects", {"_id": {"$in": pids},
                                                                               "job_id": {"$exists": False}})
    missing_rating = await mongo_count(ns.stack, database, "prospects", {"_id": {"$in": pids},
                                                                         "rating": {"$ne": "shortlist"}})
    assert whole == PROSPECTS, (f"{PROSPECTS - whole} of {PROSPECTS} records lost a write: "
                                f"{missing_registration} their registration, {missing_rating} their rating")
