"""The local database as the services use it: FerretDB over PostgreSQL, with the `_id` index
PostgreSQL makes for every table FerretDB creates, and bulk writes past one command's size."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from pymongo import AsyncMongoClient, UpdateOne

from devstack.stack import StackConfig, _psql, use_postgresql
from shared.db import BULK_CHUNK, bulk_write
from tests.support import Stack

pytestmark = pytest.mark.stack


def local_postgresql(stack: Stack) -> StackConfig:
    config = StackConfig()
    if stack.source != "devstack" or config.external_mongo or not use_postgresql(config):
        pytest.skip("not the local stack's FerretDB over PostgreSQL")  # MongoDB has its own _id index
    return config


def sql(config: StackConfig, query: str) -> str:
    done = subprocess.run([*_psql(config, "ferretdb"), "-c", query], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_every_new_collection_gets_an_id_index_that_serves_lookups(stack: Stack):
    config = local_postgresql(stack)
    database = f"t{uuid.uuid4().hex[:10]}_idx"
    client: AsyncMongoClient = AsyncMongoClient(stack.mongodb_uri)
    try:
        await client[database]["board"].insert_many([{"_id": f"p{n}", "n": n} for n in range(500)])
        table = sql(config, f"SELECT tablename FROM pg_tables WHERE schemaname = '{database}' "
                            "AND tablename LIKE 'board_%'").strip()
        indexes = sql(config, f"SELECT indexdef FROM pg_indexes WHERE schemaname = '{database}' AND tablename = '{table}'")
        assert "USING gin (((_jsonb -> '_id'::text)))" in indexes, indexes
        # The filter FerretDB sends for `{_id: x}` is served by it (not a sequential scan).
        plan = sql(config, f"SET enable_seqscan = off; EXPLAIN SELECT _jsonb FROM \"{database}\".\"{table}\" "
                           "WHERE _jsonb->'_id' @> '\"p7\"'")
        assert "Bitmap Index Scan" in plan and "_pf_id" in plan, plan
        assert (await client[database]["board"].find_one({"_id": "p7"}))["n"] == 7
    finally:
        await client.drop_database(database)
        await client.close()


async def test_bulk_writes_larger_than_one_command_pass(stack: Stack):
    """FerretDB over PostgreSQL holds a pooled connection per statement of an update command
    until it ends: `bulk_write` sends commands of BULK_CHUNK, several at once stay in the pool."""
    import asyncio

    database = f"t{uuid.uuid4().hex[:10]}_bulk"
    client: AsyncMongoClient = AsyncMongoClient(stack.mongodb_uri, timeoutMS=60_000)
    try:
        docs = client[database]["docs"]
        await docs.insert_many([{"_id": n, "v": 0} for n in range(BULK_CHUNK * 8)])
        writes = [[UpdateOne({"_id": n}, {"$set": {"v": k + 1}}) for n in range(k * BULK_CHUNK, (k + 2) * BULK_CHUNK)]
                  for k in range(0, 8, 2)]  # four writers of two commands' worth each, at once
        await asyncio.wait_for(asyncio.gather(*(bulk_write(docs, w) for w in writes)), timeout=60)
        assert await docs.count_documents({"v": 0}) == 0
    finally:
        await client.drop_database(database)
        await client.close()


async def test_retention_prunes_idempotency_records_older_than_the_period(stack: Stack):
    from datetime import datetime, timedelta, timezone

    from shared.outbox import Outbox
    from shared.retention import Retention

    database = f"t{uuid.uuid4().hex[:10]}_retention"
    client: AsyncMongoClient = AsyncMongoClient(stack.mongodb_uri)
    try:
        outbox = Outbox(client[database])
        await outbox.record([{"_id": "old", "events": []}, {"_id": "new", "events": []}])
        await outbox.mark_published(["old", "new"])
        month_ago = datetime.now(timezone.utc) - timedelta(days=31)
        await outbox.records.update_one({"_id": "old"}, {"$set": {"recorded_at": month_ago}})
        await outbox.published.update_one({"_id": "old"}, {"$set": {"at": month_ago}})
        assert await Retention(outbox.kept(), days=30).prune() == 2
        assert [d["_id"] async for d in outbox.records.find()] == ["new"]
        assert [d["_id"] async for d in outbox.published.find()] == ["new"]
        assert await outbox.state(["new"]) == ({"new"}, {})
    finally:
        await client.drop_database(database)
        await client.close()


async def test_eight_writers_merging_and_updating_at_once_fill_the_pool_and_finish(stack: Stack):
    """The edge: eight writers, each `set_by_id` with two commands of BULK_CHUNK in flight,
    is FerretDB's whole pool (400 connections); all finish, and each document ends with the last
    value written to it, as if the writes were applied one by one."""
    import asyncio

    from shared.db import set_by_id

    database = f"t{uuid.uuid4().hex[:10]}_pool"
    client: AsyncMongoClient = AsyncMongoClient(stack.mongodb_uri, timeoutMS=90_000)
    try:
        docs = client[database]["docs"]
        per_writer = BULK_CHUNK * 8
        await docs.insert_many([{"_id": n, "v": 0} for n in range(per_writer * 8)])

        async def writer(w: int) -> None:
            ids = range(w * per_writer, (w + 1) * per_writer)
            writes = [(n, {"v": 1, "w": w}) for n in ids] + [(n, {"v": 2}) for n in ids]  # two writes per document
            await set_by_id(docs, writes, existing=set(ids))

        await asyncio.wait_for(asyncio.gather(*(writer(w) for w in range(8))), timeout=90)
        assert await docs.count_documents({"v": 2}) == per_writer * 8
        assert await docs.count_documents({"w": 3}) == per_writer
    finally:
        await client.drop_database(database)
        await client.close()
