"""The database as the services use it (FerretDB 2 over PostgreSQL with DocumentDB locally,
MongoDB in production): every page query served by its index, TTL retention honoured, bulk
writes of any size in one command."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pymongo import AsyncMongoClient, UpdateOne

from services.rating.store import BoardViews, RatingStore
from shared.db import bulk_write
from shared.retention import Kept, ensure_retention
from shared.views import VIEWS, view_query
from tests.support import Stack, eventually

pytestmark = pytest.mark.stack


def indexes_used(plan: Any) -> set[str]:
    """The index names in a query plan: DocumentDB shows PostgreSQL's plan (`Index Name`),
    MongoDB its winning plan (`indexName`)."""
    found: set[str] = set()
    if isinstance(plan, dict):
        for key, value in plan.items():
            if key in ("Index Name", "indexName") and isinstance(value, str):
                found.add(value)
            else:
                found |= indexes_used(value)
    elif isinstance(plan, list):
        for item in plan:
            found |= indexes_used(item)
    return found


@pytest.fixture
async def client(stack: Stack):
    client: AsyncMongoClient = AsyncMongoClient(stack.mongodb_uri, tz_aware=True)
    names: list[str] = []

    def database(suffix: str):
        names.append(f"t{uuid.uuid4().hex[:10]}_{suffix}")
        return client[names[-1]]

    client.fresh = database  # type: ignore[attr-defined]
    yield client
    for name in names:
        await client.drop_database(name)
    await client.close()


async def test_every_page_query_uses_its_index(client):
    """A page of each view (and of one job), first and by keyset, over 6,000 board documents of
    three recruiters: the plan names the index made for it (for one job's page, that or the job's
    index), never a scan of the collection."""
    store = RatingStore(client.fresh("plans"))
    await store.ensure_indexes()
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    await store.board.insert_many([
        {"_id": f"p{n:05d}", "recruiter_id": f"r{n % 3}", "job_id": f"j{n % 12}", "job_open": n % 10 != 0,
         "flagged": n % 4 == 0, "rating": ("unrated", "shortlist", "not_a_fit")[n % 3 if n % 7 else 1],
         "replied": n % 4 != 0 and n % 5 == 0, "waiting_since": start + timedelta(minutes=n)} for n in range(6_000)])
    expected = {"needs_follow_up": "view_needs_follow_up", "replied": "view_replied", "shortlist": "view_rating",
                "not_a_fit": "view_rating", "all": "view_all"}
    order = {"waiting_since": 1, "_id": 1}
    for view in VIEWS:
        for job in (None, "j1"):
            query = view_query("r1", view, job)
            keyset = {"$and": [query, {"$or": [{"waiting_since": {"$gt": start}},
                                               {"waiting_since": start, "_id": {"$gt": "p00001"}}]}]}
            for filter_ in (query, keyset):
                plan = await store.board.database.command(
                    "explain", {"find": "board", "filter": filter_, "sort": order, "limit": 50})
                used = indexes_used(plan)
                # one job's page: its job's index, or the view's with the job as a filter
                wanted = {expected[view]} if job is None else {expected[view], "view_job"}
                assert used & wanted, (view, job, used, str(plan)[:1_500])
                assert "Seq Scan" not in str(plan) and "COLLSCAN" not in str(plan), (view, job, str(plan)[:1_500])
    # and the pages are what the view holds, in order
    views = BoardViews(store)
    page = await views.page("r1", "needs_follow_up", None, 50, None)
    assert len(page) == 50 and all(d["recruiter_id"] == "r1" and d["job_open"] and not d["flagged"] for d in page)
    assert [d["waiting_since"] for d in page] == sorted(d["waiting_since"] for d in page)
    after = (page[-1]["waiting_since"], page[-1]["_id"])
    following = await views.page("r1", "needs_follow_up", None, 50, after)
    assert following[0]["waiting_since"] > page[-1]["waiting_since"]


async def test_summary_counts_every_view_per_job_with_one_group(client):
    store = RatingStore(client.fresh("summary"))
    at = datetime(2026, 3, 1, tzinfo=timezone.utc)
    await store.board.insert_many([
        {"_id": "a", "recruiter_id": "r", "job_id": "j1", "job_title": "One", "job_open": True, "flagged": False,
         "rating": "shortlist", "waiting_since": at, "replied": True},
        {"_id": "b", "recruiter_id": "r", "job_id": "j1", "job_title": "One", "job_open": True, "flagged": True,
         "rating": "not_a_fit", "waiting_since": at - timedelta(days=1)},
        {"_id": "c", "recruiter_id": "r", "job_id": "j2", "job_title": "Two", "job_open": False, "flagged": False,
         "rating": "shortlist", "waiting_since": at - timedelta(days=2)},
        {"_id": "d", "recruiter_id": "other", "job_id": "j3", "job_open": True, "flagged": False, "rating": "unrated",
         "waiting_since": at},
    ])
    summary = await BoardViews(store).summary("r")
    assert summary["views"] == {"needs_follow_up": 1, "replied": 1, "shortlist": 1, "not_a_fit": 1, "all": 3}
    assert summary["jobs"] == [
        {"job_id": "j1", "title": "One", "open": True, "needs_follow_up": 1, "replied": 1, "shortlist": 1,
         "not_a_fit": 1, "all": 2,
         "oldest_waiting_since": at},
        {"job_id": "j2", "title": "Two", "open": False, "needs_follow_up": 0, "replied": 0, "shortlist": 0,
         "not_a_fit": 0, "all": 1,
         "oldest_waiting_since": None},
    ]


async def test_a_bulk_write_of_thousands_is_one_command(client):
    docs = client.fresh("bulk")["docs"]
    await docs.insert_many([{"_id": n, "v": 0} for n in range(5_000)])
    await bulk_write(docs, [UpdateOne({"_id": n}, {"$set": {"v": 1}}) for n in range(5_000)], ordered=False)
    assert await docs.count_documents({"v": 0}) == 0


async def test_retention_is_a_ttl_index_the_server_honours(client):
    """Each idempotency collection gets a TTL index of the retention period; the server itself
    deletes what expired (MongoDB's TTL monitor, DocumentDB's pg_cron job: within about a
    minute), and a changed period replaces the index."""
    from shared.outbox import Outbox

    db = client.fresh("retention")
    outbox = Outbox(db)
    await ensure_retention(outbox.kept(), days=30)
    info = await outbox.records.index_information()
    assert info["retention"]["expireAfterSeconds"] == 30 * 86_400
    await ensure_retention(outbox.kept(), days=7)
    assert (await outbox.published.index_information())["retention"]["expireAfterSeconds"] == 7 * 86_400

    marks = db["marks"]
    await ensure_retention([Kept(marks, "at")], days=1 / 86_400)  # one second
    now = datetime.now(timezone.utc)
    await marks.insert_many([{"_id": "old", "at": now - timedelta(days=2)}, {"_id": "new", "at": now + timedelta(days=1)}])

    async def only_new() -> bool:
        return [d["_id"] async for d in marks.find()] == ["new"]

    assert await eventually(only_new, timeout_s=150, interval_s=1)
