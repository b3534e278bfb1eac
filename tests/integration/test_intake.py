"""Intake on the real stack: raw JSON in through a plain Kafka producer, events and the
database read back. No mocks."""

from __future__ import annotations

import json

from shared import ids
from tests.support import Kafka, Namespace, cloud_event, eventually, events, headers, mongo_count


def inquiry(email: str, *, job: str = "job-42", board: str = "acme-board", board_inquiry_id: str | None = None,
            id: str | None = None, name: str = "Lee Park", **prospect) -> dict:
    data = {"job_id": job, "board": board, "prospect": {"name": name, "email": email, **prospect},
            "message": "I'd love to hear more about this role."}
    if board_inquiry_id:
        data["board_inquiry_id"] = board_inquiry_id
    return cloud_event("inquiry.received", data, id=id)


async def test_merge_cases(ns: Namespace, kafka: Kafka):
    intake = ns.start("intake")
    first = inquiry("Lee.Park@example.com", board_inquiry_id="A-1", phone="+49 30 1234")
    again = inquiry("lee.park@example.com ", board_inquiry_id="A-2", headline="Python engineer")
    same_board_inquiry = inquiry("lee.park@example.com", board_inquiry_id="A-1")  # a new event id
    other_job = inquiry("LEE.PARK@example.com", job="job-43", board_inquiry_id="A-3")
    for event in (first, again, dict(first), same_board_inquiry, other_job, dict(again)):
        await kafka.send_event(ns.topic("inquiries"), event, key="lee.park@example.com")

    await kafka.read(ns.topic("prospects"), count=3, timeout_s=60)
    await kafka.caught_up(ns, "intake")
    records = await kafka.read_to_end(ns.topic("prospects"))
    published = events(records)
    assert len(published) == 3
    # order holds per key (prospect), not across the topic's partitions
    on_job_42 = [e for e in published if e["data"]["job_id"] == "job-42"]
    assert [e["type"] for e in on_job_42] == ["prospect.registered", "prospect.inquired_again"]
    registered, inquired_again = on_job_42
    [on_other_job] = [e for e in published if e["data"]["job_id"] == "job-43"]
    assert on_other_job["type"] == "prospect.registered"
    assert registered["data"]["prospect_id"] == inquired_again["data"]["prospect_id"] == ids.prospect_id("job-42", "lee.park@example.com")
    assert on_other_job["data"]["prospect_id"] != registered["data"]["prospect_id"]
    assert on_other_job["data"]["person_id"] == registered["data"]["person_id"]
    # the snapshot grows: the second inquiry keeps the phone of the first
    assert inquired_again["data"]["profile"]["phone"] == "+49 30 1234"
    assert inquired_again["data"]["profile"]["headline"] == "Python engineer"
    assert registered["correlationid"] == first["id"] and registered["source"] == "prospectflow/intake"
    assert all(r.key.decode() == e["data"]["prospect_id"] for r, e in zip(records, published))
    assert dict(records[0].headers)["content-type"] == b"application/cloudevents+json"
    assert await mongo_count(ns.stack, ns.database("intake"), "prospects") == 2
    assert await mongo_count(ns.stack, ns.database("intake"), "inquiries") == 3
    assert intake.popen.poll() is None


async def test_bad_inquiries_are_dead_lettered_and_processing_goes_on(ns: Namespace, kafka: Kafka):
    ns.start("intake")
    topic = ns.topic("inquiries")
    not_cloudevent = {"job_id": "job-42", "email": "x@example.com"}
    missing_field = inquiry("a@example.com")
    del missing_field["data"]["board"]
    invalid_email = inquiry("not an address")
    await kafka.send_raw(topic, b"{this is not json", key="k1", headers=[("trace", b"\x00\xffraw")])
    await kafka.send_raw(topic, json.dumps(not_cloudevent).encode(), key="k2")
    await kafka.send_event(topic, missing_field, key="k3")
    await kafka.send_event(topic, invalid_email, key="k4")
    await kafka.send_event(topic, inquiry("valid@example.com"), key="k5")

    dead = await kafka.read(ns.topic("inquiries.dlq"), count=4, timeout_s=60)
    by_key = {r.key.decode(): r for r in dead}
    assert {k: headers(r)["x-dlq-reason"] for k, r in by_key.items()} == {
        "k1": "not_json", "k2": "not_cloudevent", "k3": "invalid_data", "k4": "invalid_data"}
    assert "board" in headers(by_key["k3"])["x-dlq-error"]
    assert "prospect.email" in headers(by_key["k4"])["x-dlq-error"]
    raw = by_key["k1"]
    assert raw.value == b"{this is not json"
    assert ("trace", b"\x00\xffraw") in raw.headers  # original headers unchanged, byte for byte
    h = headers(raw)
    assert h["x-dlq-service"] == "intake" and h["x-dlq-original-topic"] == topic
    assert h["x-dlq-original-partition"].isdigit() and h["x-dlq-original-offset"].isdigit() and h["x-dlq-failed-at"]

    prospects = await kafka.read(ns.topic("prospects"), count=1, timeout_s=30)
    assert [e["data"]["profile"]["email"] for e in events(prospects)] == ["valid@example.com"]


