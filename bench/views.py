"""Rating's view pages over a large board: N prospects over R recruiters, seeded straight into
rating's database; the median time of the first page and of a page deep in the cursor chain,
through the HTTP API, against a plain PyMongo query for the same page (the baseline)."""

from __future__ import annotations

import json
import secrets
import statistics
import time
import urllib.request
from datetime import datetime, timedelta, timezone

from pymongo import AsyncMongoClient

from bench.common import BenchNamespace, summary, wait_for_log
from devstack.stack import ROOT
from services.rating.store import RatingStore
from shared.auth import mint
from shared.views import view_query
from tests.support import free_port

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


async def seed(uri: str, database: str, count: int, recruiters: int) -> None:
    client: AsyncMongoClient = AsyncMongoClient(uri)
    store = RatingStore(client[database])
    await store.ensure_indexes()
    chunk = []
    for n in range(count):
        chunk.append({"_id": f"p{n:07d}", "job_id": f"job-{n % (recruiters * 3)}", "recruiter_id": f"rec-{n % recruiters}",
                      "job_open": True, "job_title": "Backend Engineer", "rating": ("unrated", "shortlist", "not_a_fit")[n % 3],
                      "flagged": n % 4 == 0, "waiting_since": T0 + timedelta(seconds=n),
                      "profile": {"name": f"Prospect {n}", "email": f"p{n}@example.com"}})
        if len(chunk) == 5_000:
            await store.board.insert_many(chunk)
            chunk = []
    if chunk:
        await store.board.insert_many(chunk)
    await client.close()


def get(url: str, token: str) -> tuple[float, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        body = json.loads(response.read())
    return (time.perf_counter() - started) * 1000, body


async def baseline_page(uri: str, database: str, recruiter: str, limit: int) -> float:
    client: AsyncMongoClient = AsyncMongoClient(uri)
    board = client[database]["board"]
    started = time.perf_counter()
    await board.find(view_query(recruiter, "needs_follow_up", None)).sort([("waiting_since", 1), ("_id", 1)]).limit(limit).to_list()
    elapsed = (time.perf_counter() - started) * 1000
    await client.close()
    return elapsed


async def main(addresses: dict[str, str], count: int, recruiters: int, repeats: int = 7) -> list[str]:
    ns = BenchNamespace(addresses)
    await ns.create_topics()
    database = ns.database("rating")
    began = time.perf_counter()
    await seed(addresses["MONGODB_URI"], database, count, recruiters)
    seeded = time.perf_counter() - began
    secret, port = secrets.token_urlsafe(32), free_port()
    log = ROOT / ".devstack" / "bench-logs" / f"{ns.name}-rating.log"
    process = ns.start_service("rating", log, RATING_JWT_SECRET=secret, RATING_HTTP_PORT=str(port))
    try:
        wait_for_log(log, "Uvicorn running", timeout_s=120)
        token = mint(secret, "rec-1", ttl_s=86_400)
        base = f"http://127.0.0.1:{port}/prospects?view=needs_follow_up&limit=50"
        first = [get(base, token)[0] for _ in range(repeats)]
        cursor, deep = None, []
        for _ in range(10):  # walk ten pages in, then time the eleventh
            _, body = get(base + (f"&cursor={cursor}" if cursor else ""), token)
            cursor = body["next_cursor"]
        deep = [get(base + f"&cursor={cursor}", token)[0] for _ in range(repeats)]
        raw = [await baseline_page(addresses["MONGODB_URI"], database, "rec-1", 51) for _ in range(repeats)]
    finally:
        await ns.finish(process)
    ratio = statistics.median(first) / statistics.median(raw)
    return [
        f"rating views, {count:,} prospects over {recruiters} recruiters (seeded in {seeded:.1f} s), "
        f"needs_follow_up pages of 50, ms:",
        f"  first page over HTTP: {summary(first)}",
        f"  11th page over HTTP (cursor): {summary(deep)}",
        f"  baseline, the same query with PyMongo: {summary(raw)}; API/baseline {ratio:.2f}",
    ]
