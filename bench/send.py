"""A send to a whole view from the dashboard: N prospects on one recruiter's board (seeded into
rating's and messaging's databases), Go (the Send page for the whole view), Send, and the time
until the page's progress says every recipient has an outcome; mails per second against
messaging alone (the same N as `messages.send` commands of 1,000 published straight to Kafka, to
the last `message.sent`), on the same sink in the same run."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import uuid

import httpx
from pymongo import AsyncMongoClient

from bench.common import BenchNamespace, dashboard_session, produce, summary, wait_for_log, wait_for_records
from bench.mail import private_sink
from bench.views import seed
from devstack.stack import ROOT
from shared.auth import mint
from tests.support import free_port

RECRUITER = "rec-0"


async def seed_messaging(uri: str, database: str, count: int) -> None:
    """Messaging's contacts and jobs for the board `bench.views.seed` makes with one recruiter."""
    client: AsyncMongoClient = AsyncMongoClient(uri)
    db = client[database]
    await db["jobs"].insert_many([{"_id": f"job-{j}", "title": "Backend Engineer", "company": "Acme", "open": True,
                                   "apply_url": "https://acme.example/apply",
                                   "recruiter": {"recruiter_id": RECRUITER, "name": "Dana Smith",
                                                 "email": "dana@acme.example"}} for j in range(3)])
    for start in range(0, count, 5_000):
        await db["contacts"].insert_many([{"_id": f"p{n:07d}", "job_id": f"job-{n % 3}", "name": f"Prospect {n}",
                                           "email": f"p{n}@example.com"} for n in range(start, min(count, start + 5_000))])
    await client.close()


async def one(addresses: dict[str, str], port: int, count: int) -> dict[str, float]:
    ns = BenchNamespace(addresses)
    await ns.create_topics()
    await seed(addresses["MONGODB_URI"], ns.database("rating"), count, 1)
    await seed_messaging(addresses["MONGODB_URI"], ns.database("messaging"), count)
    secret = secrets.token_urlsafe(32)
    ports = {s: free_port() for s in ("rating", "messaging", "dashboard")}
    logs = ROOT / ".devstack" / "bench-logs"
    smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "RATING_FLAG_ON_MESSAGE_SENT": "false"}
    rating = ns.start_service("rating", logs / f"{ns.name}-rating.log", RATING_JWT_SECRET=secret,
                              RATING_HTTP_PORT=str(ports["rating"]), **smtp)
    messaging = ns.start_service("messaging", logs / f"{ns.name}-messaging.log", MESSAGING_JWT_SECRET=secret,
                                 MESSAGING_HTTP_PORT=str(ports["messaging"]), **smtp)
    dashboard = ns.start_service("dashboard", logs / f"{ns.name}-dashboard.log", DASHBOARD_JWT_SECRET=secret,
                                 DASHBOARD_HTTP_PORT=str(ports["dashboard"]),
                                 DASHBOARD_RATING_API_URL=f"http://127.0.0.1:{ports['rating']}",
                                 DASHBOARD_MESSAGING_API_URL=f"http://127.0.0.1:{ports['messaging']}")
    try:
        for service in ("rating", "messaging"):
            wait_for_log(logs / f"{ns.name}-{service}.log", "Uvicorn running", timeout_s=120)
        wait_for_log(logs / f"{ns.name}-dashboard.log", "reading updates", timeout_s=120)
        wait_for_log(logs / f"{ns.name}-messaging.log", "assigned to partitions", timeout_s=120)
        token = mint(secret, RECRUITER, ttl_s=3600)
        base = f"http://127.0.0.1:{ports['dashboard']}"
        async with httpx.AsyncClient(timeout=300, headers={"Authorization": f"Bearer {token}"}) as api:
            # what Go waits for: rating's ids of the view, then messaging's previews (1,000 ids each, at once)
            started = time.perf_counter()
            ids = (await api.get(f"http://127.0.0.1:{ports['rating']}/prospect-ids", params={"view": "all"})).json()["ids"]
            ids_ms = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            await asyncio.gather(*(api.post(f"http://127.0.0.1:{ports['messaging']}/preview", json={
                "template": "ask_to_apply", "prospect_ids": ids[i:i + 1_000]}) for i in range(0, len(ids), 1_000)))
            previews_ms = (time.perf_counter() - started) * 1000
        cookie = dashboard_session(base, secret, RECRUITER)
        async with httpx.AsyncClient(base_url=base, timeout=300, cookies={"pf_session": cookie}) as client:
            started = time.perf_counter()
            go = await client.get("/send", params={"template": "ask_to_apply", "all": "1", "view": "all"},
                                  follow_redirects=True)
            go_ms = (time.perf_counter() - started) * 1000
            go.raise_for_status()
            form = {name: re.search(rf'name="{name}" value="([^"]*)"', go.text).group(1)  # type: ignore[union-attr]
                    for name in ("csrf", "key", "template", "ids")}
            sent_at = time.monotonic()
            answer = await client.post("/send", data=form, headers={"HX-Request": "true"})
            answer.raise_for_status()
            poll = f"/sends/{form['key']}/progress?parts={-(-count // 1_000)}"
            while True:
                counts = (await client.get(poll)).text
                if "every 1s" not in counts:  # done: the page stops polling
                    break
                await asyncio.sleep(0.5)
            page_s = time.monotonic() - sent_at
        # messaging alone: the same number of mails, commands straight to Kafka
        pids = [f"p{n:07d}" for n in range(count)]
        started_alone = time.monotonic()
        await produce(addresses["KAFKA_BOOTSTRAP_SERVERS"], ns.topic("messaging-commands"), [
            (RECRUITER, {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "bench", "type": "messages.send",
                         "data": {"recruiter_id": RECRUITER, "template": "ask_to_apply",
                                  "prospect_ids": pids[i:i + 1_000]}}) for i in range(0, count, 1_000)])
        done = await wait_for_records(addresses["KAFKA_BOOTSTRAP_SERVERS"], ns.topic("messages"), 2 * count)
        alone_s = done - started_alone
        return {"go_ms": go_ms, "page_s": page_s, "alone_s": alone_s, "ids_ms": ids_ms, "previews_ms": previews_ms,
                "page_kb": len(go.content) / 1024}
    finally:
        await ns.finish(dashboard, messaging, rating)


async def main(addresses: dict[str, str], count: int = 10_000, runs: int = 1) -> list[str]:
    results = []
    with private_sink() as port:
        for _ in range(runs):
            results.append(await one(addresses, port, count))
    go = [r["go_ms"] for r in results]
    page = [count / r["page_s"] for r in results]
    alone = [count / r["alone_s"] for r in results]
    return [
        f"send from the dashboard to a whole view of {count:,} ({runs} run(s)):",
        f"  Go (the Send page for the whole view), ms: {summary(go)}; page {results[0]['page_kb']:,.0f} KB; of which "
        f"rating's ids of the view {summary([r['ids_ms'] for r in results])} ms, messaging's previews (1,000 ids each, "
        f"at once) {summary([r['previews_ms'] for r in results])} ms",
        f"  Send -> the page says every recipient has an outcome: {summary([r['page_s'] for r in results])} s; "
        f"mails/s {summary(page)}",
        f"  baseline, messaging alone (the same {count:,} as commands of 1,000 on Kafka -> the last message.sent): "
        f"mails/s {summary(alone)}; page/alone {sorted(page)[len(page) // 2] / sorted(alone)[len(alone) // 2]:.2f}",
    ]
