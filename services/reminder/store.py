"""Reminder's MongoDB: the follow-up state of every prospect, jobs and recruiters' schedules,
and the reminder log (`_id` = reminder id: one per recruiter and local date, whoever inserts
it first sends it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo import ASCENDING, UpdateMany, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

import asyncio

from shared.db import FERRETDB_POSTGRESQL, FERRETDB_SQLITE, MONGODB, bulk_write, engine, find_by_ids, insert_new
from services.reminder.domain import Changes, ProspectChange
from shared.retention import Kept
from shared.views import WAITING_QUERY


class ReminderStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.prospects = db["prospects"]
        self.jobs = db["jobs"]
        self.recruiters = db["recruiters"]
        self.reminders = db["reminders"]
        self.published = db["published"]
        self.engine = MONGODB

    @property
    def group_size(self) -> int | None:
        """How many recruiters' reminders are built at once (memory stays bounded at any size);
        None: all at once (SQLite, where each group would cost a whole scan)."""
        return None if self.engine == FERRETDB_SQLITE else 200

    async def ensure_indexes(self) -> None:
        # Who is waiting: flag off, job open, per recruiter, oldest first.
        await self.prospects.create_index(
            [("flagged", ASCENDING), ("job_open", ASCENDING), ("recruiter_id", ASCENDING), ("waiting_since", ASCENDING)],
            name="waiting")
        await self.prospects.create_index([("job_id", ASCENDING)], name="by_job")
        self.engine = await engine(self.prospects)  # the form of `waiting`, chosen once

    async def write(self, changes: Changes) -> None:
        """A batch's changes, in order: jobs (and their joins onto prospects), schedules, prospects.
        A prospect's first registration is inserted whole (one insert for the batch, flat on any
        engine); one that is there already (an inquiry again, or a rating that came first) is
        upserted like every other change."""
        await bulk_write(self.jobs, [UpdateOne({"_id": k}, {"$set": v}, upsert=True) for k, v in changes.jobs])
        await bulk_write(self.recruiters, [UpdateOne({"_id": k}, {"$set": v}, upsert=True) for k, v in changes.recruiters])
        await bulk_write(self.prospects, [UpdateMany({"job_id": k}, {"$set": v}) for k, v in changes.joins if v])
        inserted = await self._insert_registrations(changes.prospects)
        operations: list[Any] = []
        for n, c in enumerate(changes.prospects):
            if n in inserted:
                continue
            update: dict[str, Any] = {"$set": c.set}
            if c.set_on_insert:
                update["$setOnInsert"] = c.set_on_insert
            if c.earliest:
                update["$min"] = c.earliest
            operations.append(UpdateOne({"_id": c.prospect_id}, update, upsert=True))
        await bulk_write(self.prospects, operations)

    async def _insert_registrations(self, prospects: list[ProspectChange]) -> set[int]:
        """Insert each prospect whose batch starts with its registration, merged with what
        follows it in the batch that only sets fields (its join with the job); the positions
        of the changes that insert took care of."""
        firsts: dict[str, list[int]] = {}
        for n, c in enumerate(prospects):
            firsts.setdefault(c.prospect_id, []).append(n)
        documents, covered = [], []
        for pid, positions in firsts.items():
            first = prospects[positions[0]]
            if not first.set_on_insert:
                continue  # not a registration: the record may exist
            doc: dict[str, Any] = {"_id": pid, **first.set_on_insert, **first.earliest, **first.set}
            taken = [positions[0]]
            for n in positions[1:]:
                if prospects[n].set_on_insert or prospects[n].earliest:
                    break  # another registration: keep the order by upserting the rest
                doc.update(prospects[n].set)
                taken.append(n)
            documents.append(doc)
            covered.append(taken)
        clashed = await insert_new(self.prospects, documents)
        return {n for i, taken in enumerate(covered) if i not in clashed for n in taken}

    async def job_docs(self, job_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {d["_id"]: d for d in await find_by_ids(self.jobs, list(job_ids))}

    async def schedules(self, recruiter_id: str | None) -> list[dict[str, Any]]:
        query = {"_id": recruiter_id} if recruiter_id else {}
        return [d async for d in self.recruiters.find(query)]

    async def waiting(self, recruiter_ids: list[str]) -> AsyncIterator[dict[str, Any]]:
        """Everyone waiting for these recruiters, streamed. MongoDB: one `$in` on the `waiting`
        index. FerretDB over PostgreSQL pushes equality down but not `$in`: one query per
        recruiter, served by the `recruiter_id` index devstack makes. FerretDB over SQLite
        uses no index at all: one scan, filtered here."""
        query: dict[str, Any] = dict(WAITING_QUERY)
        projection = {"job_id": 1, "recruiter_id": 1, "name": 1, "rating": 1, "waiting_since": 1}
        if self.engine == MONGODB:
            async for d in self.prospects.find({**query, "recruiter_id": {"$in": recruiter_ids}}, projection):
                yield d
        elif self.engine == FERRETDB_POSTGRESQL:
            gate = asyncio.Semaphore(16)

            async def of(recruiter_id: str) -> list[dict[str, Any]]:
                async with gate:
                    return await self.prospects.find({**query, "recruiter_id": recruiter_id}, projection).to_list()

            for found in await asyncio.gather(*(of(r) for r in recruiter_ids)):
                for d in found:
                    yield d
        else:
            wanted = set(recruiter_ids)
            if len(wanted) == 1:
                query["recruiter_id"] = recruiter_ids[0]
            async for d in self.prospects.find(query, projection).batch_size(5_000):
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
        now = datetime.now(timezone.utc)
        await insert_new(self.published, [{"_id": i, "at": now} for i in reminder_ids])

    def kept(self) -> list[Kept]:
        """What retention prunes: the reminder log and its published markers (a reminder is
        per local date, so one older than the period can never be due again)."""
        return [Kept(self.reminders, "created_at"), Kept(self.published, "at")]
