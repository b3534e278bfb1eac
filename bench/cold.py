"""Cold start: how long a service takes from its process starting until `/ready` answers 200
(Kafka and the database answer, topics and indexes made, its consumer a member of its group),
the moment an orchestrator sends it traffic or counts a rollout step done. For intake, also
until its first event is out: an inquiry waits on the topic before the process starts, and the
clock stops at its `prospect.registered` (Kafka's timestamp). Baseline in the same run: the
same interpreter only importing the service's modules (what no start-up can avoid).

Each run is a fresh namespace (new topics, an empty database, a group never seen), as on a
first deploy; the local stack is already up."""

from __future__ import annotations

import asyncio
import secrets
import statistics
import subprocess
import sys
import time
import uuid

from bench.common import BenchNamespace, produce, summary
from devstack.stack import ROOT
from tests.support import cloud_event, free_port

SERVICES = ("intake", "rating", "messaging", "reminder", "webhooks", "sequences", "insights", "dashboard")


def _extra(service: str, port: int, secret: str) -> dict[str, str]:
    upper = service.upper()
    extra = {f"{upper}_HTTP_PORT": str(port)}
    if service in ("rating", "webhooks", "insights", "dashboard"):
        extra[f"{upper}_JWT_SECRET"] = secret
    if service == "webhooks":
        extra["WEBHOOKS_SECRET_KEY"] = secret
    if service == "dashboard":
        extra["DASHBOARD_RATING_API_URL"] = "http://127.0.0.1:9"  # not asked before a recruiter signs in
    return extra


async def _ready(port: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        writer.write(b"GET /ready HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        line = await reader.readline()
        return line.split()[1:2] == [b"200"]
    except (OSError, IndexError):
        return False
    finally:
        writer.close()


async def _first_event(bootstrap: str, topic: str, timeout_s: float) -> float:
    """The Kafka timestamp (epoch seconds) of the first record on `topic`."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=f"cold-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                if records:
                    return records[0].timestamp / 1000
        raise RuntimeError(f"no record on {topic} within {timeout_s:.0f} s")
    finally:
        await consumer.stop()


async def one(addresses: dict[str, str], service: str) -> dict[str, float]:
    ns = BenchNamespace(addresses)
    await ns.create_topics()
    bootstrap = addresses["KAFKA_BOOTSTRAP_SERVERS"]
    if service == "intake":
        email = f"cold-{ns.name}@example.com"
        await produce(bootstrap, ns.topic("inquiries"), [(email, cloud_event("inquiry.received", {
            "job_id": "job-cold", "board": "bench", "board_inquiry_id": ns.name,
            "prospect": {"name": "Cold Start", "email": email}}))])
    port = free_port()
    log = ROOT / ".devstack" / "bench-logs" / f"{ns.name}-{service}.log"
    began_wall, began = time.time(), time.monotonic()
    process = ns.start_service(service, log, **_extra(service, port, secrets.token_urlsafe(32)))
    try:
        while not await _ready(port):
            if process.poll() is not None:
                raise RuntimeError(f"{service} exited ({process.returncode}); see {log}")
            if time.monotonic() - began > 120:
                raise RuntimeError(f"{service} not ready within 120 s; see {log}")
            await asyncio.sleep(0.01)
        out = {"ready": time.monotonic() - began}
        if service == "intake":
            out["first event"] = await _first_event(bootstrap, ns.topic("prospects"), 60) - began_wall
        return out
    finally:
        await ns.finish(process)


def imports(service: str) -> float:
    began = time.monotonic()
    subprocess.run([sys.executable, "-c", f"import services.{service}.app"], cwd=ROOT, check=True)
    return time.monotonic() - began


async def main(addresses: dict[str, str], runs: int = 3) -> list[str]:
    lines = [f"cold start, process start -> `/ready` 200 on a fresh namespace (topics, empty database, new group), "
             f"{runs} runs, seconds; baseline: the interpreter importing the service's modules:"]
    for service in SERVICES:
        results = [await one(addresses, service) for _ in range(runs)]
        base = [imports(service) for _ in range(runs)]
        ready = [r["ready"] for r in results]
        line = (f"  {service}: ready {summary(ready, 2)}; imports alone {summary(base, 2)} "
                f"(x{statistics.median(ready) / statistics.median(base):.1f})")
        if "first event" in results[0]:
            line += f"; its first event out {summary([r['first event'] for r in results], 2)}"
        lines.append(line)
        print(line, flush=True)
    return lines
