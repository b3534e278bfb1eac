"""MongoDB wiring: one AsyncMongoClient per process, one database per service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared.settings import MongoSettings

DUPLICATE_KEY = 11000


def mongo_client(settings: MongoSettings, *, appname: str) -> AsyncMongoClient[dict[str, Any]]:
    """A client that connects lazily; nothing is contacted until the first operation."""
    return AsyncMongoClient(
        settings.uri.get_secret_value(),
        appname=appname,
        tz_aware=True,
        serverSelectionTimeoutMS=settings.server_selection_timeout_ms,
        timeoutMS=settings.operation_timeout_ms,
    )


def database(client: AsyncMongoClient[dict[str, Any]], name: str) -> AsyncDatabase[dict[str, Any]]:
    return client[name]


def only_duplicate_keys(exc: BulkWriteError) -> bool:
    """True when every failure of a bulk write is a unique-key violation (and nothing else)."""
    details = exc.details or {}
    errors = details.get("writeErrors") or []
    return bool(errors) and not details.get("writeConcernErrors") and all(
        e.get("code") == DUPLICATE_KEY for e in errors
    )


async def insert_new(collection: AsyncCollection[dict[str, Any]], documents: Sequence[dict[str, Any]]) -> set[int]:
    """Insert what is not there yet; return the positions that clashed on a unique key.

    The idempotency primitive of every store here: a unique key (an event id, a derived id)
    decides who was first, with one batched insert and no transaction."""
    if not documents:
        return set()
    try:
        await collection.insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        if not only_duplicate_keys(exc):
            raise
        return {e["index"] for e in exc.details["writeErrors"]}
    return set()


# FerretDB 1.24 holds a pooled PostgreSQL connection per statement of an update command until the
# command ends (commands whose statements add up to its pool wait for each other for good), and
# over SQLite never answers a command of 100 or more statements; MongoDB takes any number. So
# bulk writes go in commands of BULK_CHUNK, at most _BULK_AT_ONCE at a time per writer: 50
# connections a writer, and devstack's pool of 400 (PG_POOL_MAX_CONNS) leaves room for eight.
BULK_CHUNK = 25
_BULK_AT_ONCE = 2


async def bulk_write(collection: AsyncCollection[dict[str, Any]], operations: Sequence[Any], *, ordered: bool = True) -> None:
    for start in range(0, len(operations), BULK_CHUNK):
        await collection.bulk_write(list(operations[start:start + BULK_CHUNK]), ordered=ordered)


# --- reads and writes by _id, shaped for the server -----------------------------------------------
#
# FerretDB 1.24 (SQLite) uses no index for queries: `find_one({_id: x})` is a table scan inside
# SQLite (a miss costs ~3 us per document), `{_id: {$in: [...]}}` a scan decoded in Go (~25 us
# per document), and so are updates and upserts (one scan each). Only inserts cost the same at
# any size. Measured: at 3,000 documents 9 ids by `$in` 76 ms, by 9 concurrent `find_one` 4 ms
# (hits); at 20,000, 50 upserts that create 960 ms, one `insert_many` of 50 1.5 ms. MongoDB
# serves all of these from the `_id` index, and one `$in` is one round trip. So: `$in` on
# MongoDB and for many ids; a few ids are looked up one by one on FerretDB (recognised by its
# `buildInfo`); documents known to be new are inserted, not upserted.

MONGODB, FERRETDB_POSTGRESQL, FERRETDB_SQLITE = "mongodb", "ferretdb-postgresql", "ferretdb-sqlite"
_FERRETDB: dict[int, bool] = {}
_LOOKUPS_AT_ONCE = 16
# More ids than this: one `$in` (a whole scan on FerretDB) costs less than the lookups. Over
# PostgreSQL a lookup by `_id` is an index scan (~0.5 ms, with devstack's `_id` index); over
# SQLite a scan of its own.
_LOOKUPS_AT_MOST = {FERRETDB_POSTGRESQL: 1_000, FERRETDB_SQLITE: 16}


_ENGINES: dict[int, str] = {}


async def engine(collection: AsyncCollection[dict[str, Any]]) -> str:
    """Which server answers: MongoDB, or FerretDB over PostgreSQL or SQLite (FerretDB's explain
    shows its backend's own plan). Asked once per client, at start, by the stores that need to
    pick a form; `collection` must exist."""
    key = id(collection.database.client)
    if key not in _ENGINES:
        if not await is_ferretdb(collection.database.client):
            _ENGINES[key] = MONGODB
        else:
            plan = await collection.database.command("explain", {"find": collection.name, "filter": {"_id": ""}})
            if not plan.get("queryPlanner"):
                return FERRETDB_SQLITE  # a collection not created yet shows no plan: ask again later
            postgresql = "Node Type" in str(plan["queryPlanner"])
            _ENGINES[key] = FERRETDB_POSTGRESQL if postgresql else FERRETDB_SQLITE
    return _ENGINES[key]


async def is_ferretdb(client: AsyncMongoClient[dict[str, Any]]) -> bool:
    key = id(client)
    if key not in _FERRETDB:
        info = await client.admin.command("buildInfo")
        _FERRETDB[key] = "ferretdbVersion" in info
    return _FERRETDB[key]


async def find_by_ids(collection: AsyncCollection[dict[str, Any]], ids: Sequence[Any],
                      projection: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The documents with these `_id`s (those that exist), in no particular order."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    known = _ENGINES.get(id(collection.database.client))
    at_most = _LOOKUPS_AT_MOST.get(known or "", 16)
    if len(wanted) > at_most or not await is_ferretdb(collection.database.client):
        return [d async for d in collection.find({"_id": {"$in": wanted}}, projection)]
    gate = asyncio.Semaphore(_LOOKUPS_AT_ONCE)

    async def one(value: Any) -> dict[str, Any] | None:
        async with gate:
            return await collection.find_one({"_id": value}, projection)

    return [d for d in await asyncio.gather(*(one(v) for v in wanted)) if d is not None]


async def set_by_id(collection: AsyncCollection[dict[str, Any]], writes: Sequence[tuple[Any, dict[str, Any]]],
                    existing: set[Any]) -> None:
    """Apply `$set` writes (top-level fields) by `_id`, in order. Documents not in `existing`
    are created by one insert of their merged fields; one that another writer created meanwhile
    (a duplicate key) falls back to an upsert. The rest are updates: one per document (its
    writes merged in order, so the last value of each field wins, as if applied one by one),
    sent as several bulk commands at once, since no two touch the same document."""
    created: dict[Any, dict[str, Any]] = {}
    updated: dict[Any, dict[str, Any]] = {}
    for key, fields in writes:
        (updated.setdefault(key, {}) if key in existing else created.setdefault(key, {"_id": key})).update(fields)
    clashed = await insert_new(collection, list(created.values()))
    for position in clashed:  # created meanwhile by another writer: update it instead
        doc = dict(list(created.values())[position])
        updated.setdefault(doc.pop("_id"), {}).update(doc)
    await _in_chunks(collection, [UpdateOne({"_id": k}, {"$set": f}, upsert=True) for k, f in updated.items()])


async def set_each(collection: AsyncCollection[dict[str, Any]], writes: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """`$set` on documents each picked by its own filter (one `_id` each, no two the same), as
    bulk commands of BULK_CHUNK, two at a time."""
    await _in_chunks(collection, [UpdateOne(query, {"$set": fields}) for query, fields in writes])


async def _in_chunks(collection: AsyncCollection[dict[str, Any]], operations: list[UpdateOne]) -> None:
    """Independent updates (different documents): commands of BULK_CHUNK, _BULK_AT_ONCE at a time."""
    chunks = [operations[i:i + BULK_CHUNK] for i in range(0, len(operations), BULK_CHUNK)]
    gate = asyncio.Semaphore(_BULK_AT_ONCE)

    async def send(chunk: list[UpdateOne]) -> None:
        async with gate:
            await collection.bulk_write(chunk, ordered=False)

    await asyncio.gather(*(send(c) for c in chunks))
