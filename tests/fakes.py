"""In-memory stand-ins for the millisecond tests of handlers: a database that the real stores
run on (the few MongoDB operations and filters they use, with unique `_id`s and unique indexes),
a publisher that keeps what it published and can fail, and a mailer that keeps what it sent.

Never used by the integration and end-to-end tests, which run on the real Kafka, MongoDB and
SMTP. What matters here is the handlers' orchestration: a redelivery, a crash between a write
and a publish, a job after its prospects, two replicas at once."""

from __future__ import annotations

from dataclasses import dataclass

import asyncio
import copy
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from pymongo import UpdateMany, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from shared.messages import Outgoing


# --- filters, updates, projections --------------------------------------------------------------


def _value(doc: dict[str, Any], path: str) -> Any:
    current: Any = doc
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def _compare(a: Any, b: Any) -> int:
    if isinstance(a, datetime) and isinstance(b, datetime):
        a, b = a.timestamp(), b.timestamp()
    return (a > b) - (a < b)


def _matches_value(actual: Any, condition: Any) -> bool:
    if isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition):
        for op, operand in condition.items():
            if op == "$in":
                if not any(_equal(actual, o) for o in operand):
                    return False
            elif op == "$nin":
                if any(_equal(actual, o) for o in operand):
                    return False
            elif op == "$ne":
                if _equal(actual, operand):
                    return False
            elif op == "$exists":
                if (actual is not None) != bool(operand):
                    return False
            elif op in ("$gt", "$gte", "$lt", "$lte"):
                if actual is None or operand is None:
                    return False
                c = _compare(actual, operand)
                if not {"$gt": c > 0, "$gte": c >= 0, "$lt": c < 0, "$lte": c <= 0}[op]:
                    return False
            else:
                raise NotImplementedError(f"the fake database has no {op}")
        return True
    return _equal(actual, condition)


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list) and not isinstance(expected, list):
        return expected in actual
    if isinstance(actual, datetime) and isinstance(expected, datetime):
        return _compare(actual, expected) == 0
    return bool(actual == expected)


def matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    for key, condition in query.items():
        if key == "$and":
            if not all(matches(doc, q) for q in condition):
                return False
        elif key == "$or":
            if not any(matches(doc, q) for q in condition):
                return False
        elif not _matches_value(_value(doc, key), condition):
            return False
    return True


def _apply_update(doc: dict[str, Any], update: dict[str, Any], inserting: bool) -> None:
    for op, fields in update.items():
        for key, value in fields.items():
            current = doc.get(key)
            if op == "$set":
                doc[key] = copy.deepcopy(value)
            elif op == "$setOnInsert":
                if inserting:
                    doc[key] = copy.deepcopy(value)
            elif op == "$min":
                if current is None or _compare(value, current) < 0:
                    doc[key] = value
            elif op == "$max":
                if current is None or _compare(value, current) > 0:
                    doc[key] = value
            elif op == "$inc":
                doc[key] = (current or 0) + value
            elif op == "$push":
                doc[key] = [*(current or []), copy.deepcopy(value)]
            else:
                raise NotImplementedError(f"the fake database has no {op}")


def _project(doc: dict[str, Any], projection: dict[str, Any] | None) -> dict[str, Any]:
    if not projection:
        return copy.deepcopy(doc)
    kept = {k: copy.deepcopy(v) for k, v in doc.items() if projection.get(k)}
    kept["_id"] = doc["_id"]
    return kept


def _expression(doc: dict[str, Any], expression: Any) -> Any:
    if isinstance(expression, str) and expression.startswith("$"):
        return _value(doc, expression[1:])
    if isinstance(expression, dict) and set(expression) == {"$cond"}:
        test, then, otherwise = expression["$cond"]
        return _expression(doc, then) if _expression(doc, test) else _expression(doc, otherwise)
    if isinstance(expression, dict) and set(expression) == {"$eq"}:
        left, right = (_expression(doc, e) for e in expression["$eq"])
        return left == right
    if isinstance(expression, dict):
        return {k: _expression(doc, v) for k, v in expression.items()}
    return expression


