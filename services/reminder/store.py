"""Reminder's MongoDB: the follow-up state of every prospect, jobs and recruiters' schedules,
and the reminder log (`_id` = reminder id: one per recruiter and local date, whoever inserts
it first sends it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo import ASCENDING, UpdateMany, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from shared.db import bulk_write, find_by_ids, insert_new


class ReminderStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.prospects = db["prospects"]
        self.jobs = db["jobs"]
        self.recruiters = db["recruiters"]
        self.reminders = db["reminders"]
        self.published = db["published"]

    async def ensure_indexes(self) -> None:
        # Who is waiting: flag off, job open, per recruiter, oldest first.
        await self.prospects.create_index(
            [("flagged", ASCENDING), ("job_open", ASCENDING), ("recruiter_id", ASCENDING), ("waiting_since", ASCENDING)],
            name="waiting")
        await self.prospects.create_index([("job_id", ASCENDING)], name="by_job")

    async def write(self, jobs: list[Any], recruiters: list[Any], prospects: list[Any]) -> None:
        await bulk_write(self.jobs, jobs)
        await bulk_write(self.recruiters, recruiters)
        await bulk_write(self.prospects, prospects)

    async def job_docs(self, job_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {d["_id"]: d for d in await find_by_ids(self.jobs, list(job_ids))}

    async def schedules(self, recruiter_id: str | None) -> list[dict[str, Any]]:
        query = {"_id": recruiter_id} if recruiter_id else {}
        return [d async for d in self.recruiters.find(query)]

    async def waiting(self, recruiter_ids: list[str]) -> AsyncIterator[dict[str, Any]]:
        """Everyone waiting for these recruiters, streamed (100,000 documents held at once
        took 185 MB): one query for all of them (indexed on MongoDB). For many recruiters the
        `$in` is left to us: FerretDB tests it per document, which costs more than the
        filtering it saves."""
        # `$ne: True`: a rating or flag event may have created the record before its registration
        query: dict[str, Any] = {"flagged": {"$ne": True}, "job_open": True}
        if len(recruiter_ids) <= 50:
            query["recruiter_id"] = {"$in": recruiter_ids}
        wanted = set(recruiter_ids)
        cursor = self.prospects.find(query, {"job_id": 1, "recruiter_id": 1, "name": 1, "rating": 1, "waiting_since": 1})
        async for d in cursor.batch_size(5_000):
            if d.get("recruiter_id") in wanted:
                yield d

    async def reminders_by_id(self, reminder_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {d["_id"]: d for d in await find_by_ids(self.reminders, reminder_ids)}

    async def unpublished(self, reminder_ids: list[str], older_than_s: float) -> list[dict[str, Any]]:
        """Reminders recorded but not confirmed published a while ago: a sender died between."""
        found = await self.reminders_by_id(reminder_ids)
        if not found:
            return []
        done = {d["_id"] for d in await find_by_ids(self.published, list(found))}
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=older_than_s)
        return [d for k, d in found.items() if k not in done and d["created_at"].astimezone(timezone.utc) < cutoff]

    async def claim(self, reminders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Record reminders; return those this process recorded first (and so must send)."""
        clashed = await insert_new(self.reminders, reminders)
        return [r for n, r in enumerate(reminders) if n not in clashed]

    async def mark_published(self, reminder_ids: Iterable[str]) -> None:
        await insert_new(self.published, [{"_id": i} for i in reminder_ids])


def job_writes(job_id: str, fields: dict[str, Any]) -> tuple[UpdateOne, UpdateMany]:
    join = {k: fields[k] for k in ("recruiter_id", "open") if k in fields}
    return (UpdateOne({"_id": job_id}, {"$set": fields}, upsert=True),
            UpdateMany({"job_id": job_id}, {"$set": {("job_open" if k == "open" else k): v for k, v in join.items()}}))
