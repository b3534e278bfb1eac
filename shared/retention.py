"""Retention of the idempotency records (outbox outcomes, published markers): a TTL index on
each record's time field removes it after `<SERVICE>_RETENTION_DAYS` (default 30), far longer
than any redelivery (Kafka keeps a topic's records 7 days by default), so a redelivery still
finds it. MongoDB's TTL monitor deletes within a minute of expiry; DocumentDB runs the same
index as a pg_cron job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

INDEX_OPTIONS_CONFLICT = (85, 86)  # IndexOptionsConflict, IndexKeySpecsConflict
INDEX_NAME = "retention"


@dataclass(frozen=True)
class Kept:
    """A collection of idempotency records and the field saying when each was written."""

    collection: AsyncCollection[dict[str, Any]]
    time_field: str


async def ensure_retention(kept: list[Kept], days: float) -> None:
    """A TTL index per collection; a changed period replaces the index (the records stay)."""
    for k in kept:
        seconds = max(1, int(days * 86_400))
        try:
            await k.collection.create_index([(k.time_field, ASCENDING)], name=INDEX_NAME, expireAfterSeconds=seconds)
        except OperationFailure as exc:
            if exc.code not in INDEX_OPTIONS_CONFLICT:
                raise
            await k.collection.drop_index(INDEX_NAME)
            await k.collection.create_index([(k.time_field, ASCENDING)], name=INDEX_NAME, expireAfterSeconds=seconds)