def _group(docs: list[dict[str, Any]], spec: dict[str, Any]) -> list[dict[str, Any]]:
    groups: dict[str, tuple[Any, list[dict[str, Any]]]] = {}
    for doc in docs:
        key = _expression(doc, spec["_id"])
        groups.setdefault(repr(key), (key, []))[1].append(doc)
    out = []
    for key, members in groups.values():
        result: dict[str, Any] = {"_id": key}
        for name, accumulator in spec.items():
            if name == "_id":
                continue
            (op, argument), = accumulator.items()
            if op == "$sum":
                result[name] = sum(_expression(d, argument) for d in members)
            elif op == "$topN":
                order = list(argument["sortBy"].items())
                ranked = MemoryCursor(list(members)).sort(order)._docs[:argument["n"]]
                result[name] = [_expression(d, argument["output"]) for d in ranked]
            else:
                raise NotImplementedError(f"the fake database has no {op}")
        out.append(result)
    return out


# --- the collection -------------------------------------------------------------------------------


class MemoryCursor:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self._docs = docs

    def sort(self, keys: Any, direction: int | None = None) -> MemoryCursor:
        pairs = [(keys, direction or 1)] if isinstance(keys, str) else list(keys)
        for key, way in reversed(pairs):
            self._docs.sort(key=lambda d: (_value(d, key) is not None, _sortable(_value(d, key))), reverse=way < 0)
        return self

    def limit(self, n: int) -> MemoryCursor:
        if n:
            self._docs = self._docs[:n]
        return self

    def batch_size(self, _: int) -> MemoryCursor:
        return self

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        return self._docs[:length] if length else list(self._docs)

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        async def iterate() -> AsyncIterator[dict[str, Any]]:
            for d in self._docs:
                yield d
        return iterate()


def _sortable(value: Any) -> Any:
    return value.timestamp() if isinstance(value, datetime) else value


class MemoryCollection:
    def __init__(self, database: MemoryDatabase, name: str) -> None:
        self.database = database
        self.name = name
        self.docs: dict[Any, dict[str, Any]] = {}
        self.unique: list[tuple[str, ...]] = []
        self.fail_next: list[BaseException] = []  # raised by the next writes, one each: a fault

    def _fault(self) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)

    async def create_index(self, keys: Any, *, unique: bool = False, **_: Any) -> str:
        if unique:
            self.unique.append(tuple(k for k, _ in keys))
        return "index"

    async def drop_index(self, name: str) -> None:
        raise OperationFailure(f"index not found with name [{name}]", 27)

    def _clashes(self, doc: dict[str, Any]) -> bool:
        if doc["_id"] in self.docs:
            return True
        for fields in self.unique:
            key = tuple(_value(doc, f) for f in fields)
            if any(tuple(_value(d, f) for f in fields) == key for d in self.docs.values()):
                return True
        return False

    async def insert_many(self, documents: Sequence[dict[str, Any]], ordered: bool = True) -> None:
        self._fault()
        errors = []
        for n, doc in enumerate(documents):
            doc = copy.deepcopy(dict(doc))
            if self._clashes(doc):
                errors.append({"index": n, "code": 11000, "errmsg": "duplicate key"})
                if ordered:
                    break
                continue
            self.docs[doc["_id"]] = doc
        if errors:
            raise BulkWriteError({"writeErrors": errors, "writeConcernErrors": [], "nInserted": len(documents) - len(errors)})

    async def insert_one(self, document: dict[str, Any]) -> None:
        self._fault()
        doc = copy.deepcopy(dict(document))
        if self._clashes(doc):
            raise DuplicateKeyError("duplicate key", 11000)
        self.docs[doc["_id"]] = doc

    def find(self, query: dict[str, Any] | None = None, projection: dict[str, Any] | None = None) -> MemoryCursor:
        return MemoryCursor([_project(d, projection) for d in self.docs.values() if matches(d, query or {})])

    async def find_one(self, query: dict[str, Any] | None = None, projection: dict[str, Any] | None = None
                       ) -> dict[str, Any] | None:
        found = self.find(query, projection)._docs
        return found[0] if found else None

    async def count_documents(self, query: dict[str, Any]) -> int:
        return len(self.find(query)._docs)

    def _update(self, query: dict[str, Any], update: dict[str, Any], *, many: bool, upsert: bool) -> int:
        hits = [d for d in self.docs.values() if matches(d, query)]
        for doc in hits if many else hits[:1]:
            _apply_update(doc, update, inserting=False)
        if not hits and upsert:
            doc = {k: v for k, v in query.items() if not k.startswith("$") and not isinstance(v, dict)}
            _apply_update(doc, update, inserting=True)
            if self._clashes(doc):
                raise DuplicateKeyError("duplicate key", 11000)
            self.docs[doc["_id"]] = doc
        return len(hits if many else hits[:1])

    async def bulk_write(self, operations: Sequence[Any], ordered: bool = True) -> None:
        self._fault()
        for op in operations:
            if isinstance(op, (UpdateOne, UpdateMany)):
                self._update(op._filter, op._doc, many=isinstance(op, UpdateMany), upsert=bool(op._upsert))
            else:
                raise NotImplementedError(f"the fake database has no {type(op).__name__}")

    async def update_one(self, query: dict[str, Any], update: dict[str, Any], upsert: bool = False) -> Any:
        self._fault()
        return _Result(self._update(query, update, many=False, upsert=upsert))

    async def update_many(self, query: dict[str, Any], update: dict[str, Any]) -> Any:
        self._fault()
        return _Result(self._update(query, update, many=True, upsert=False))

    async def find_one_and_update(self, query: dict[str, Any], update: dict[str, Any], **_: Any) -> Any:
        """The document after the update (ReturnDocument.AFTER, as the stores ask), or None."""
        self._fault()
        hits = [d for d in self.docs.values() if matches(d, query)]
        if not hits:
            return None
        _apply_update(hits[0], update, inserting=False)
        return copy.deepcopy(hits[0])

    async def delete_one(self, query: dict[str, Any]) -> None:
        for key in [k for k, d in self.docs.items() if matches(d, query)][:1]:
            del self.docs[key]

    async def aggregate(self, pipeline: list[dict[str, Any]]) -> MemoryCursor:
        """`$match`, then `$group` with `$sum` of a constant and `$topN`: what the stores' handlers use."""
        docs = list(self.docs.values())
        for stage in pipeline:
            if "$match" in stage:
                docs = [d for d in docs if matches(d, stage["$match"])]
            elif "$group" in stage:
                docs = _group(docs, stage["$group"])
            else:
                raise NotImplementedError(f"the fake database has no stage {list(stage)}")
        return MemoryCursor(copy.deepcopy(docs))

    async def delete_many(self, query: dict[str, Any]) -> Any:
        gone = [k for k, d in self.docs.items() if matches(d, query)]
        for key in gone:
            del self.docs[key]
        return _Deleted(len(gone))


