"""Reminder's MongoDB: the follow-up state of every prospect, jobs and recruiters' schedules,
and the reminder log (`_id` = reminder id: one per recruiter and local date, whoever inserts
it first sends it)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo import ASCENDING, UpdateMany
from pymongo.asynchronous.database import AsyncDatabase

from shared.db import bulk_write, find_by_ids, insert_new, write_by_id
from services.reminder.domain import MOST_LISTED, Changes
from shared.outbox import Published
from shared.privacy import Held, candidate_prospects
from shared.retention import Kept
from shared.views import WAITING_QUERY

GROUP_SIZE = 200
"""How many recruiters' reminders are built at once: memory stays bounded at any size."""


class ReminderStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.prospects = db["prospects"]
        self.jobs = db["jobs"]
        self.recruiters = db["recruiters"]
        self.reminders = db["reminders"]
        self.published = Published(db["published"])

    async def held(self, person_id: str, email: str,
                   only: frozenset[str] | None = None) -> tuple[dict[str, Held], set[str]]:
        """Where a person is: their waiting records, and the reminders that listed them."""
        pids = await candidate_prospects(self.jobs, email)
        if only is not None:
            pids &= only
        wanted = sorted(pids)
        return {"prospects": Held(self.prospects, {"_id": {"$in": wanted}}),
                "reminders": Held(self.reminders, {"prospects.prospect_id": {"$in": wanted}}, delete=False)}, pids

    async def forget(self, person_id: str, email: str, prospect_ids: set[str], whole: bool) -> dict[str, int]:
        """Their line leaves the reminders kept."""
        wanted = sorted(prospect_ids)
        return {"reminders": (await self.reminders.update_many(
            {"prospects.prospect_id": {"$in": wanted}},
            {"$pull": {"prospects": {"prospect_id": {"$in": wanted}}}})).modified_count}

    async def ensure_indexes(self) -> None:
        # Who is waiting: flag off, job open, per recruiter, oldest first.
        await self.prospects.create_index(
            [("flagged", ASCENDING), ("job_open", ASCENDING), ("recruiter_id", ASCENDING), ("waiting_since", ASCENDING)],
            name="waiting")
        await self.prospects.create_index([("job_id", ASCENDING)], name="by_job")

    async def write(self, changes: Changes) -> None:
        """A batch's changes, in order: jobs (and their joins onto prospects), schedules, prospects
        (upserts: `$setOnInsert` for a registration, `$min` for the earliest wait)."""
        # First writes as insert-then-update (shared.db.write_by_id): replicas holding different
        # topics' partitions write the same prospect at once, and an upsert race loses a write.
        await write_by_id(self.jobs, [(k, {"$set": v}) for k, v in changes.jobs])
        await write_by_id(self.recruiters, [(k, {"$set": v}) for k, v in changes.recruiters])
        await bulk_write(self.prospects, [UpdateMany({"job_id": k}, {"$set": v}) for k, v in changes.joins if v])
        writes: list[tuple[str, dict[str, Any]]] = []
        for c in changes.prospects:
            update: dict[str, Any] = {"$set": c.set}
            if c.set_on_insert:
                update["$setOnInsert"] = c.set_on_insert
            if c.earliest:
                update["$min"] = c.earliest
            writes.append((c.prospect_id, update))
        await write_by_id(self.prospects, writes)

    async def job_docs(self, job_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {d["_id"]: d for d in await find_by_ids(self.jobs, list(job_ids))}

    async def schedules(self, recruiter_id: str | None) -> list[dict[str, Any]]:
        query = {"_id": recruiter_id} if recruiter_id else {}
        return [d async for d in self.recruiters.find(query)]

    async def waiting(self, recruiter_ids: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Who is waiting for these recruiters, as the reminder needs it, counted by the database
        on the `waiting` index (equalities and a `$in`): how many per recruiter, job and rating,
        and each recruiter's MOST_LISTED oldest (`$topN`). The two run at once."""
        match = {"$match": {**WAITING_QUERY, "recruiter_id": {"$in": sorted(set(recruiter_ids))}}}
        counts = [match, {"$group": {"_id": {"recruiter_id": "$recruiter_id", "job_id": "$job_id", "rating": "$rating"},
                                     "n": {"$sum": 1},
                                     "replied": {"$sum": {"$cond": [{"$eq": ["$replied", True]}, 1, 0]}}}}]
        oldest = [match, {"$group": {"_id": "$recruiter_id", "oldest": {"$topN": {
            "n": MOST_LISTED, "sortBy": {"waiting_since": 1, "_id": 1},
            "output": {"prospect_id": "$_id", "job_id": "$job_id", "name": "$name", "rating": "$rating",
                       "waiting_since": "$waiting_since"}}}}}]

        async def run(pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [d async for d in await self.prospects.aggregate(pipeline)]

        counted, listed = await asyncio.gather(run(counts), run(oldest))
        return counted, listed

    async def reminders_by_id(self, reminder_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {d["_id"]: d for d in await find_by_ids(self.reminders, reminder_ids)}

    async def unpublished(self, reminder_ids: list[str], older_than_s: float) -> list[dict[str, Any]]:
        """Reminders recorded but not confirmed published a while ago: a sender died between."""
        found = await self.reminders_by_id(reminder_ids)
        if not found:
            return []
        done = await self.published.which(list(found))
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=older_than_s)
        return [d for k, d in found.items() if k not in done and d["created_at"].astimezone(timezone.utc) < cutoff]

    async def claim(self, reminders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Record reminders; return those this process recorded first (and so must send)."""
        clashed = await insert_new(self.reminders, reminders)
        return [r for n, r in enumerate(reminders) if n not in clashed]

    async def mark_published(self, reminder_ids: Iterable[str]) -> None:
        await self.published.mark(reminder_ids)

    def kept(self) -> list[Kept]:
        """What retention prunes: the reminder log and its published markers (a reminder is
        per local date, so one older than the period can never be due again)."""
        return [Kept(self.reminders, "created_at"), self.published.kept()]
