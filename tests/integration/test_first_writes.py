"""No write lost to concurrent first writes (issue 27), on the engine `make test` runs.

The local engine (FerretDB 2.5 + DocumentDB 0.106) loses one of two concurrent upserts of the
same new `_id` in 12-35 % of pairs (documentdb/documentdb#295, fixed in 0.108); MongoDB does not.
Every store writes a document's first time through `shared.db.write_by_id` (an insert that a
second writer finds taken, then plain updates), which must lose nothing on either engine: two
connections, the same new ids, each update shape the stores use, hundreds of pairs each."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pymongo import AsyncMongoClient, UpdateOne

from shared.db import write_by_id
from tests.support import Stack

pytestmark = pytest.mark.stack

PAIRS = 200
T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)

# (name, the first writer's update, the second's, what the document must hold after both)
SHAPES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("$set a / $set b (rating's board, messaging's contacts and jobs)",
     {"$set": {"a": 1}}, {"$set": {"b": 2}}, {"a": 1, "b": 2}),
    ("$set + $setOnInsert + $min / $set (the reminder's prospects)",
     {"$set": {"flagged": False, "job_id": "j"}, "$setOnInsert": {"registered": True},
      "$min": {"waiting_since": T0}},
     # `registered` is there only when the first writer made the document ($setOnInsert, as upsert)
     {"$set": {"recruiter_id": "rec-7"}}, {"flagged": False, "job_id": "j", "waiting_since": T0,
                                          "recruiter_id": "rec-7"}),
    ("$set + $max / $set (intake's profiles)",
     {"$set": {"profile": {"name": "Lee"}}, "$max": {"last_inquired_at": T0}},
     {"$set": {"open": True}}, {"profile": {"name": "Lee"}, "last_inquired_at": T0, "open": True}),
    ("$set / $addToSet",
     {"$set": {"a": 1}}, {"$addToSet": {"tags": "x"}}, {"a": 1, "tags": ["x"]}),
    ("$set + $setOnInsert / $set + $setOnInsert (intake's jobs)",
     {"$set": {"title": "Backend"}, "$setOnInsert": {"open": True}},
     {"$set": {"recruiter_id": "rec-7"}, "$setOnInsert": {"open": True}},
     {"title": "Backend", "open": True, "recruiter_id": "rec-7"}),
    ("$min earlier / $min later (the earliest wait)",
     {"$min": {"waiting_since": T0}}, {"$min": {"waiting_since": T0 + timedelta(days=1)}}, {"waiting_since": T0}),
]


@pytest.fixture
async def two(stack: Stack):
    """Two clients (two connection pools, as two replicas have) on a database of this test."""
    name = f"t{uuid.uuid4().hex[:10]}_first_writes"
    first: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_uri, tz_aware=True)
    second: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_uri, tz_aware=True)
    try:
        yield first[name]["docs"], second[name]["docs"]
    finally:
        await first.drop_database(name)
        await first.close()
        await second.close()


def _holds(doc: dict[str, Any] | None, expected: dict[str, Any]) -> bool:
    return doc is not None and all(doc.get(k) == v for k, v in expected.items())


async def _upsert(collection: Any, key: str, update: dict[str, Any]) -> None:
    await collection.bulk_write([UpdateOne({"_id": key}, update, upsert=True)])


async def _write_by_id(collection: Any, key: str, update: dict[str, Any]) -> None:
    await write_by_id(collection, [(key, update)])


async def _lost(collections: tuple[Any, Any], first: dict[str, Any], second: dict[str, Any],
                expected: dict[str, Any], write: Any) -> int:
    ids = [uuid.uuid4().hex for _ in range(PAIRS)]
    for start in range(0, PAIRS, 20):
        await asyncio.gather(*(write(collections[side], key, update)
                               for key in ids[start:start + 20]
                               for side, update in ((0, first), (1, second))))
    found = {d["_id"]: d async for d in collections[0].find({"_id": {"$in": ids}})}
    return sum(1 for key in ids if not _holds(found.get(key), expected))


@pytest.mark.parametrize("shape", SHAPES, ids=[s[0] for s in SHAPES])
async def test_no_first_write_is_lost(two, shape, record_property):
    name, first, second, expected = shape
    lost = await _lost(two, first, second, expected, _write_by_id)
    # What a plain upsert does on this engine, measured beside it (MongoDB loses none; the
    # local engine some): said in the report, not asserted, since it is the engine's defect.
    raw = await _lost(two, first, second, expected, _upsert)
    record_property("upsert_pairs_lost", f"{raw} of {PAIRS}")
    print(f"{name}: write_by_id lost {lost} of {PAIRS} pairs; a plain upsert lost {raw} of {PAIRS}")
    assert lost == 0, f"{name}: {lost} of {PAIRS} pairs lost a write"


async def test_a_documents_later_writes_follow_in_order(two):
    """Several writes of one key in one call: the first makes the document, the rest update it in
    order (an update that replaces a field wins over an earlier one), as ordered upserts did."""
    collection = two[0]
    await write_by_id(collection, [("job-1", {"$set": {"title": "A"}, "$setOnInsert": {"open": True}}),
                                   ("job-1", {"$set": {"title": "B", "open": False}}),
                                   ("job-2", {"$set": {"title": "C"}})])
    await write_by_id(collection, [("job-1", {"$set": {"title": "D"}, "$setOnInsert": {"open": True}})])
    docs = {d["_id"]: d async for d in collection.find({})}
    assert {k: (d.get("title"), d.get("open")) for k, d in docs.items()} == {"job-1": ("D", False), "job-2": ("C", None)}
