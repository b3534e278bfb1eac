"""MongoDB wiring: one AsyncMongoClient per process, one database per service."""

from __future__ import annotations

import asyncio

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
    not there: each document's writes merged in order (the last value of each field wins, as if
    applied one by one), then written as `write_by_id` does (no upsert)."""
    merged: dict[Any, dict[str, Any]] = {}
    for key, fields in writes:
        merged.setdefault(key, {}).update(fields)
    await write_by_id(collection, [(k, {"$set": f}) for k, f in merged.items()], ordered=False)


async def write_by_id(collection: AsyncCollection[dict[str, Any]], writes: Sequence[tuple[Any, dict[str, Any]]],
                      *, ordered: bool = True) -> None:
    """What an upserting `UpdateOne({"_id": key}, update)` does for each write, in order, without
    an upsert: the first write of each key is an insert of the document that upsert would make,
    and where the document was there already (a duplicate key), every write of that key is a
    plain update; the writes after a key's first are plain updates too.

    Why: two connections upserting the same new `_id` at once lose one of the writes on the
    local engine (DocumentDB before 0.108; MongoDB does not). An insert that clashes is told so,
    and a plain update of an existing document is never lost, on both engines. A batch costs
    one insert and one bulk update (for the documents that existed, or were written twice)."""
    if not writes:
        return
    first: dict[Any, int] = {}
    for n, (key, _) in enumerate(writes):
        first.setdefault(key, n)
    firsts = list(first.items())
    clashed = await insert_new(collection, [{"_id": key, **created_by(writes[n][1])} for key, n in firsts])
    existed = {firsts[i][0] for i in clashed}
    updates = [UpdateOne({"_id": key}, {op: v for op, v in update.items() if op != "$setOnInsert"})
               for n, (key, update) in enumerate(writes)
               if (key in existed or first[key] != n) and any(op != "$setOnInsert" for op in update)]
    await bulk_write(collection, updates, ordered=ordered)


def created_by(update: dict[str, Any]) -> dict[str, Any]:
    """The document an upsert of `update` creates where there was none (the `_id` aside): the
    fields of `$setOnInsert`, `$set`, `$min`, `$max` and `$inc` as given, `$addToSet` as a list."""
    doc: dict[str, Any] = {}
    for op in ("$setOnInsert", "$set", "$min", "$max", "$inc", "$addToSet"):
        for path, value in (update.get(op) or {}).items():
            if op == "$addToSet":
                value = list(dict.fromkeys(value["$each"])) if isinstance(value, dict) and "$each" in value else [value]
            target = doc
            *parents, leaf = path.split(".")
            for part in parents:
                target = target.setdefault(part, {})
            target[leaf] = value
    unknown = set(update) - {"$setOnInsert", "$set", "$min", "$max", "$inc", "$addToSet"}
    if unknown:
        raise ValueError(f"write_by_id cannot make a document of {sorted(unknown)}")
    return doc


async def set_each(collection: AsyncCollection[dict[str, Any]], writes: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """`$set` on documents each picked by its own filter (one `_id` each, no two the same)."""
    await bulk_write(collection, [UpdateOne(query, {"$set": fields}) for query, fields in writes], ordered=False)


class GroupInsert:
    """Inserts of documents arriving at once (SMTP sessions in parallel) go to the database as
    one `insert_many`: each caller waits for its own document's answer (new, or there already),
    or the error, which is every caller's."""

    def __init__(self, collection: Any, most: int = 200) -> None:
        self.collection = collection
        self.most = most
        self._pending: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def insert(self, doc: dict[str, Any]) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((doc, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:self.most], self._pending[self.most:]
            try:
                clashed = await insert_new(self.collection, [doc for doc, _ in batch])
            except Exception as exc:  # noqa: BLE001 - each caller hears it (the sender retries)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for n, (_, future) in enumerate(batch):
                if not future.done():
                    future.set_result(n not in clashed)
