"""Intake's MongoDB: the prospect registry.

`inquiries` holds every accepted inquiry once (`_id` = its event id; `board_key` unique).
`prospects` holds one record per job and person (`_id` = prospect id), created by the first
inquiry that inserts it (`registered_by`). `published` holds the event id of every inquiry whose
event Kafka acknowledged. No transactions: each write is idempotent, and the order (claim,
register, publish, mark) makes a crash at any point safe to replay.

The hot path is inserts (one `insert_many` per collection and batch, the unique `_id` and
`board_key` deciding who was first); updates happen only for prospects that inquire again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.errors import OperationFailure
from pymongo.asynchronous.database import AsyncDatabase

from services.intake.domain import Inquiry, Known
from shared.db import bulk_write, find_by_ids, insert_new
from shared.retention import Kept

NOT_FOUND = (26, 27)  # NamespaceNotFound, IndexNotFound


class IntakeStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.inquiries = db["inquiries"]
        self.prospects = db["prospects"]
        self.published = db["published"]

    async def ensure_indexes(self) -> None:
        await self.inquiries.create_index([("board_key", ASCENDING)], unique=True, name="board_key_unique")
        # Only indexes a query uses: each secondary index is a write per document on the hot path
        # (on DocumentDB 500 inserts took 8 ms without and 46 ms with two). Those of earlier
        # versions, which no query read, go.
        for collection, name in ((self.inquiries, "by_prospect"), (self.prospects, "by_person"),
                                 (self.prospects, "by_job")):
            try:
                await collection.drop_index(name)
            except OperationFailure as exc:
                if exc.code not in NOT_FOUND:
                    raise

    async def claim(self, inquiries: Sequence[Inquiry]) -> list[Inquiry]:
        """Record new inquiries; return those whose event still has to be published: the new
        ones, and redelivered ones whose publish was never confirmed (a crash in between). A
        redelivery already published, or the same board inquiry under another event id, is
        left out: it emits nothing."""
        now = datetime.now(timezone.utc)
        clashed = await insert_new(self.inquiries, [
            {"_id": i.event_id, "board_key": i.board_key, "prospect_id": i.prospect_id, "person_id": i.person_id,
             "job_id": i.job_id, "board": i.board, "board_inquiry_id": i.board_inquiry_id, "profile": i.profile,
             "message": i.message, "inquired_at": i.inquired_at, "received_at": now}
            for i in inquiries
        ])
        if not clashed:
            return list(inquiries)
        clashing = [inquiries[n].event_id for n in clashed]
        redelivered = {d["_id"] for d in await find_by_ids(self.inquiries, clashing, {"_id": 1})}
        done = {d["_id"] for d in await find_by_ids(self.published, list(redelivered))}
        return [i for n, i in enumerate(inquiries) if n not in clashed or (i.event_id in redelivered and i.event_id not in done)]

    async def register(self, first_new: dict[str, Inquiry]) -> tuple[dict[str, Known], dict[str, dict[str, Any]]]:
        """Create the prospects not registered yet, each by its first inquiry of this batch.
        Returns what was known before this batch of each prospect (nothing, for those just
        created), and the profile each prospect's record now holds."""
        now = datetime.now(timezone.utc)
        order = list(first_new)
        clashed = await insert_new(self.prospects, [
            {"_id": pid, "registered_by": i.event_id, "person_id": i.person_id, "job_id": i.job_id,
             "profile": i.profile, "first_inquired_at": i.inquired_at, "last_inquired_at": i.inquired_at, "created_at": now}
            for pid, i in first_new.items()
        ])
        known = {pid: Known(registered_by=first_new[pid].event_id, profile={}) for pid in order}
        stored = {pid: first_new[pid].profile for pid in order}
        if clashed:
            existing = [order[n] for n in clashed]
            for doc in await find_by_ids(self.prospects, existing, {"registered_by": 1, "profile": 1}):
                known[doc["_id"]] = Known(registered_by=doc["registered_by"], profile=doc.get("profile") or {})
                stored[doc["_id"]] = known[doc["_id"]].profile
        return known, stored

    async def save_profiles(self, profiles: dict[str, dict[str, Any]], last_inquired_at: dict[str, datetime]) -> None:
        if not profiles:
            return
        now = datetime.now(timezone.utc)
        await bulk_write(self.prospects, [
            UpdateOne({"_id": pid}, {"$set": {"profile": profile, "updated_at": now},
                                     "$max": {"last_inquired_at": last_inquired_at[pid]}})
            for pid, profile in profiles.items()
        ], ordered=False)

    async def mark_published(self, event_ids: Iterable[str]) -> None:
        now = datetime.now(timezone.utc)
        await insert_new(self.published, [{"_id": event_id, "at": now} for event_id in event_ids])

    def kept(self) -> list[Kept]:
        """What retention prunes: the published markers (inquiries and prospects are the data)."""
        return [Kept(self.published, "at")]
