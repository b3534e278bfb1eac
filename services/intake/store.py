"""Intake's MongoDB: the prospect registry.

`inquiries` holds every accepted inquiry once (`_id` = its event id; `board_key` unique), with a
`published` flag set after its event is acknowledged by Kafka. `prospects` holds one record per
job and person, derived from its inquiries. No transactions: each write is idempotent and the
order of writes (claim, derive, publish, mark) makes a crash at any point safe to replay.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.intake.domain import Inquiry, merge_profiles
from shared.db import only_duplicate_keys


def _to_document(inquiry: Inquiry) -> dict[str, Any]:
    return {
        "_id": inquiry.event_id,
        "board_key": inquiry.board_key,
        "prospect_id": inquiry.prospect_id,
        "person_id": inquiry.person_id,
        "job_id": inquiry.job_id,
        "board": inquiry.board,
        "board_inquiry_id": inquiry.board_inquiry_id,
        "profile": inquiry.profile,
        "message": inquiry.message,
        "inquired_at": inquiry.inquired_at,
        "arrival": list(inquiry.arrival),
        "published": False,
    }


def _from_document(doc: dict[str, Any]) -> Inquiry:
    return Inquiry(
        event_id=doc["_id"],
        prospect_id=doc["prospect_id"],
        person_id=doc["person_id"],
        job_id=doc["job_id"],
        board=doc["board"],
        board_inquiry_id=doc.get("board_inquiry_id"),
        profile=doc["profile"],
        message=doc.get("message"),
        inquired_at=doc["inquired_at"].astimezone(timezone.utc),
        arrival=tuple(doc.get("arrival") or (0, 0, 0)),  # type: ignore[arg-type]
    )


class IntakeStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.inquiries = db["inquiries"]
        self.prospects = db["prospects"]

    async def ensure_indexes(self) -> None:
        await self.inquiries.create_index([("board_key", ASCENDING)], unique=True, name="board_key_unique")
        await self.inquiries.create_index([("prospect_id", ASCENDING)], name="by_prospect")
        await self.prospects.create_index([("person_id", ASCENDING)], name="by_person")
        await self.prospects.create_index([("job_id", ASCENDING)], name="by_job")

    async def claim(self, inquiries: Sequence[Inquiry]) -> list[Inquiry]:
        """Record new inquiries; return those whose event still has to be published: the new
        ones and redelivered ones whose publish was not confirmed (a crash in between). A
        redelivery already published, or the same board inquiry under another event id, is
        left out: it emits nothing."""
        if not inquiries:
            return []
        failed: set[int] = set()
        try:
            await self.inquiries.insert_many([_to_document(i) for i in inquiries], ordered=False)
        except BulkWriteError as exc:
            if not only_duplicate_keys(exc):
                raise
            failed = {e["index"] for e in exc.details["writeErrors"]}
        if not failed:
            return list(inquiries)
        clashing = [inquiries[i] for i in sorted(failed)]
        stored = {
            doc["_id"]: doc
            async for doc in self.inquiries.find(
                {"_id": {"$in": [i.event_id for i in clashing]}}, {"published": 1}
            )
        }
        unpublished = {i.event_id for i in clashing if i.event_id in stored and not stored[i.event_id]["published"]}
        return [i for n, i in enumerate(inquiries) if n not in failed or i.event_id in unpublished]

    async def inquiries_of(self, prospect_ids: Iterable[str]) -> dict[str, list[Inquiry]]:
        """Every recorded inquiry of these prospects, oldest first."""
        found: dict[str, list[Inquiry]] = defaultdict(list)
        async for doc in self.inquiries.find({"prospect_id": {"$in": sorted(set(prospect_ids))}}):
            inquiry = _from_document(doc)
            found[inquiry.prospect_id].append(inquiry)
        for known in found.values():
            known.sort(key=lambda i: i.order)
        return found

    async def save_prospects(
        self, first_new: dict[str, Inquiry], known: dict[str, list[Inquiry]]
    ) -> dict[str, str]:
        """Create or refresh each prospect from its inquiries. `first_new` is, per prospect,
        the first inquiry of this batch: it registers the prospect if nobody did before.
        Returns, per prospect, the event id that registered it."""
        now = datetime.now(timezone.utc)
        order = list(first_new)
        operations = []
        for prospect_id in order:
            inquiry, history = first_new[prospect_id], known[prospect_id]
            operations.append(UpdateOne(
                {"_id": prospect_id},
                {
                    "$setOnInsert": {
                        "registered_by": inquiry.event_id,
                        "person_id": inquiry.person_id,
                        "job_id": inquiry.job_id,
                        "created_at": now,
                    },
                    "$set": {
                        "profile": merge_profiles(i.profile for i in history),
                        "first_inquired_at": history[0].inquired_at,
                        "last_inquired_at": history[-1].inquired_at,
                        "inquiry_count": len(history),
                        "updated_at": now,
                    },
                },
                upsert=True,
            ))
        for attempt in range(2):
            try:
                result = await self.prospects.bulk_write(operations, ordered=False)
                break
            except BulkWriteError as exc:
                # Two replicas upserting the same new prospect at once: one insert loses the
                # race; running the (idempotent) writes again turns it into an update.
                if attempt or not only_duplicate_keys(exc):
                    raise
        # By the upserted _id, not the op index: FerretDB 1.24 numbers `upserted` entries
        # among the upserts only, so its indexes do not point at our operations.
        registered_by = {pid: first_new[pid].event_id for pid in result.upserted_ids.values()}
        rest = [p for p in order if p not in registered_by]
        if rest:
            async for doc in self.prospects.find({"_id": {"$in": rest}}, {"registered_by": 1}):
                registered_by[doc["_id"]] = doc["registered_by"]
        return registered_by

    async def mark_published(self, event_ids: Iterable[str]) -> None:
        await self.inquiries.update_many({"_id": {"$in": list(event_ids)}}, {"$set": {"published": True}})
