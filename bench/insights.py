"""Insights at scale: E events of a year, in the order they happened (R recruiters, 5 jobs each, prospects inquiring from three
boards, some again; ratings; messages sent from templates and sequence steps; replies, automatic
answers, bounces) published first, then one insights service started on them, as a new service
backfills: events/s from its joining the group to lag 0 on every topic it reads; then its API,
a year for one recruiter (median of 50 calls) and for every recruiter (an operator's, median of
20); its peak RSS. Baseline in the same run: a plain aiokafka consumer reading and decoding the
same records (reading alone: what counting costs on top of it)."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import BenchNamespace, memory_mb, produce, wait_for_log
from devstack.stack import ROOT
from prospectflow.bus import Bus
from shared import ids, topics
from shared.auth import mint
from shared.messages import received
from shared.settings import KafkaSettings
from tests.support import free_port

YEAR = datetime(2026, 1, 1, tzinfo=timezone.utc)
BOARDS = ("acme-board", "jobs-weekly", "indeed")
TEMPLATES = ("ask_to_apply", "arrange_interview", "not_a_match")
ZONES = ("Europe/Berlin", "America/New_York", "UTC", "Asia/Tokyo")
READ = (topics.JOBS, topics.PROSPECTS, topics.ASSESSMENTS, topics.MESSAGES)


def _event(type_: str, data: dict[str, Any], at: datetime, source: str) -> dict[str, Any]:
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": source, "type": type_,
            "datacontenttype": "application/json", "time": at.isoformat(), "data": data}


def year_of_events(count: int, recruiters: int, seed: int = 7) -> tuple[dict[str, list[tuple[str, dict]]], int]:
    """About `count` events by topic (key, event), and how many prospects they are about."""
    rnd = random.Random(seed)
    jobs = [(f"job-{r}-{j}", f"rec-{r}", ZONES[r % len(ZONES)]) for r in range(recruiters) for j in range(5)]
    by_topic: dict[str, list[tuple[str, dict]]] = {t: [] for t in READ}
    for job_id, recruiter, zone in jobs:
        by_topic[topics.JOBS].append((job_id, _event("job.opened", {
            "job_id": job_id, "title": "Backend Engineer", "company": "Acme",
            "recruiter": {"recruiter_id": recruiter, "name": "R", "email": f"{recruiter}@acme.example",
                          "timezone": zone}}, YEAR, "bench/ats")))
    made, prospects = len(jobs), 0
    while made < count:
        job_id, recruiter, _ = jobs[rnd.randrange(len(jobs))]
        email = f"p{prospects}@example.com"
        pid = ids.prospect_id(job_id, email)
        prospects += 1
        at = YEAR + timedelta(seconds=rnd.randrange(365 * 86_400))
        person = {"prospect_id": pid, "person_id": ids.person_id(email), "job_id": job_id,
                  "profile": {"name": f"P {prospects}", "email": email}}

        def add(topic: str, type_: str, data: dict[str, Any], when: datetime, source: str) -> None:
            nonlocal made
            by_topic[topic].append((pid, _event(type_, data, when, source)))
            made += 1

        add(topics.PROSPECTS, "prospect.registered", {**person, "inquiry": {
            "board": rnd.choice(BOARDS), "inquired_at": at.isoformat()}}, at, "prospectflow/intake")
        if rnd.random() < 0.1:
            again = at + timedelta(days=rnd.randrange(1, 20))
            add(topics.PROSPECTS, "prospect.inquired_again", {**person, "inquiry": {
                "board": rnd.choice(BOARDS), "inquired_at": again.isoformat()}}, again, "prospectflow/intake")
        if rnd.random() < 0.7:
            add(topics.ASSESSMENTS, "prospect.rated", {
                "prospect_id": pid, "job_id": job_id, "recruiter_id": recruiter,
                "rating": rnd.choice(("shortlist", "not_a_fit")), "previous_rating": "unrated",
                "command_id": f"c-{pid}"}, at + timedelta(hours=2), "prospectflow/rating")
        message = {"prospect_id": pid, "job_id": job_id, "recruiter_id": recruiter}
        sent_at = at + timedelta(minutes=rnd.randrange(10, 3 * 1440))
        if rnd.random() < 0.6:
            for step in (1, 2) if rnd.random() < 0.5 else (None,):
                when = sent_at + timedelta(days=3 * ((step or 1) - 1))
                add(topics.MESSAGES, "message.sent", {
                    **message, "message_id": f"m-{pid}-{step}", "command_id": f"c-{pid}-{step}",
                    "template": rnd.choice(TEMPLATES) if step is None else ("ask_to_apply", "follow_up")[step - 1],
                    "to": email, "subject": "s", "sent_at": when.isoformat(),
                    **({"sequence": {"enrollment_id": f"e-{pid}", "sequence_id": f"seq-{recruiter}", "step": step}}
                       if step else {})}, when, "prospectflow/messaging")
            answer = sent_at + timedelta(hours=rnd.randrange(1, 200))
            roll = rnd.random()
            if roll < 0.3:
                add(topics.MESSAGES, "message.replied", {**message, "message_id": f"r-{pid}", "received_at":
                                                         answer.isoformat(), "from": email, "subject": "Re",
                                                         "text": "yes"}, answer, "prospectflow/messaging")
            elif roll < 0.33:
                add(topics.MESSAGES, "message.bounced", {**message, "message_id": f"b-{pid}", "received_at":
                                                         answer.isoformat(), "permanent": True, "status": "5.1.1"},
                    answer, "prospectflow/messaging")
    for items in by_topic.values():  # as the topics hold them: in the order they happened
        items.sort(key=lambda item: item[1]["time"])
    return by_topic, prospects


async def read_all(bootstrap: str, names: list[str], count: int) -> float:
    """The baseline: a plain consumer reading and decoding `count` records of `names`; seconds."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001
        tps = [TopicPartition(t, p) for t in names for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        started, seen = time.perf_counter(), 0
        while seen < count:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=5_000)).values():
                for r in records:
                    json.loads(r.value)
                seen += len(records)
        return time.perf_counter() - started
    finally:
        await consumer.stop()