@dataclass
class _Result:
    matched_count: int


@dataclass
class _Deleted:
    deleted_count: int


class MemoryDatabase:
    """`db["name"]` as the stores use it; one per test (or shared by two replicas)."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.collections: dict[str, MemoryCollection] = {}

    def __getitem__(self, name: str) -> MemoryCollection:
        if name not in self.collections:
            self.collections[name] = MemoryCollection(self, name)
        return self.collections[name]


# --- Kafka's and SMTP's sides -------------------------------------------------------------------


class PublishFailed(ConnectionError):
    """Kafka went away mid-publish (an infrastructure fault, as the real publisher would raise
    once its retries are exhausted, or a crash at that point)."""


class MemoryPublisher:
    """Keeps every published event in order; `fail_next` makes the next publishes fail (a crash
    between a write and its publish)."""

    def __init__(self) -> None:
        self.published: list[Outgoing] = []
        self.fail_next = 0

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        if not messages:
            return
        if self.fail_next:
            self.fail_next -= 1
            raise PublishFailed("the broker went away")
        self.published.extend(messages)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m.event for m in self.published if m.event["type"] == kind]

    def ids(self) -> list[str]:
        return [m.event["id"] for m in self.published]


class MemoryMailer:
    """Messaging's Mailer as the handler uses it: a slot, then send; keeps the mails."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.envelope_senders: list[str | None] = []
        self._gate = asyncio.Semaphore(4)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._gate:
            yield

    async def send(self, message: Any, envelope_sender: str | None = None) -> None:
        self.sent.append(message)
        self.envelope_senders.append(envelope_sender)

    def to(self) -> list[str]:
        return [re.sub(r".*<|>.*", "", str(m["To"])) for m in self.sent]
