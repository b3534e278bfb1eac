"""One evaluation of the reminder schedule over W waiting prospects of R recruiters, seeded
straight into reminder's database: from `reminders.run` published to the last reminder on the
topic. Baseline in the same run: the plain PyMongo query that finds who is waiting."""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import datetime, timedelta, timezone

from pymongo import AsyncMongoClient

from bench.common import BenchNamespace, memory_mb, produce, summary, wait_for_log, wait_for_records
from devstack.stack import ROOT
from services.reminder.store import GROUP_SIZE, ReminderStore

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


async def seed(uri: str, database: str, waiting: int, recruiters: int) -> None:
    client: AsyncMongoClient = AsyncMongoClient(uri)
    store = ReminderStore(client[database])
    await store.ensure_indexes()
    await store.recruiters.insert_many([{"_id": f"rec-{r}", "timezone": "Europe/Berlin", "reminder_hour": 8}
                                        for r in range(recruiters)])
    await store.jobs.insert_many([{"_id": f"job-{r}", "recruiter_id": f"rec-{r}", "title": "Backend Engineer", "open": True}
                                  for r in range(recruiters)])
    chunk = []
    for n in range(waiting):
        r = n % recruiters
        chunk.append({"_id": f"p{n:08d}", "job_id": f"job-{r}", "recruiter_id": f"rec-{r}", "job_open": True,
                      "flagged": False, "rating": ("unrated", "shortlist", "not_a_fit")[n % 3], "name": f"P {n}",
                      "waiting_since": T0 + timedelta(seconds=n)})
        if len(chunk) == 10_000:
            await store.prospects.insert_many(chunk)
            chunk = []
    if chunk:
        await store.prospects.insert_many(chunk)
    await client.close()


async def baseline(uri: str, database: str, recruiters: int) -> float:
    """Who waits, read as the service reads it (`ReminderStore.waiting`: the counts and the
    oldest, counted by the database), 200 recruiters at a time, without Kafka or building."""
    client: AsyncMongoClient = AsyncMongoClient(uri)
    store = ReminderStore(client[database])
    wanted = sorted(f"rec-{r}" for r in range(recruiters))
    started = time.perf_counter()
    counted = 0
    for start in range(0, len(wanted), GROUP_SIZE):
        counts, _ = await store.waiting(wanted[start:start + GROUP_SIZE])
        counted += sum(c["n"] for c in counts)
    elapsed = time.perf_counter() - started
    await client.close()
    assert counted
    return elapsed


async def one(addresses: dict[str, str], waiting: int, recruiters: int) -> tuple[float, float, float, float]:
    ns = BenchNamespace(addresses)
    await ns.create_topics()
    database = ns.database("reminder")
    await seed(addresses["MONGODB_URI"], database, waiting, recruiters)
    log = ROOT / ".devstack" / "bench-logs" / f"{ns.name}-reminder.log"
    process = ns.start_service("reminder", log, REMINDER_TICK_S="0")
    try:
        wait_for_log(log, "assigned to partitions", timeout_s=120)
        idle = memory_mb(process.pid)[0]
        command = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "bench", "type": "reminders.run",
                   "data": {"as_of": "2026-11-25T09:00:00Z"}}
        started = time.monotonic()
        await produce(addresses["KAFKA_BOOTSTRAP_SERVERS"], ns.topic("reminder-commands"), [("", command)])
        done = await wait_for_records(addresses["KAFKA_BOOTSTRAP_SERVERS"], ns.topic("reminders"), recruiters)
        peak = memory_mb(process.pid)[1]
        return done - started, await baseline(addresses["MONGODB_URI"], database, recruiters), idle, peak
    finally:
        await ns.finish(process)


async def main(addresses: dict[str, str], sizes: list[tuple[int, int]], runs: int = 3) -> tuple[list[str], dict]:
    lines = [f"reminder evaluation (reminders.run published -> the last reminder on the topic), {runs} runs:"]
    memory: dict[str, list[float]] = {}
    previous = None
    for waiting, recruiters in sizes:
        results = [await one(addresses, waiting, recruiters) for _ in range(runs)]
        service = [r[0] for r in results]
        base = [r[1] for r in results]
        growth = "" if previous is None else \
            f"; time x{statistics.median(service) / previous[0]:.1f} for prospects x{waiting / previous[1]:.0f}"
        previous = (statistics.median(service), waiting)
        lines.append(f"  {waiting:,} waiting / {recruiters:,} recruiters: {summary([s * 1000 for s in service])} ms; "
                     f"baseline query {summary([b * 1000 for b in base])} ms; ratio "
                     f"{statistics.median(service) / statistics.median(base):.2f}{growth}")
        memory["reminder idle"] = memory.get("reminder idle", []) + [r[2] for r in results]
        memory[f"reminder peak, {waiting:,} waiting"] = [r[3] for r in results]
    return lines, memory
