"""Pruning the idempotency records (outbox outcomes, published markers) after a retention
period, `<SERVICE>_RETENTION_DAYS` (default 30): far longer than any redelivery (Kafka keeps a
topic's records 7 days by default), so a redelivery still finds them.

On MongoDB a TTL index on the record's time field does it; FerretDB has no TTL index, so every
replica deletes what is older than the period once an hour (idempotent: replicas may overlap).
The form is chosen once, at start."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from shared.db import is_ferretdb
from shared.logs import get_logger

log = get_logger("prospectflow.retention")
PRUNE_EVERY_S = 3_600


@dataclass(frozen=True)
class Kept:
    """A collection of idempotency records and the field saying when each was written."""

    collection: AsyncCollection[dict[str, Any]]
    time_field: str


class Retention:
    def __init__(self, kept: list[Kept], days: float) -> None:
        self.kept = kept
        self.days = days
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self.kept:
            return
        if not await is_ferretdb(self.kept[0].collection.database.client):
            for k in self.kept:
                await k.collection.create_index([(k.time_field, ASCENDING)], name="retention",
                                                expireAfterSeconds=int(self.days * 86_400))
            return
        self._task = asyncio.create_task(self._every_hour())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def prune(self, now: datetime | None = None) -> int:
        """Delete the records older than the period; how many."""
        cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=self.days)
        deleted = 0
        for k in self.kept:
            result = await k.collection.delete_many({k.time_field: {"$lt": cutoff}})
            deleted += result.deleted_count
        return deleted

    async def _every_hour(self) -> None:
        while True:
            try:
                deleted = await self.prune()
                if deleted:
                    log.info("pruned idempotency records", extra={"deleted": deleted, "older_than_days": self.days})
            except Exception as exc:  # noqa: BLE001 - pruning is housekeeping: try again next time
                log.warning("pruning failed; trying again in an hour", extra={"fault": repr(exc)[:200]})
            await asyncio.sleep(PRUNE_EVERY_S)
