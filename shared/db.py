"""MongoDB wiring: one AsyncMongoClient per process, one database per service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import AsyncMongoClient
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


# FerretDB 1.24 never answers an update command of 100 or more statements (99 pass); MongoDB
# takes any number. Bulk writes go in chunks below that, in order.
BULK_CHUNK = 50


async def bulk_write(collection: AsyncCollection[dict[str, Any]], operations: Sequence[Any], *, ordered: bool = True) -> None:
    for start in range(0, len(operations), BULK_CHUNK):
        await collection.bulk_write(list(operations[start:start + BULK_CHUNK]), ordered=ordered)