VALIDATED = 100_000


def validation_rate(by_topic: dict[str, list[tuple[str, dict]]]) -> float:
    """Events/s of `received()` (what the consumer does to each record before the handler) over
    the first VALIDATED events, serialised and parsed as from Kafka."""
    everything = [(topic, event) for topic, items in by_topic.items() for _, event in items]
    sample = [(topic, json.dumps(event).encode()) for topic, event in everything[::max(1, len(everything) // VALIDATED)]]
    started = time.perf_counter()
    for topic, raw in sample:
        received(topic, json.loads(raw))
    return len(sample) / (time.perf_counter() - started)


def _median_ms(url: str, headers: dict[str, str], calls: int) -> float:
    took = []
    with httpx.Client(timeout=60) as client:
        for _ in range(calls):
            started = time.perf_counter()
            answer = client.get(url, headers=headers)
            took.append((time.perf_counter() - started) * 1000)
            answer.raise_for_status()
    return statistics.median(took)


async def main(addresses: dict[str, str], count: int = 1_000_000, recruiters: int = 100) -> list[str]:
    bootstrap = addresses["KAFKA_BOOTSTRAP_SERVERS"]
    ns = BenchNamespace(addresses)
    process = None
    try:
        await ns.create_topics()
        by_topic, prospects = year_of_events(count, recruiters)
        events = sum(len(v) for v in by_topic.values())
        validating = validation_rate(by_topic)
        for topic, items in by_topic.items():
            await produce(bootstrap, ns.topic(topic), items)
        del by_topic
        secret = f"bench-secret-{ns.name}-long-enough-for-hs256"
        log = ROOT / ".devstack" / "bench-logs" / f"{ns.name}-insights.log"
        port = free_port()
        process = ns.start_service("insights", log, INSIGHTS_JWT_SECRET=secret, INSIGHTS_HTTP_PORT=str(port))
        wait_for_log(log, "assigned to partitions", timeout_s=180)
        idle = memory_mb(process.pid)[0]
        started = time.monotonic()
        async with Bus(KafkaSettings(bootstrap_servers=bootstrap)) as bus:
            while any((await bus.lag(f"{ns.name}-insights", [ns.topic(t) for t in topics.CONSUMED_BY["insights"]])
                       ).values()):
                if process.poll() is not None:
                    raise RuntimeError(f"insights exited ({process.returncode}); see {log}")
                await asyncio.sleep(0.5)
        took = time.monotonic() - started
        peak = memory_mb(process.pid)[1]
        base = await read_all(bootstrap, [ns.topic(t) for t in READ], events)
        year = "from=2026-01-01&to=2026-12-31"
        one = _median_ms(f"http://127.0.0.1:{port}/v1/insights?{year}",
                         {"Authorization": f"Bearer {mint(secret, 'rec-1', ttl_s=3600)}"}, 50)
        everyone = _median_ms(f"http://127.0.0.1:{port}/v1/insights?{year}",
                              {"Authorization": f"Bearer {mint(secret, 'ops', ttl_s=3600, scope='insights')}"}, 20)
        one_job = _median_ms(f"http://127.0.0.1:{port}/v1/insights?{year}&job_id=job-1-0&reading=cohort",
                             {"Authorization": f"Bearer {mint(secret, 'rec-1', ttl_s=3600)}"}, 50)
        return [f"insights: {events:,} events of a year ({prospects:,} prospects, {recruiters} recruiters, "
                f"{recruiters * 5} jobs) published, then one service started on them (a backfill), one run:",
                f"  counted to lag 0: {took:.1f} s, {events / took:,.0f} events/s (target >= 10,000)",
                f"  baseline, a plain consumer reading and decoding the same records: {base:.1f} s, "
                f"{events / base:,.0f} events/s; ratio {base / took:.2f}",
                f"  baseline, validating the records as every consumer does (envelope and data; this process, "
                f"{VALIDATED:,} of them): {validating:,.0f} events/s; ratio {events / took / validating:.2f}",
                f"  API, a year: one recruiter median {one:.0f} ms (target < 100), one job by cohort {one_job:.0f} ms, "
                f"every recruiter median {everyone:.0f} ms (target < 1,000)",
                f"  RSS: {idle:.0f} MB on joining, peak {peak:.0f} MB (target < 200)"]
    finally:
        await ns.finish(*([process] if process else []))
