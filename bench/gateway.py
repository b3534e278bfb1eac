"""The job-board gateway under sustained load: Indeed Apply posts (signed, HMAC-SHA1) from 16
concurrent clients into intake's HTTP side, without résumés and with a 100 KB PDF each (every
one different, so each is stored). Figures: requests/s answered 200 (each in Kafka, acks=all),
and the time to the 200, p50/p99. Baseline, in the same run: as many posts (other
applications) to the least endpoint that does the same work on the same server
stack (`bench/gateway_baseline.py`: signature, parse, produce acks=all; it decodes a résumé but
stores none), while intake's consumer
registers them as it did the gateway's; and, for reference, the same events produced straight
to Kafka by 16 aiokafka senders (Kafka alone, no HTTP)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from bench.common import BenchNamespace, percentile, wait_for_log
from devstack.stack import ROOT
from prospectflow.boards import for_job, load_sample
from services.intake import signatures
from services.intake.boards import indeed
from shared import ids
from shared.contract import InquiryReceived, new_event
from shared.kafka import CLOUDEVENTS_HEADERS
from shared.messages import encode_event
from tests.support import cloud_event, free_port

CLIENTS = 16
JOB = "job-bench"
SECRET = "bench-indeed-secret"


def applications(count: int, tag: str, resume_bytes: int) -> list[dict[str, Any]]:
    template = for_job("indeed", load_sample("indeed"), JOB)
    out = []
    for n in range(count):
        payload = json.loads(json.dumps(template))
        payload["id"] = f"{tag}-{n}"
        payload["applicant"]["email"] = f"p{n}.{tag}@example.com"
        if resume_bytes:
            pdf = b"%PDF-1.4\n" + f"{tag}-{n}\n".encode() + b"0" * resume_bytes
            payload["applicant"]["resume"]["file"]["data"] = base64.b64encode(pdf).decode()
        else:
            del payload["applicant"]["resume"]
        out.append(payload)
    return out


async def post_all(url: str, bodies: list[tuple[bytes, dict[str, str]]],
                   clients: int = CLIENTS) -> tuple[list[float], float, int]:
    """Every body posted by `clients` concurrent clients; the seconds to each 200, the wall time, the
    posts not answered 200 (a dropped connection included)."""
    queue = list(reversed(bodies))
    took: list[float] = []
    failed = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal failed
        while queue:
            body, headers = queue.pop()
            began = time.perf_counter()
            try:
                response = await http.post(url, content=body, headers=headers)
            except httpx.TransportError:  # the connection dropped: counted with the answers not 200
                failed += 1
                continue
            if response.status_code == 200:
                took.append(time.perf_counter() - began)
            else:
                failed += 1

    began = time.perf_counter()
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return took, time.perf_counter() - began, failed


async def answering(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def produce_all(bootstrap: str, topic: str, events: list[tuple[str, dict[str, Any]]]) -> tuple[list[float], float]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    queue = list(reversed(events))
    took: list[float] = []

    async def sender() -> None:
        while queue:
            key, event = queue.pop()
            began = time.perf_counter()
            await producer.send_and_wait(topic, encode_event(event), key=key.encode(), headers=CLOUDEVENTS_HEADERS)
            took.append(time.perf_counter() - began)

    began = time.perf_counter()
    try:
        await asyncio.gather(*(sender() for _ in range(CLIENTS)))
    finally:
        await producer.stop()
    return took, time.perf_counter() - began


async def one(addresses: dict[str, str], count: int, resume_bytes: int, clients: int = CLIENTS) -> dict[str, float]:
    ns = BenchNamespace(addresses)
    await ns.create_topics()
    log = ROOT / ".devstack" / "bench-logs" / f"{ns.name}-intake.log"
    port = free_port()
    intake = ns.start_service("intake", log, INTAKE_BOARD_SECRETS=json.dumps({"indeed": [SECRET]}),
                              INTAKE_HTTP_PORT=str(port))
    try:
        bootstrap = addresses["KAFKA_BOOTSTRAP_SERVERS"]
        job = cloud_event("job.opened", {"job_id": JOB, "title": "Backend Engineer", "company": "Acme",
                                         "recruiter": {"recruiter_id": "rec-0", "name": "Dana", "email": "d@acme.example"}})
        await produce_all(bootstrap, ns.topic("jobs"), [(JOB, job)])
        wait_for_log(log, "Uvicorn running", timeout_s=120)
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(addresses["MONGODB_URI"])
        try:
            while not await client[ns.database("intake")]["jobs"].find_one({"_id": JOB}):
                await asyncio.sleep(0.2)
        finally:
            await client.close()
        url = f"http://127.0.0.1:{port}/v1/boards/indeed/applications"
        payloads = applications(count, ns.name, resume_bytes)
        bodies = []
        for payload in payloads:
            body = json.dumps(payload).encode()
            bodies.append((body, {"Content-Type": "application/json", **signatures.sign_headers("indeed", SECRET, body)}))
        took, wall, failed = await post_all(url, bodies, clients)

        # The honest baseline: the least endpoint doing the same (bench/gateway_baseline.py), on
        # the same server stack, while intake's consumer registers its events as it did the gateway's.
        baseline_port = free_port()
        baseline = subprocess.Popen([sys.executable, "-m", "bench.gateway_baseline"], cwd=ROOT, env={
            **os.environ, "BASELINE_PORT": str(baseline_port), "BASELINE_SECRET": SECRET,
            "BASELINE_TOPIC": ns.topic("inquiries"), "KAFKA_BOOTSTRAP_SERVERS": bootstrap})
        try:
            await answering(baseline_port)
            others = []
            for payload in applications(count, ns.name + "-baseline", resume_bytes):
                body = json.dumps(payload).encode()
                others.append((body, {"Content-Type": "application/json", **signatures.sign_headers("indeed", SECRET, body)}))
            least_took, least_wall, least_failed = await post_all(
                f"http://127.0.0.1:{baseline_port}/v1/boards/indeed/applications", others, clients)
        finally:
            baseline.terminate()
            baseline.wait(timeout=30)

        # The baseline: the very events, straight to Kafka.
        events = []
        for payload in payloads:
            application = indeed(payload)
            data = InquiryReceived.model_validate(application.data)
            event = new_event(event_id=ids.derive("baseline", application.event_id), source=application.source,
                              type="inquiry.received", data=data)
            events.append((data.prospect.email, event))
        base_took, base_wall = await produce_all(bootstrap, ns.topic("inquiries"), events)
        return {"per_s": len(took) / wall, "p50_ms": percentile(took, 50) * 1000, "p99_ms": percentile(took, 99) * 1000,
                "failed": failed, "base_per_s": len(base_took) / base_wall,
                "base_p50_ms": percentile(base_took, 50) * 1000, "base_p99_ms": percentile(base_took, 99) * 1000,
                "least_per_s": len(least_took) / least_wall, "least_p50_ms": percentile(least_took, 50) * 1000,
                "least_p99_ms": percentile(least_took, 99) * 1000, "least_failed": least_failed}
    finally:
        await ns.finish(intake)


async def main(addresses: dict[str, str], count: int = 2_000, runs: int = 3) -> list[str]:
    plain = [await one(addresses, count, 0) for _ in range(runs)]
    with_resume = [await one(addresses, count // 4, 100_000) for _ in range(runs)]

    def med(results: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in results)

    lines = [f"gateway: Indeed Apply posts (signed) from {CLIENTS} concurrent clients into intake, 200 once in Kafka "
             f"({runs} runs, medians)"]
    for label, results, n in (("without résumés", plain, count), ("with a 100 KB PDF each", with_resume, count // 4)):
        lines += [f"  {label} ({n:,} posts): {med(results, 'per_s'):,.0f} requests/s, to the 200 p50 "
                  f"{med(results, 'p50_ms'):,.1f} ms, p99 {med(results, 'p99_ms'):,.1f} ms; not 200: "
                  f"{sum(r['failed'] for r in results):.0f}",
                  f"    baseline, the least endpoint doing the same (signature, parse, produce acks=all; "
                  f"bench/gateway_baseline.py): {med(results, 'least_per_s'):,.0f} requests/s, p50 "
                  f"{med(results, 'least_p50_ms'):,.1f} ms, p99 {med(results, 'least_p99_ms'):,.1f} ms; not 200: "
                  f"{sum(r['least_failed'] for r in results):.0f}; gateway / baseline = "
                  f"{med(results, 'per_s') / med(results, 'least_per_s'):.2f}",
                  f"    Kafka alone, the same events by aiokafka: {med(results, 'base_per_s'):,.0f} events/s, "
                  f"p50 {med(results, 'base_p50_ms'):,.1f} ms, p99 {med(results, 'base_p99_ms'):,.1f} ms; "
                  f"gateway / Kafka alone = {med(results, 'per_s') / med(results, 'base_per_s'):.2f}"]
    return lines


CURVE = ROOT / ".devstack" / "bench-gateway-curve.json"


async def curve(addresses: dict[str, str], count: int, runs: int, levels: list[int]) -> list[str]:
    """The gateway against its concurrency: at each number of clients, posts without résumés to
    the gateway and to the least endpoint doing its work (medians of `runs`); written to CURVE for
    docs/bench_gateway_curve_plot.py."""
    points = []
    for clients in levels:
        results = [await one(addresses, count, 0, clients) for _ in range(runs)]
        points.append({"clients": clients, **{key: statistics.median(r[key] for r in results) for key in results[0]}})
    CURVE.parent.mkdir(parents=True, exist_ok=True)
    CURVE.write_text(json.dumps({"count": count, "runs": runs, "points": points}))
    lines = [f"gateway against its concurrency: {count:,} signed Indeed posts without résumés at each number of "
             f"clients, the gateway and the least endpoint doing its work ({runs} runs, medians)"]
    for p in points:
        lines.append(f"  {p['clients']:>3} clients: gateway {p['per_s']:,.0f}/s, p50 {p['p50_ms']:,.1f} ms, p99 "
                     f"{p['p99_ms']:,.1f} ms; least endpoint {p['least_per_s']:,.0f}/s, p50 {p['least_p50_ms']:,.1f} ms, "
                     f"p99 {p['least_p99_ms']:,.1f} ms; ratio {p['per_s'] / p['least_per_s']:.2f}; not 200: "
                     f"{p['failed'] + p['least_failed']:.0f}")
    return lines
