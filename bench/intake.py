"""Intake throughput: N inquiries pre-loaded on a 6-partition topic; time from the first
prospect event published to the last (Kafka timestamps; start-up and rebalancing of the
processes before the first output are not counted). Baseline in the same run: a minimal raw
aiokafka consumer that bulk-upserts the same inquiries into the same database, without
validation, dedupe or publishing (the least work that still lands the data)."""

from __future__ import annotations

import json
import statistics
import time
import uuid

from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient, UpdateOne

from bench.common import (BenchNamespace, cpu_seconds, memory_mb, produce, stack_pids, summary, timestamp_span,
                          wait_for_log, wait_for_records)
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


async def run_intake(addresses: dict[str, str], count: int, processes: int) -> tuple[float, list[float], list[float], dict]:
    ns = BenchNamespace(addresses)
    await ns.create_topics()
    await produce(addresses["KAFKA_BOOTSTRAP_SERVERS"], ns.topic("inquiries"), inquiries(count))
    logs = [ROOT / ".devstack" / "bench-logs" / f"{ns.name}-intake{i}.log" for i in range(processes)]
    procs = [ns.start_service("intake", log) for log in logs]
    try:
        started = min(wait_for_log(log, "assigned to partitions") for log in logs)
        others = stack_pids()
        cpu_before = {**{f"intake{i}": cpu_seconds(p.pid) for i, p in enumerate(procs)},
                      **{k: cpu_seconds(pid) for k, pid in others.items()}}
        idle = [memory_mb(p.pid)[0] for p in procs]  # at once: a moment into the work
        done = await wait_for_records(addresses["KAFKA_BOOTSTRAP_SERVERS"], ns.topic("prospects"), count)
        cpu_after = {**{f"intake{i}": cpu_seconds(p.pid) for i, p in enumerate(procs)},
                     **{k: cpu_seconds(pid) for k, pid in others.items()}}
        cores = {k: (cpu_after[k] - cpu_before[k]) / (done - started) for k in cpu_before}
        # From the first prospect event to the last one: processing, not the processes' start-up.
        span = await timestamp_span(addresses["KAFKA_BOOTSTRAP_SERVERS"], ns.topic("prospects"))
        return (count - 1) / span, idle, [memory_mb(p.pid)[1] for p in procs], cores
    finally:
        await ns.finish(*procs)


async def run_baseline(addresses: dict[str, str], count: int, insert: bool = False) -> float:
    """`insert`: insert_many instead of upserts, the fastest plain write (it would fail on a
    redelivered or repeated inquiry, which intake handles)."""
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
            operations, documents = [], []
            for record in records:
                data = json.loads(record.value)["data"]
                email = data["prospect"]["email"].strip().lower()
                pid = ids.prospect_id(data["job_id"], email)
                documents.append({"_id": pid, "profile": data["prospect"], "job_id": data["job_id"]})
                operations.append(UpdateOne({"_id": pid},
                                            {"$set": {"profile": data["prospect"], "job_id": data["job_id"]}}, upsert=True))
            if insert:
                await collection.insert_many(documents, ordered=False)
            else:
                await collection.bulk_write(operations, ordered=False)
            await consumer.commit()
            seen += len(records)
        return count / (time.monotonic() - started)
    finally:
        await consumer.stop()
        await client.close()
        await ns.clean_up()


async def main(addresses: dict[str, str], count: int, runs: int, process_counts: list[int],
               upsert_count: int | None = None) -> tuple[list[str], dict]:
    upsert_count = upsert_count or count
    upsert = [await run_baseline(addresses, upsert_count) for _ in range(runs)]
    insert = [await run_baseline(addresses, count, insert=True) for _ in range(runs)]
    lines = [f"intake throughput, {count:,} inquiries pre-loaded on 6 partitions -> all prospects published, "
             f"{runs} runs, inquiries/s:",
             f"  baseline A (the issue's): raw aiokafka consumer + bulk upsert by _id, {upsert_count:,} inquiries: "
             f"{summary(upsert)}",
             f"  baseline B (fastest plain write): raw aiokafka consumer + insert_many: {summary(insert)}"]
    memory: dict[str, list[float]] = {}
    medians = {}
    for processes in process_counts:
        results = [await run_intake(addresses, count, processes) for _ in range(runs)]
        rates = [r[0] for r in results]
        medians[processes] = statistics.median(rates)
        lines.append(f"  intake, {processes} process(es): {summary(rates)}; ratio to A {medians[processes] / statistics.median(upsert):.2f}, "
                     f"to B {medians[processes] / statistics.median(insert):.2f}")
        memory[f"intake peak, {count:,} inquiries, {processes} process(es)"] = [m for r in results for m in r[2]]
        cores = {k: statistics.median(r[3][k] for r in results) for k in results[0][3]}
        lines.append("    CPU in cores (median): " + ", ".join(f"{k} {v:.2f}" for k, v in cores.items())
                     + f"; total {sum(cores.values()):.2f} of 2")
    if 1 in medians and 2 in medians:
        lines.append(f"  2 processes / 1 process: {medians[2] / medians[1]:.2f}")
    return lines, memory
