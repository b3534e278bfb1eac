"""The Recruiter Dashboard: a Prospects page of 50 with N prospects on the board (seeded straight
into rating's database), and how long after its event an update reaches an open page by SSE.

Baselines in the same run: for the page, the two rating API calls it makes (the view's page and
the counts); for SSE, a plain aiokafka reader of the same topic, tailing it as the dashboard does.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import time
import uuid

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.common import BenchNamespace, dashboard_session, percentile, summary, wait_for_log
from bench.views import seed
from devstack.stack import ROOT
from shared.auth import mint
from tests.support import cloud_event, free_port

RECRUITER = "rec-0"


async def timed(client: httpx.AsyncClient, url: str, **kwargs: object) -> float:
    started = time.perf_counter()
    response = await client.get(url, **kwargs)  # type: ignore[arg-type]
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000


async def sse_delays(bootstrap: str, ns: BenchNamespace, dashboard: str, cookie: str, samples: int) -> tuple[list[float], list[float]]:
    """Flag seeded prospects one at a time; per flag, the ms from rating's `assessments` event
    (its Kafka timestamp) to the dashboard's SSE fragment, and to a raw reader of the topic."""
    topic = ns.topic("assessments")
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await reader.start()
    await producer.start()
    partitions = [TopicPartition(topic, p) for p in sorted(await producer.partitions_for(topic))]
    reader.assign(partitions)
    await reader.seek_to_end(*partitions)
    for tp in partitions:
        await reader.position(tp)
    pushed: dict[str, float] = {}
    raw: dict[str, tuple[float, float]] = {}  # prospect -> (event timestamp, read at), epoch ms

    async def listen(stream: httpx.Response) -> None:
        async for line in stream.aiter_lines():
            if line.startswith("data: "):
                payload = json.loads(line[6:])
                if payload.get("mode") == "row":
                    pushed.setdefault(payload["target"][4:], time.time() * 1000)

    async def tail() -> None:
        while True:
            for records in (await reader.getmany(timeout_ms=100)).values():
                for record in records:
                    data = json.loads(record.value)["data"]
                    raw.setdefault(data["prospect_id"], (record.timestamp, time.time() * 1000))

    to_sse, to_raw = [], []
    async with httpx.AsyncClient(timeout=None, cookies={"pf_session": cookie}) as client:
        async with client.stream("GET", f"{dashboard}/events") as stream:
            listener, tailer = asyncio.create_task(listen(stream)), asyncio.create_task(tail())
            try:
                for n in range(samples):
                    pid = f"p{(n * 4 + 1):07d}"  # not flagged in the seed
                    command = cloud_event("prospects.flag_follow_up", {"recruiter_id": RECRUITER, "prospect_ids": [pid],
                                                                       "flagged": True}, id=str(uuid.uuid4()))
                    await producer.send_and_wait(ns.topic("rating-commands"), json.dumps(command).encode(),
                                                 key=RECRUITER.encode())
                    deadline = time.monotonic() + 60
                    while (pid not in pushed or pid not in raw) and time.monotonic() < deadline:
                        await asyncio.sleep(0.005)
                    if pid in pushed and pid in raw:
                        stamp, read_at = raw[pid]
                        to_sse.append(pushed[pid] - stamp)
                        to_raw.append(read_at - stamp)
            finally:
                listener.cancel()
                tailer.cancel()
    await reader.stop()
    await producer.stop()
    return to_sse, to_raw


async def main(addresses: dict[str, str], count: int = 10_000, repeats: int = 40, samples: int = 20) -> list[str]:
    ns = BenchNamespace(addresses)
    await ns.create_topics()
    await seed(addresses["MONGODB_URI"], ns.database("rating"), count, 1)
    secret = secrets.token_urlsafe(32)
    rating_port, dashboard_port = free_port(), free_port()
    logs = ROOT / ".devstack" / "bench-logs"
    rating = ns.start_service("rating", logs / f"{ns.name}-rating.log", RATING_JWT_SECRET=secret,
                              RATING_HTTP_PORT=str(rating_port))
    dashboard = ns.start_service("dashboard", logs / f"{ns.name}-dashboard.log", DASHBOARD_JWT_SECRET=secret,
                                 DASHBOARD_HTTP_PORT=str(dashboard_port),
                                 DASHBOARD_RATING_API_URL=f"http://127.0.0.1:{rating_port}")
    try:
        wait_for_log(logs / f"{ns.name}-rating.log", "Uvicorn running", timeout_s=120)
        wait_for_log(logs / f"{ns.name}-dashboard.log", "reading updates", timeout_s=120)
        token = mint(secret, RECRUITER, ttl_s=3600)
        base = f"http://127.0.0.1:{dashboard_port}"
        api = f"http://127.0.0.1:{rating_port}"
        cookie = dashboard_session(base, secret, RECRUITER)
        async with httpx.AsyncClient(timeout=120, cookies={"pf_session": cookie}) as client:
            headers = {"Authorization": f"Bearer {token}"}
            await timed(client, f"{base}/prospects")  # warm-up
            page, counts, baseline = [], [], []
            for _ in range(repeats):
                page.append(await timed(client, f"{base}/prospects?view=all"))
                counts.append(await timed(client, f"{base}/prospects/counts?view=all"))
                baseline.append(await timed(client, f"{api}/prospects?view=all&limit=50", headers=headers))
        to_sse, to_raw = await sse_delays(addresses["KAFKA_BOOTSTRAP_SERVERS"], ns, base, cookie, samples)
    finally:
        await ns.finish(dashboard, rating)
    return [
        f"dashboard, Prospects page of 50 with {count:,} prospects on the recruiter's board, ms ({repeats} requests):",
        f"  the page: {summary(page)}; p95 {percentile(page, 95):.0f}",
        f"  its counts, loaded after it (/prospects/counts: rating's summary, messaging's sends): {summary(counts)}; "
        f"p95 {percentile(counts, 95):.0f}",
        f"  baseline, the rating API call it makes (a page of the view): {summary(baseline)}; "
        f"p95 {percentile(baseline, 95):.0f}; page/baseline {statistics.median(page) / statistics.median(baseline):.2f}",
        f"  an update (a flag set by a command) on an open page, ms after rating's event ({len(to_sse)} of {samples}): "
        f"{summary(to_sse)}; p95 {percentile(to_sse, 95):.0f}",
        f"  baseline, a raw reader of `assessments`: {summary(to_raw)}; SSE/raw "
        f"{statistics.median(to_sse) / max(0.1, statistics.median(to_raw)):.1f}",
    ]