async def test_two_processes_share_the_partitions(ns: Namespace, kafka: Kafka):
    first, second = ns.start("intake", INTAKE_LOG_LEVEL="DEBUG"), ns.start("intake", INTAKE_LOG_LEVEL="DEBUG")
    await eventually(lambda: kafka.group_members(f"{ns.name}-intake"), timeout_s=60)
    for process in (first, second):
        process.wait_for_log("assigned to partitions")
    assert await kafka.group_members(f"{ns.name}-intake") == 2
    total = 600
    await kafka.send_many(ns.topic("inquiries"), [
        (f"p{n}@example.com", inquiry(f"p{n}@example.com", board_inquiry_id=f"B-{n}")) for n in range(total)
    ])
    await kafka.read(ns.topic("prospects"), count=total, timeout_s=120)
    await kafka.caught_up(ns, "intake")
    records = await kafka.read_to_end(ns.topic("prospects"))
    published = events(records)
    assert len({e["id"] for e in published}) == total
    assert len(published) == total  # nobody processed a message twice
    assert len({e["correlationid"] for e in published}) == total
    assert await mongo_count(ns.stack, ns.database("intake"), "prospects") == total
    # every publish marked (beside each batch's commit), so no redelivery would re-send one
    assert await eventually(lambda: _at_least(ns, ns.database("intake"), "published", total), timeout_s=30)


async def test_crash_midway_loses_nothing_and_duplicates_nothing(ns: Namespace, kafka: Kafka):
    total = 1000
    intake = ns.start("intake", INTAKE_BATCH_MAX_RECORDS="50")
    await kafka.send_many(ns.topic("inquiries"), [
        (f"c{n}@example.com", inquiry(f"c{n}@example.com", board_inquiry_id=f"C-{n}")) for n in range(total)
    ])
    database = ns.database("intake")
    midway = await eventually(lambda: _between(ns, database, 100, total - 100), timeout_s=120, interval_s=0.02)
    assert midway, "intake never got midway"
    intake.kill()
    intake.start()

    await kafka.read(ns.topic("prospects"), until=lambda rs: len({json.loads(r.value)["id"] for r in rs}) >= total,
                     timeout_s=180)
    await kafka.caught_up(ns, "intake")
    records = await kafka.read_to_end(ns.topic("prospects"))
    distinct = {e["id"]: e for e in events(records)}
    assert len(distinct) == total  # all registered; replays re-sent the same ids only
    assert {e["type"] for e in distinct.values()} == {"prospect.registered"}
    assert await mongo_count(ns.stack, database, "prospects") == total
    assert await mongo_count(ns.stack, database, "inquiries") == total
    # and the publishes were confirmed: a marker per inquiry, so no later redelivery re-sends
    # one; the marks land beside the offset commit, so at most the batch in hand at the kill
    # (50) may have been committed without its marks, and is never delivered again anyway
    marked = await eventually(lambda: _at_least(ns, database, "published", total - 50), timeout_s=30)
    assert marked, "the publishes were not marked"
    assert await mongo_count(ns.stack, database, "published") <= total


async def _at_least(ns: Namespace, database: str, collection: str, least: int) -> bool:
    return await mongo_count(ns.stack, database, collection) >= least


async def _between(ns: Namespace, database: str, low: int, high: int) -> bool:
    count = await mongo_count(ns.stack, database, "inquiries")
    return low <= count <= high


async def test_database_outage_stalls_then_resumes(ns: Namespace, kafka: Kafka, private_ferretdb):
    """MongoDB goes away: intake retries and commits nothing; when it is back, all arrive."""
    intake = ns.start("intake", MONGODB_URI=private_ferretdb.uri, INTAKE_RETRY_MAX_BACKOFF_S="0.5")
    intake.wait_for_log("assigned to partitions")
    private_ferretdb.stop()
    await kafka.send_many(ns.topic("inquiries"), [
        (f"o{n}@example.com", inquiry(f"o{n}@example.com", board_inquiry_id=f"O-{n}")) for n in range(50)
    ])
    intake.wait_for_log("mongodb is failing", timeout_s=60)  # it tried, and the database is down
    assert await kafka.read_to_end(ns.topic("prospects")) == []
    private_ferretdb.start()
    records = await kafka.read(ns.topic("prospects"), count=50, timeout_s=90)
    assert len({e["id"] for e in events(records)}) == 50
