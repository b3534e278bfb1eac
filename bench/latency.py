"""End-to-end latency: inquiries published at a steady rate for a while; for a sample of them,
the time from publishing until the prospect is visible through the rating API. Intake and
rating run as real processes on the local stack.

One poller asks `GET /prospects/{id}` for each sampled prospect not yet seen, one request at a
time, every 10 ms, from 40 ms after publishing: on FerretDB every lookup is a scan of the board,
so polling must stay light or it loads the database it measures (a first version polled per
probe every 5 ms from the start and drove the latency into seconds). Latencies under 40 ms
show as 40 ms; the resolution is 10 ms, so the figures are upper bounds."""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import time
import uuid

from aiokafka import AIOKafkaProducer

from bench.common import BenchNamespace, memory_mb, percentile, produce, summary, wait_for_log
from devstack.stack import ROOT
from shared import ids
from shared.auth import mint
from tests.support import free_port

JOB = "job-latency"
RECRUITER = "rec-latency"
POLL_S = 0.01
FIRST_LOOK_S = 0.04


class Http:
    """A keep-alive HTTP/1.1 connection that only needs GET and the status code."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def status(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {self.token}\r\n\r\n".encode())
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def inquiry(n: int, run: str) -> tuple[str, dict]:
    email = f"lat{n}-{run}@example.com"
    return email, {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "bench/board", "type": "inquiry.received",
                   "data": {"job_id": JOB, "board": "bench", "board_inquiry_id": f"L-{run}-{n}",
                            "prospect": {"name": f"Prospect {n}", "email": email}}}


class Poller:
    """Watches sampled prospects until the API shows each; records how long that took."""

    def __init__(self, http: Http) -> None:
        self.http = http
        self.waiting: dict[str, float] = {}  # prospect id -> when its inquiry was published
        self.latencies: list[float] = []
        self.missing = 0

    def expect(self, prospect_id: str, published: float) -> None:
        self.waiting[prospect_id] = published

    async def run(self, stop: asyncio.Event, timeout_s: float = 30) -> int:
        """Poll until `stop` is set and nothing is waiting (or waited `timeout_s`); return how
        many never became visible."""
        while not (stop.is_set() and not self.waiting):
            started = time.perf_counter()
            for prospect_id, published in sorted(self.waiting.items(), key=lambda item: item[1]):
                if time.perf_counter() - published < FIRST_LOOK_S:
                    break  # sorted by publishing time: the rest are younger still
                if await self.http.status(f"/prospects/{prospect_id}") == 200:
                    self.latencies.append(time.perf_counter() - published)
                    del self.waiting[prospect_id]
                elif time.perf_counter() - published > timeout_s:
                    del self.waiting[prospect_id]
                    self.missing += 1
            await asyncio.sleep(max(0.0, POLL_S - (time.perf_counter() - started)))
        return self.missing


async def one(addresses: dict[str, str], rate: int, seconds: float, probes_per_s: int = 5) -> dict:
    ns = BenchNamespace(addresses)
    await ns.create_topics()
    secret, port = secrets.token_urlsafe(32), free_port()
    logs = {s: ROOT / ".devstack" / "bench-logs" / f"{ns.name}-{s}.log" for s in ("intake", "rating")}
    procs = {"intake": ns.start_service("intake", logs["intake"]),
             "rating": ns.start_service("rating", logs["rating"], RATING_JWT_SECRET=secret,
                                        RATING_HTTP_PORT=str(port))}
    token = mint(secret, RECRUITER, ttl_s=86_400)
    bootstrap = addresses["KAFKA_BOOTSTRAP_SERVERS"]
    try:
        for s, log in logs.items():
            wait_for_log(log, "assigned to partitions", timeout_s=120)
        wait_for_log(logs["rating"], "Uvicorn running")
        await produce(bootstrap, ns.topic("jobs"), [(JOB, {
            "specversion": "1.0", "id": str(uuid.uuid4()), "source": "bench", "type": "job.opened",
            "data": {"job_id": JOB, "title": "Backend Engineer", "company": "Acme",
                     "recruiter": {"recruiter_id": RECRUITER, "name": "Dana", "email": "dana@acme.example"}}})])
        http = Http(port, token)
        while await http.status(f"/prospects?job_id={JOB}&limit=1") != 200:  # rating knows the job
            await asyncio.sleep(0.05)
        await http.close()
        idle = {s: memory_mb(p.pid)[0] for s, p in procs.items()}

        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0)
        await producer.start()
        run = uuid.uuid4().hex[:6]
        every = max(1, rate // probes_per_s)
        poller, stop, probes = Poller(Http(port, token)), asyncio.Event(), 0
        polling = asyncio.create_task(poller.run(stop))
        total = int(rate * (seconds + 1))
        warm_up = rate  # the first second is not measured
        started = time.perf_counter()
        try:
            for n in range(total):
                target = started + n / rate
                if (wait := target - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
                key, event = inquiry(n, run)
                published = time.perf_counter()
                await producer.send(ns.topic("inquiries"), json.dumps(event).encode(), key=key.encode())
                if n >= warm_up and n % every == 0:
                    poller.expect(ids.prospect_id(JOB, key), published)
                    probes += 1
            achieved = (total - warm_up) / (time.perf_counter() - started - 1)
            stop.set()
            missing = await polling
        finally:
            await producer.stop()
            await poller.http.close()
        seen = [v * 1000 for v in poller.latencies]
        peak = {s: memory_mb(p.pid)[1] for s, p in procs.items()}
        return {"p50": percentile(seen, 50), "p95": percentile(seen, 95), "p99": percentile(seen, 99),
                "probes": probes, "missing": missing, "rate": achieved, "idle": idle, "peak": peak}
    finally:
        await ns.finish(*procs.values())


async def main(addresses: dict[str, str], rates: list[int], seconds: float, runs: int) -> tuple[list[str], dict]:
    lines = [f"end-to-end latency, inquiry published -> prospect visible through the rating API, "
             f"{seconds:.0f} s at a steady rate, {runs} runs, ms (median of the runs' percentiles, min-max):"]
    memory: dict[str, list[float]] = {}
    for rate in rates:
        results = [await one(addresses, rate, seconds) for _ in range(runs)]
        parts = [f"{q} {summary([r[q] for r in results])}" for q in ("p50", "p95", "p99")]
        lines.append(f"  {rate}/s (achieved {statistics.median(r['rate'] for r in results):.0f}/s, "
                     f"{results[0]['probes']} probes a run, {sum(r['missing'] for r in results)} never visible): "
                     + "; ".join(parts))
        for r in results:
            for s in ("intake", "rating"):
                memory.setdefault(f"{s} idle", []).append(r["idle"][s])
                memory.setdefault(f"{s} peak, latency at {rate}/s", []).append(r["peak"][s])
    return lines, memory
