"""The webhooks service delivering: N `prospect.rated` events of one recruiter, each to a fast
local receiver (a threaded HTTP server answering 204), signed per Standard Webhooks. Figures:
deliveries/s from the first event produced to the last delivery received, and the service's RSS.
Baseline, in the same run: the same signed bodies POSTed to the same receiver by a plain httpx
loop with the same concurrency. Then memory: 10,000 deliveries pending retry (the endpoint
refuses connections; the next retry an hour away), the service's RSS."""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.common import BenchNamespace, memory_mb, produce, wait_for_log
from devstack.stack import ROOT
from services.webhooks.crypto import new_secret
from services.webhooks.deliver import signed_headers
from tests.support import cloud_event, free_port, token

CONCURRENCY = 32


class Receiver:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.count += 1
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 512  # the default 5 resets connections under 64 at once
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def events(count: int, tag: str) -> list[tuple[str, dict[str, Any]]]:
    return [(f"p{n}", cloud_event("prospect.rated", {
        "prospect_id": f"p{n}", "job_id": "job-0", "recruiter_id": "rec-0", "rating": "shortlist",
        "previous_rating": "unrated", "command_id": f"{tag}-{n}"}, id=f"{tag}-{n}", source="bench")) for n in range(count)]


async def baseline(url: str, items: list[tuple[str, dict[str, Any]]]) -> float:
    secret = new_secret()
    queue = [json.dumps(e, separators=(",", ":")) for _, e in items]
    began = time.perf_counter()

    async def worker(http: httpx.AsyncClient) -> None:
        while queue:
            body = queue.pop()
            await http.post(url, content=body.encode(),
                            headers=signed_headers([secret], json.loads(body)["id"], body, datetime.now(timezone.utc)))

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY * 2), timeout=30) as http:
        await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
    return len(items) / (time.perf_counter() - began)


async def one(addresses: dict[str, str], count: int, receiver: Receiver) -> dict[str, float]:
    ns = BenchNamespace(addresses)
    await ns.create_topics()
    port = free_port()
    secret = f"bench-{ns.name}-secret-long-enough"
    log = ROOT / ".devstack" / "bench-logs" / f"{ns.name}-webhooks.log"
    service = ns.start_service("webhooks", log, WEBHOOKS_HTTP_PORT=str(port), WEBHOOKS_SECRET_KEY=secret,
                               WEBHOOKS_JWT_SECRET=secret, WEBHOOKS_ALLOW_HTTP="true", WEBHOOKS_ALLOW_LOOPBACK="true",
                               WEBHOOKS_CONCURRENCY=str(CONCURRENCY), WEBHOOKS_POLL_S="0.05",
                               WEBHOOKS_RETRY_SCHEDULE_S="[3600]")
    try:
        wait_for_log(log, "Uvicorn running", timeout_s=120)
        api = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {token(secret, 'rec-0')}"}
        while httpx.get(api + "/ready").status_code != 200:
            await asyncio.sleep(0.2)
        httpx.post(api + "/v1/endpoints", headers=auth, json={"url": receiver.url, "events": ["prospect.rated"]}).raise_for_status()
        items = events(count, ns.name)
        start = receiver.count
        began = time.perf_counter()
        await produce(addresses["KAFKA_BOOTSTRAP_SERVERS"], ns.topic("assessments"), items)
        while receiver.count - start < count:
            await asyncio.sleep(0.05)
        per_s = count / (time.perf_counter() - began)
        rss, _ = memory_mb(service.pid)
        base = await baseline(receiver.url, items)

        # 10,000 waiting for their retry: an endpoint that refuses connections.
        httpx.post(api + "/v1/endpoints", headers=auth,
                   json={"url": f"http://127.0.0.1:{free_port()}/closed", "events": ["prospect.rated"]}).raise_for_status()
        await produce(addresses["KAFKA_BOOTSTRAP_SERVERS"], ns.topic("assessments"), events(10_000, ns.name + "-r"))
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(addresses["MONGODB_URI"])
        deliveries = client[ns.database("webhooks")]["deliveries"]
        try:
            while await deliveries.count_documents({"state": "pending", "attempt_count": 1}) < 10_000:
                await asyncio.sleep(0.5)
        finally:
            await client.close()
        pending_rss, peak = memory_mb(service.pid)
        return {"per_s": per_s, "base_per_s": base, "rss": rss, "pending_rss": pending_rss, "peak": peak}
    finally:
        await ns.finish(service)


async def main(addresses: dict[str, str], count: int = 5_000, runs: int = 3) -> list[str]:
    receiver = Receiver()
    results = [await one(addresses, count, receiver) for _ in range(runs)]

    def med(key: str) -> float:
        return statistics.median(r[key] for r in results)

    return [f"webhooks: {count:,} events of one recruiter to a local receiver, signed, {CONCURRENCY} at once ({runs} runs, medians)",
            f"  delivered (event produced -> receiver got it): {med('per_s'):,.0f} deliveries/s, RSS {med('rss'):.0f} MB",
            f"  baseline, a plain httpx loop posting the same signed bodies: {med('base_per_s'):,.0f}/s; "
            f"service / baseline = {med('per_s') / med('base_per_s'):.2f}",
            f"  10,000 deliveries pending retry: RSS {med('pending_rss'):.0f} MB (peak {med('peak'):.0f} MB)"]
