"""Intake throughput: N inquiries pre-loaded on a 6-partition topic; time from the consumer's
assignment until every prospect event is published. Baseline in the same run: a minimal raw
aiokafka consumer that bulk-upserts the same inquiries into the same database, without
validation, dedupe or publishing (the least work that still lands the data)."""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import time
import uuid

from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient, UpdateOne

from bench.common import BenchNamespace, produce, summary, wait_for_log, wait_for_records
from devstack.stack import ROOT
from shared import ids


def inquiries(count: int) -> list[tuple[str, dict]]:
    items = []
    for n in range(count):
        email = f"bench{n}@example.com"
        items.append((email, {
            "specversion": "1.0", "id": str(uuid.uuid4()), "source": "bench/board", "type": "inquiry.received",
            "time": "2026-11-25T09:30:00Z",
            "data": {"job_id": f"job-{n % 50}", "board": "bench-board", "board_inquiry_id": f"I-{n}",
                     "prospect": {"name": f"Prospect {n}", "email": email, "skills": ["python", "kafka"]},
                     "message": "I'd love to hear more about this role."},
        }))
    return items


async def run_intake(addresses: dict[str, str], count: int, processes: int) -> float:
    ns = BenchNamespace(addresses)
    await ns.create_topics()
    await produce(addresses["KAFKA_BOOTSTRAP_SERVERS"], ns.topic("inquiries"), inquiries(count))
    logs = [ROOT / ".devstack" / "bench-logs" / f"{ns.name}-intake{i}.log" for i in range(processes)]
    procs = [ns.start_service("intake", log) for log in logs]
    try:
        started = min(wait_for_log(log, "assigned to partitions") for log in logs)
        done = await wait_for_records(addresses["KAFKA_BOOTSTRAP_SERVERS"], ns.topic("prospects"), count)
        return count / (done - started)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)


async def run_baseline(addresses: dict[str, str], count: int) -> float:
    ns = BenchNamespace(addresses)
    await ns.create_topics([ "inquiries"])
    await produce(addresses["KAFKA_BOOTSTRAP_SERVERS"], ns.topic("inquiries"), inquiries(count))
    client: AsyncMongoClient = AsyncMongoClient(addresses["MONGODB_URI"])
    collection = client[ns.database("baseline")]["prospects"]
    consumer = AIOKafkaConsumer(ns.topic("inquiries"), bootstrap_servers=addresses["KAFKA_BOOTSTRAP_SERVERS"],
                                group_id=f"{ns.name}-baseline", auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        seen = 0
        started = None
        while seen < count:
            batch = await consumer.getmany(timeout_ms=100, max_records=500)
            records = [r for recs in batch.values() for r in recs]
            if not records:
                continue
            started = started or time.monotonic()
            operations = []
            for record in records:
                data = json.loads(record.value)["data"]
                email = data["prospect"]["email"].strip().lower()
                operations.append(UpdateOne({"_id": ids.prospect_id(data["job_id"], email)},
                                            {"$set": {"profile": data["prospect"], "job_id": data["job_id"]}}, upsert=True))
            await collection.bulk_write(operations, ordered=False)
            await consumer.commit()
            seen += len(records)
        return count / (time.monotonic() - started)
    finally:
        await consumer.stop()
        await client.close()


async def main(addresses: dict[str, str], count: int, runs: int, process_counts: list[int]) -> list[str]:
    baseline = [await run_baseline(addresses, count) for _ in range(runs)]
    lines = [f"intake throughput, {count:,} inquiries, {runs} runs, inquiries/s:",
             f"  raw aiokafka + bulk upsert baseline: {summary(baseline)}"]
    for processes in process_counts:
        rates = [await run_intake(addresses, count, processes) for _ in range(runs)]
        ratio = statistics.median(rates) / statistics.median(baseline)
        lines.append(f"  intake, {processes} process(es): {summary(rates)}; ratio to baseline {ratio:.2f}")
    return lines
