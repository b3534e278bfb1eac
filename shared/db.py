"""MongoDB wiring: one AsyncMongoClient per process, one database per service."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


async def bulk_write(collection: AsyncCollection[dict[str, Any]], operations: Sequence[Any], *, ordered: bool = True) -> None:
    """One bulk command (the driver splits it by the server's limits); nothing when empty."""
    if operations:
        await collection.bulk_write(list(operations), ordered=ordered)


async def find_by_ids(collection: AsyncCollection[dict[str, Any]], ids: Iterable[Any],
                      projection: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The documents with these `_id`s (those that exist), in no particular order: one `$in`
    on the `_id` index."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    return [d async for d in collection.find({"_id": {"$in": wanted}}, projection)]


async def set_by_id(collection: AsyncCollection[dict[str, Any]], writes: Sequence[tuple[Any, dict[str, Any]]]) -> None:
    """Apply `$set` writes (top-level fields) by `_id`, in order, creating documents that are
    not there: one upsert per document, its writes merged in order (the last value of each field
    wins, as if applied one by one), in one unordered bulk command, since no two touch the same
    document."""
    merged: dict[Any, dict[str, Any]] = {}
    for key, fields in writes:
        merged.setdefault(key, {}).update(fields)
    await bulk_write(collection, [UpdateOne({"_id": k}, {"$set": f}, upsert=True) for k, f in merged.items()],
                     ordered=False)


async def set_each(collection: AsyncCollection[dict[str, Any]], writes: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """`$set` on documents each picked by its own filter (one `_id` each, no two the same)."""
    await bulk_write(collection, [UpdateOne(query, {"$set": fields}) for query, fields in writes], ordered=False)
