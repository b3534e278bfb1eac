"""The outbox: what an input causes is recorded under the input's id before it is applied and
published, and marked once Kafka has acknowledged it. A redelivered input that is marked does
nothing; one recorded but not marked (a crash in between) replays its recorded outcome, so
the writes and the event ids come out the same."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.db import find_by_ids, insert_new
from shared.retention import Kept


class Outbox:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.records = db["outbox"]
        self.published = db["published"]

    async def state(self, cause_ids: list[str]) -> tuple[set[str], dict[str, dict[str, Any]]]:
        """Of these inputs: those fully done, and the recorded outcomes of those decided but
        not confirmed published."""
        # Both at once: one round trip on the hot path (the markers of unrecorded ids are none).
        records, markers = await asyncio.gather(find_by_ids(self.records, cause_ids),
                                                find_by_ids(self.published, cause_ids, {"_id": 1}))
        recorded = {d["_id"]: d for d in records}
        done = {d["_id"] for d in markers} & set(recorded)
        return done, {k: v for k, v in recorded.items() if k not in done}

    def kept(self) -> list[Kept]:
        """What retention prunes (`<SERVICE>_RETENTION_DAYS`)."""
        return [Kept(self.records, "recorded_at"), Kept(self.published, "at")]

    async def record(self, outcomes: list[dict[str, Any]]) -> None:
        now = datetime.now(timezone.utc)
        await insert_new(self.records, [{**o, "recorded_at": now} for o in outcomes])

    async def mark_published(self, cause_ids: Iterable[str]) -> None:
        now = datetime.now(timezone.utc)
        await insert_new(self.published, [{"_id": i, "at": now} for i in cause_ids])
