"""Sequences: E enrollments over R recruiters, all due, and W more waiting (not yet due), seeded
straight into the sequences service's database; messaging knows the jobs and prospects (from
the topics, as it would). From one `sequences.run` as of the moment they are all due: the time
to every step's `messages.send` on messaging-commands, and to the last `message.sent`. The
sequences service's RSS during it (with E + W enrollments in its schedule).

Baseline in the same run, alternating: messaging alone sending the same E mails as the
recruiters would by pressing Go, one `messages.send` per recruiter of its E/R prospects."""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import datetime, timedelta, timezone

from pymongo import AsyncMongoClient

from bench.common import BenchNamespace, memory_mb, produce, summary, wait_for_log, wait_for_records
from bench.mail import private_sink
from devstack.stack import ROOT
from prospectflow.bus import Bus
from services.sequences import domain
from services.sequences.store import SequencesStore
from shared import ids
from shared.settings import KafkaSettings

WINDOW = {"start_hour": 0, "end_hour": 24, "days": list(domain.DAYS)}  # due whenever the run is
STEPS = [{"template": "ask_to_apply", "delay_business_days": 0}, {"template": "follow_up", "delay_business_days": 3}]


def event(type_: str, data: dict) -> dict:
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "bench", "type": type_, "data": data}


def people(enrolled: int, recruiters: int) -> list[tuple[str, str, str, str]]:
    """(prospect_id, email, job_id, recruiter_id) of each person due."""
    out = []
    for n in range(enrolled):
        r = n % recruiters
        email = f"seq{n}@example.com"
        out.append((ids.prospect_id(f"job-{r}", email), email, f"job-{r}", f"rec-{r}"))
    return out


async def seed_messaging(bootstrap: str, ns: BenchNamespace, due: list[tuple[str, str, str, str]], recruiters: int) -> None:
    await produce(bootstrap, ns.topic("jobs"), [(f"job-{r}", event("job.opened", {
        "job_id": f"job-{r}", "title": "Backend Engineer", "company": "Acme", "apply_url": "https://acme.example/apply",
        "recruiter": {"recruiter_id": f"rec-{r}", "name": f"Recruiter {r}", "email": f"rec{r}@acme.example"}}))
        for r in range(recruiters)])
    await produce(bootstrap, ns.topic("prospects"), [(pid, event("prospect.registered", {
        "prospect_id": pid, "person_id": ids.person_id(email), "job_id": job,
        "profile": {"name": f"Person {n}", "email": email},
        "inquiry": {"board": "bench", "inquired_at": "2026-11-25T09:00:00Z"}}))
        for n, (pid, email, job, _) in enumerate(due)])


async def seed_schedule(uri: str, database: str, due: list[tuple[str, str, str, str]], waiting: int,
                        recruiters: int, as_of: datetime) -> None:
    """The enrollments as the service writes them when it enrolls: `due` due by `as_of`
    (a second apart, oldest first), `waiting` due a month later."""
    client: AsyncMongoClient = AsyncMongoClient(uri)
    store = SequencesStore(client[database])
    await store.ensure_indexes()
    sequence = {"_id": "seq-bench", "recruiter_id": "rec-0", "version": 1, "name": "Bench", "steps": STEPS,
                "window": WINDOW, "daily_cap": 1_000, "created_at": as_of, "archived_at": None}
    await store.sequences.insert_one(sequence)
    await store.jobs.insert_many([{"_id": f"job-{r}", "recruiter_id": f"rec-{r}", "timezone": "UTC", "open": True,
                                   "title": "Backend Engineer"} for r in range(recruiters)])

    def enrollment(n: int, pid: str, job: str, recruiter: str, next_at: datetime) -> dict:
        return {"_id": f"enr-{n:07d}", "sequence_id": "seq-bench", "version": 1, "prospect_id": pid, "job_id": job,
                "recruiter_id": recruiter, "command_id": "bench", "steps": STEPS, "window": WINDOW,
                "sequence_name": "Bench", "daily_cap": 1_000, "timezone": "UTC", "recruiter_timezone": "UTC",
                "country": None, "state": "running", "step": 1, "steps_sent": 0, "created_at": next_at,
                "next_at": next_at, "created_next_at": next_at}

    docs = [enrollment(n, pid, job, rec, as_of - timedelta(seconds=len(due) - n)) for n, (pid, _, job, rec) in enumerate(due)]
    later = as_of + timedelta(days=30)
    docs += [enrollment(len(due) + n, f"waiting-{n}", f"job-{n % recruiters}", f"rec-{n % recruiters}",
                        later + timedelta(seconds=n)) for n in range(waiting)]
    for start in range(0, len(docs), 10_000):
        await store.enrollments.insert_many(docs[start:start + 10_000])
        await store.running.insert_many([{"_id": d["prospect_id"], "enrollment_id": d["_id"]}
                                         for d in docs[start:start + 10_000]])
    await client.close()


