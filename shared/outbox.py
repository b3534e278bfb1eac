"""The outbox: what an input causes is recorded under the input's id before it is applied and
published, and marked once Kafka has acknowledged it. A redelivered input that is marked does
nothing; one recorded but not marked (a crash in between) replays its recorded outcome, so
the writes and the event ids come out the same."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.db import find_by_ids, insert_new
from shared.logs import get_logger
from shared.retention import Kept

log = get_logger("prospectflow.outbox")

_TRAILING: ContextVar[list[Coroutine[Any, Any, None]] | None] = ContextVar("trailing_marks", default=None)


async def mark_after(mark: Coroutine[Any, Any, None]) -> None:
    """A batch's last write, the marks of what Kafka acknowledged, made alongside the batch's
    offset commit rather than before it (one database round trip off every batch's path).
    Safe in any order: a mark only matters if the batch comes again, and a batch whose mark
    was lost (a crash, a failed write) replays under the same event ids, which every consumer
    takes once. Outside a Kafka batch (a test, a scheduler), the mark is made now."""
    pending = _TRAILING.get()
    if pending is None:
        await mark
    else:
        pending.append(mark)


class Trailing:
    """The marks deferred within one batch (see `mark_after`): `with trailing:` around the
    handler, then `await trailing.land()` beside the commit."""

    def __init__(self) -> None:
        self.marks: list[Coroutine[Any, Any, None]] = []

    def __enter__(self) -> Trailing:
        self._token = _TRAILING.set(self.marks)
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        _TRAILING.reset(self._token)
        if kind is not None:  # the batch failed: it comes again, marks and all
            for mark in self.marks:
                mark.close()
            self.marks.clear()

    async def land(self) -> None:
        marks, self.marks = self.marks, []
        for outcome in await asyncio.gather(*marks, return_exceptions=True):
            if isinstance(outcome, BaseException):
                log.warning("a batch's published marks were not written; a redelivery of it replays under "
                            "the same ids", extra={"fault": f"{type(outcome).__name__}: {outcome}"[:300]})


class Published:
    """The markers of what Kafka has acknowledged, by the id of what caused it (an input event,
    an inquiry, a reminder): the one `mark_published` of every service."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def mark(self, ids: Iterable[str]) -> None:
        now = datetime.now(timezone.utc)
        await insert_new(self.collection, [{"_id": i, "at": now} for i in ids])

    async def which(self, ids: list[str]) -> set[str]:
        """Those of `ids` that are marked."""
        return {d["_id"] for d in await find_by_ids(self.collection, ids, {"_id": 1})}

    def kept(self) -> Kept:
        return Kept(self.collection, "at")


class Outbox:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.records = db["outbox"]
        self.markers = Published(db["published"])
        self.published = self.markers.collection

    async def state(self, cause_ids: list[str]) -> tuple[set[str], dict[str, dict[str, Any]]]:
        """Of these inputs: those fully done, and the recorded outcomes of those decided but
        not confirmed published."""
        # Both at once: one round trip on the hot path (the markers of unrecorded ids are none).
        records, markers = await asyncio.gather(find_by_ids(self.records, cause_ids), self.markers.which(cause_ids))
        recorded = {d["_id"]: d for d in records}
        done = markers & set(recorded)
        return done, {k: v for k, v in recorded.items() if k not in done}

    def kept(self) -> list[Kept]:
        """What retention prunes (`<SERVICE>_RETENTION_DAYS`)."""
        return [Kept(self.records, "recorded_at"), self.markers.kept()]

    async def record(self, outcomes: list[dict[str, Any]]) -> None:
        now = datetime.now(timezone.utc)
        await insert_new(self.records, [{**o, "recorded_at": now} for o in outcomes])

    async def mark_published(self, cause_ids: Iterable[str]) -> None:
        await self.markers.mark(cause_ids)
