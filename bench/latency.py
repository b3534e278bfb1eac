"""End-to-end latency: inquiries published at a steady rate for a while; for every one after
the first second, the time from publishing until the prospect is visible through the rating API,
and the time of the first hop (intake's `prospect.registered` on the `prospects` topic). Intake
and rating run as real processes on the local stack.

Measured from the events, not by polling the API (which loads the database it measures and,
looking first at 40 ms every 10 ms, could not see a p99 under 50 ms): the harness reads the
`prospects` topic as it is written (the first hop's arrival, to the millisecond) and watches
rating's committed offsets on it (Kafka's OffsetFetch, every 5 ms: every 2 ms cost the broker
half a core): rating commits a batch only after its board writes, so a prospect is visible by the time its record's offset is committed
(an upper bound, late by at most the batch's publish and commit). Every tenth probe is checked
through `GET /prospects/{id}` right then: the figures count those not yet visible (expected 0)."""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import (BenchNamespace, cpu_seconds, memory_mb, partitions_of, percentile, produce, stack_pids, summary,
                          wait_for_log)
from devstack.stack import ROOT
from shared import ids
from shared.auth import mint
from tests.support import free_port

JOB = "job-latency"
RECRUITER = "rec-latency"
WATCH_S = 0.005


class Http:
    """A keep-alive HTTP/1.1 connection that only needs GET and the status code."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def status(self, path: str) -> int:
        """The answer's status; a connection the server closed (keep-alive timeout) is opened again."""
        try:
            return await self._status(path)
        except (OSError, IndexError, asyncio.IncompleteReadError):
            await self.close()
            self.writer = None
            return await self._status(path)

    async def _status(self, path: str) -> int:
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


class Watch:
    """The probes' way through: published (by the harness), registered (the `prospects` record
    seen), visible (rating's committed offset past that record)."""

    def __init__(self, bootstrap: str, topic: str, group: str, http: Http) -> None:
        self.bootstrap, self.topic, self.group, self.http = bootstrap, topic, group, http
        self.published: dict[str, float] = {}  # prospect id -> when its inquiry was published
        self.at: dict[TopicPartition, dict[int, str]] = {}  # the registered records not yet visible
        self.hop: list[float] = []  # published -> registered, s
        self.end_to_end: list[float] = []  # published -> visible, s
        self.checked = self.not_visible = 0
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)

    async def start(self) -> None:
        await self.consumer.start()
        await self.admin.start()
        tps = await partitions_of(self.consumer, self.topic)
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        self.coordinator = await self.admin.find_coordinator(self.group)

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()

    def expect(self, prospect_id: str, published: float) -> None:
        self.published[prospect_id] = published

    async def read(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            fetched = await self.consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for tp, records in fetched.items():
                for record in records:
                    data = json.loads(record.value).get("data", {})
                    published = self.published.get(data.get("prospect_id"))
                    if published is not None:
                        self.hop.append(now - published)
                        self.at.setdefault(tp, {})[record.offset] = data["prospect_id"]

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            began = time.perf_counter()
            committed = await self.admin.list_consumer_group_offsets(self.group, self.coordinator)
            now = time.perf_counter()
            for tp, waiting in list(self.at.items()):  # read() may add a partition while we await
                upto = committed.get(tp)
                if upto is None:
                    continue
                for offset in [o for o in waiting if o < upto.offset]:
                    prospect_id = waiting.pop(offset)
                    self.end_to_end.append(now - self.published.pop(prospect_id))
                    if len(self.end_to_end) % 10 == 0:
                        self.checked += 1
                        self.not_visible += await self.http.status(f"/prospects/{prospect_id}") != 200
            await asyncio.sleep(max(0.0, WATCH_S - (time.perf_counter() - began)))


async def one(addresses: dict[str, str], rate: int, seconds: float) -> dict:
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
        watch = Watch(bootstrap, ns.topic("prospects"), f"{ns.name}-rating", Http(port, token))
        await watch.start()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(watch.read(stop)), asyncio.create_task(watch.watch(stop))]
        run = uuid.uuid4().hex[:6]
        total = int(rate * (seconds + 1))
        warm_up = rate  # the first second is not measured
        pids = {**{s: p.pid for s, p in procs.items()}, **stack_pids()}
        cpu_before = {s: cpu_seconds(pid) for s, pid in pids.items()}
        started = time.perf_counter()
        try:
            for n in range(total):
                target = started + n / rate
                if (wait := target - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
                key, event = inquiry(n, run)
                if n >= warm_up:
                    watch.expect(ids.prospect_id(JOB, key), time.perf_counter())
                await producer.send(ns.topic("inquiries"), json.dumps(event).encode(), key=key.encode())
            achieved = (total - warm_up) / (time.perf_counter() - started - 1)
            deadline = time.perf_counter() + 60
            while watch.published and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            cpu = {s: (cpu_seconds(pid) - cpu_before[s]) / elapsed for s, pid in pids.items()}
        finally:
            stop.set()
            for failed in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(failed, BaseException):  # the figures would be wrong: say so
                    raise RuntimeError("the latency harness's watch failed") from failed
            await producer.stop()
            await watch.stop()
            await watch.http.close()
        seen = [v * 1000 for v in watch.end_to_end]
        hop = [v * 1000 for v in watch.hop]
        peak = {s: memory_mb(p.pid)[1] for s, p in procs.items()}
        return {"p50": percentile(seen, 50), "p95": percentile(seen, 95), "p99": percentile(seen, 99),
                "hop p50": percentile(hop, 50), "hop p99": percentile(hop, 99),
                "probes": total - warm_up, "missing": len(watch.published), "checked": watch.checked,
                "not visible": watch.not_visible, "rate": achieved, "cpu": cpu, "idle": idle, "peak": peak}
    finally:
        await ns.finish(*procs.values())


async def main(addresses: dict[str, str], rates: list[int], seconds: float, runs: int) -> tuple[list[str], dict]:
    lines = [f"end-to-end latency, inquiry published -> prospect visible through the rating API (every inquiry "
             f"after the first second; timed by events and committed offsets), {seconds:.0f} s at a steady rate, "
             f"{runs} runs, ms (median of the runs' percentiles, min-max):"]
    memory: dict[str, list[float]] = {}
    for rate in rates:
        results = [await one(addresses, rate, seconds) for _ in range(runs)]
        parts = [f"{q} {summary([r[q] for r in results])}" for q in ("p50", "p95", "p99", "hop p50", "hop p99")]
        cpu = {s: statistics.median(r["cpu"][s] for r in results) for s in results[0]["cpu"]}
        lines.append(f"  {rate}/s (achieved {statistics.median(r['rate'] for r in results):.0f}/s, "
                     f"{results[0]['probes']:,} probes a run, {sum(r['missing'] for r in results)} never visible, "
                     f"{sum(r['not visible'] for r in results)} of {sum(r['checked'] for r in results)} checked "
                     f"through the API not visible yet at their commit): " + "; ".join(parts))
        lines.append("    (hop: published -> intake's prospect.registered read back from Kafka) CPU in cores: "
                     + ", ".join(f"{s} {c:.2f}" for s, c in cpu.items()) + f"; total {sum(cpu.values()):.2f} of 2")
        for r in results:
            for s in ("intake", "rating"):
                memory.setdefault(f"{s} idle", []).append(r["idle"][s])
                memory.setdefault(f"{s} peak, latency at {rate}/s", []).append(r["peak"][s])
    return lines, memory