async def one(addresses: dict[str, str], port: int, enrolled: int, waiting: int, recruiters: int,
              alone: bool) -> dict[str, float]:
    """One run: with the sequences service (alone=False), or messaging alone given the recruiters' sends."""
    ns = BenchNamespace(addresses)
    await ns.create_topics()
    bootstrap = addresses["KAFKA_BOOTSTRAP_SERVERS"]
    due = people(enrolled, recruiters)
    as_of = datetime.now(timezone.utc).replace(microsecond=0)
    logs = ROOT / ".devstack" / "bench-logs"
    processes = []
    try:
        await seed_messaging(bootstrap, ns, due, recruiters)
        if not alone:
            await seed_schedule(addresses["MONGODB_URI"], ns.database("sequences"), due, waiting, recruiters, as_of)
        messaging = ns.start_service("messaging", logs / f"{ns.name}-messaging.log", SMTP_HOST="127.0.0.1",
                                     SMTP_PORT=str(port))
        processes.append(messaging)
        if not alone:
            sequences = ns.start_service("sequences", logs / f"{ns.name}-sequences.log", SEQUENCES_TICK_S="0")
            processes.append(sequences)
        wait_for_log(logs / f"{ns.name}-messaging.log", "assigned to partitions", timeout_s=120)
        async with Bus(KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=ns.prefix)) as bus:
            await bus.caught_up(f"{ns.name}-messaging", [ns.topic("prospects"), ns.topic("jobs")], timeout_s=600,
                                what="messaging")
            if not alone:
                wait_for_log(logs / f"{ns.name}-sequences.log", "assigned to partitions", timeout_s=120)
                await bus.caught_up(f"{ns.name}-sequences", [ns.topic("prospects"), ns.topic("jobs")], timeout_s=600,
                                    what="sequences")
        out: dict[str, float] = {}
        started = time.monotonic()
        if alone:
            by_recruiter: dict[str, list[str]] = {}
            for pid, _, _, rec in due:
                by_recruiter.setdefault(rec, []).append(pid)
            await produce(bootstrap, ns.topic("messaging-commands"), [(rec, event("messages.send", {
                "recruiter_id": rec, "template": "ask_to_apply", "prospect_ids": pids}))
                for rec, pids in by_recruiter.items()])
        else:
            out["idle"] = memory_mb(sequences.pid)[0]
            await produce(bootstrap, ns.topic("sequence-commands"), [("", event("sequences.run", {
                "as_of": as_of.isoformat()}))])
            out["published"] = await wait_for_records(bootstrap, ns.topic("messaging-commands"), enrolled) - started
        out["sent"] = await wait_for_records(bootstrap, ns.topic("messages"), enrolled) - started
        if not alone:
            out["peak"] = memory_mb(sequences.pid)[1]
        return out
    finally:
        await ns.finish(*processes)


async def main(addresses: dict[str, str], enrolled: int = 10_000, waiting: int = 90_000, recruiters: int = 100,
               runs: int = 3) -> tuple[list[str], dict]:
    with_sequences, alone = [], []
    with private_sink() as port:
        for _ in range(runs):  # alternate, so drift on a shared machine hits both alike
            alone.append(await one(addresses, port, enrolled, waiting, recruiters, alone=True))
            with_sequences.append(await one(addresses, port, enrolled, waiting, recruiters, alone=False))
    published = [r["published"] for r in with_sequences]
    rate = [enrolled / r["sent"] for r in with_sequences]
    base = [enrolled / r["sent"] for r in alone]
    lines = [f"sequences: {enrolled:,} enrollments due over {recruiters} recruiters (and {waiting:,} more waiting), "
             f"one sequences.run as of their moment, {runs} runs:",
             f"  every step's messages.send published: {summary([p * 1000 for p in published])} ms",
             f"  mailed by messaging (run -> last message.sent): {summary(rate)} mails/s",
             f"  baseline, messaging alone, the same mails as {recruiters} recruiters' sends: {summary(base)} mails/s; "
             f"ratio {statistics.median(rate) / statistics.median(base):.2f}"]
    memory = {"sequences idle": [r["idle"] for r in with_sequences],
              f"sequences peak, {enrolled + waiting:,} enrollments ({enrolled:,} due)": [r["peak"] for r in with_sequences]}
    return lines, memory
