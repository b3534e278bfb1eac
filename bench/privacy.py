"""Erasure at scale: P prospects over 100 jobs seeded straight into every service that holds
personal data (intake, rating, messaging, reminder, sequences; webhooks knows the jobs), then E
`person.erase` commands published at once: the time until every service has answered each
(E x 6 `person.erased` on `privacy`). Baseline in the same run: the same erasures done by the
stores' own code in this process, one person after another, without Kafka (the database work
alone), on a second copy of the same data."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo import AsyncMongoClient

from bench.common import BenchNamespace, memory_mb, produce, wait_for_log, wait_for_records
from devstack.stack import ROOT
from services.intake.store import IntakeStore
from services.messaging.store import MessagingStore
from services.rating.store import RatingStore
from services.reminder.store import ReminderStore
from services.sequences.store import SequencesStore
from services.webhooks.store import WebhooksStore
from shared import ids, privacy, topics

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
JOBS = 100
STORES = {"intake": IntakeStore, "rating": RatingStore, "messaging": MessagingStore, "reminder": ReminderStore,
          "sequences": SequencesStore, "webhooks": WebhooksStore}


def person(n: int) -> tuple[str, str, str, str]:
    """(email, name, job_id, prospect_id) of the n-th prospect."""
    email = f"person{n}@example.com"
    job = f"job-{n % JOBS}"
    return email, f"Person {n}", job, ids.prospect_id(job, email)


async def seed(uri: str, databases: dict[str, str], prospects: int) -> None:
    client: AsyncMongoClient = AsyncMongoClient(uri)
    stores: dict[str, Any] = {name: cls(client[databases[name]]) for name, cls in STORES.items()}
    for store in stores.values():
        await store.ensure_indexes()
    jobs = [{"_id": f"job-{j}", "recruiter_id": f"rec-{j}", "title": "Backend Engineer", "open": True} for j in range(JOBS)]
    for name in ("intake", "rating", "messaging", "reminder", "sequences", "webhooks"):
        await stores[name].jobs.insert_many([dict(j) for j in jobs])
    for start in range(0, prospects, 10_000):
        chunk = [person(n) for n in range(start, min(prospects, start + 10_000))]
        at = T0 + timedelta(seconds=start)
        await stores["intake"].prospects.insert_many([
            {"_id": pid, "person_id": ids.person_id(e), "job_id": j, "profile": {"name": nm, "email": e},
             "registered_by": f"ev-{pid}", "first_inquired_at": at} for e, nm, j, pid in chunk])
        await stores["intake"].inquiries.insert_many([
            {"_id": f"ev-{pid}", "board_key": f"event\x1fev-{pid}", "prospect_id": pid, "person_id": ids.person_id(e),
             "job_id": j, "board": "bench", "profile": {"name": nm, "email": e}, "inquired_at": at}
            for e, nm, j, pid in chunk])
        await stores["rating"].board.insert_many([
            {"_id": pid, "job_id": j, "recruiter_id": f"rec-{j[4:]}", "job_open": True, "rating": "unrated",
             "flagged": False, "waiting_since": at, "profile": {"name": nm, "email": e}} for e, nm, j, pid in chunk])
        await stores["rating"].history.insert_many([
            {"_id": f"h-{pid}", "prospect_id": pid, "kind": "inquiry", "at": at, "order": 0, "board": "bench"}
            for _, _, _, pid in chunk])
        await stores["messaging"].contacts.insert_many([
            {"_id": pid, "job_id": j, "email": e, "name": nm} for e, nm, j, pid in chunk])
        await stores["reminder"].prospects.insert_many([
            {"_id": pid, "job_id": j, "recruiter_id": f"rec-{j[4:]}", "name": nm, "flagged": False, "job_open": True,
             "waiting_since": at} for _, nm, j, pid in chunk])
        await stores["sequences"].prospects.insert_many([
            {"_id": pid, "job_id": j, "email": e, "name": nm} for e, nm, j, pid in chunk])
    await client.close()


async def baseline(uri: str, databases: dict[str, str], erased: int) -> float:
    """The same erasures by the stores' code, one person after another, without Kafka."""
    client: AsyncMongoClient = AsyncMongoClient(uri)
    stores = {name: cls(client[databases[name]]) for name, cls in STORES.items()}
    started = time.perf_counter()
    for n in range(erased):
        email = person(n)[0]
        for store in stores.values():
            await privacy.erase(store, ids.person_id(email), email)
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed


async def main(addresses: dict[str, str], prospects: int = 100_000, erased: int = 1_000) -> list[str]:
    bootstrap = addresses["KAFKA_BOOTSTRAP_SERVERS"]
    ns = BenchNamespace(addresses)
    copy = BenchNamespace(addresses)
    processes = []
    try:
        await ns.create_topics()
        databases = {name: ns.database(name) for name in STORES}
        copies = {name: copy.database(name) for name in STORES}
        began = time.monotonic()
        await seed(addresses["MONGODB_URI"], databases, prospects)
        await seed(addresses["MONGODB_URI"], copies, prospects)
        seeded = time.monotonic() - began
        logs = ROOT / ".devstack" / "bench-logs"
        extra = {"REMINDER_TICK_S": "0", "SEQUENCES_TICK_S": "0", "RATING_RETENTION_TICK_S": "0",
                 "WEBHOOKS_SECRET_KEY": f"bench-{ns.name}", "INTAKE_BOARD_SECRETS": "{}",
                 "RATING_JWT_SECRET": f"bench-secret-{ns.name}-long-enough-for-hs256"}
        for name in STORES:
            processes.append(ns.start_service(name, logs / f"{ns.name}-{name}.log", **extra))
        for name in STORES:
            wait_for_log(logs / f"{ns.name}-{name}.log", "assigned to partitions", timeout_s=180)
        commands = [(person(n)[0], {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "bench",
                                    "type": "person.erase", "data": {"email": person(n)[0], "requested_by": "bench"}})
                    for n in range(erased)]
        started = time.monotonic()
        await produce(bootstrap, ns.topic(topics.PRIVACY_COMMANDS), commands)
        done = await wait_for_records(bootstrap, ns.topic(topics.PRIVACY), erased * len(STORES), timeout_s=3_600)
        took = done - started
        peak = {name: memory_mb(p.pid)[1] for name, p in zip(STORES, processes)}
        base = await baseline(addresses["MONGODB_URI"], copies, erased)
        return [f"privacy: {erased:,} people erased over {prospects:,} prospects in each of {len(STORES)} services "
                f"(seeded in {seeded:.0f} s), one run:",
                f"  every service answered every erasure ({erased * len(STORES):,} person.erased): {took:.1f} s, "
                f"{erased / took:.1f} people/s",
                f"  baseline, the stores' erasure code in one process, one person after another, no Kafka: {base:.1f} s; "
                f"ratio {base / took:.2f}",
                "  peak RSS, MB: " + ", ".join(f"{k} {v:.0f}" for k, v in peak.items())]
    finally:
        await ns.finish(*processes)
        await copy.clean_up()
