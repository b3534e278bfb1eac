"""The sequences service's database: definitions and their versions, what it knows of jobs and
prospects, enrollments (the schedule: an index on the next due time), the one running
enrollment per prospect, and each step sent (by its command id: a step is recorded once)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from shared.db import bulk_write, find_by_ids, insert_new, set_by_id
from shared.privacy import Held, candidate_prospects
from shared.retention import Kept

ACTIVE = ("running", "paused", "awaiting")
STATES = (*ACTIVE, "stopped", "completed")


class SequencesStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.sequences = db["sequences"]
        self.versions = db["sequence_versions"]  # `<sequence_id>:<version>`: enrollments keep theirs
        self.jobs = db["jobs"]
        self.prospects = db["prospects"]
        self.enrollments = db["enrollments"]
        self.running = db["running"]  # one active enrollment per prospect: `_id` prospect_id
        self.steps = db["steps"]  # `_id` the step's command id

    def kept(self) -> list[Kept]:
        return []  # definitions, enrollments and steps are the recruiter's record (a person's go on erasure)

    async def held(self, person_id: str, email: str,
                   only: frozenset[str] | None = None) -> tuple[dict[str, Held], set[str]]:
        """Where a person is: what it knows of them, their enrollments and the steps sent them."""
        pids = await candidate_prospects(self.jobs, email)
        pids |= {d["_id"] async for d in self.prospects.find({"email": email}, {"_id": 1})}
        if only is not None:
            pids &= only
        wanted = sorted(pids)
        enrollments = [d["_id"] async for d in self.enrollments.find({"prospect_id": {"$in": wanted}}, {"_id": 1})]
        return {"prospects": Held(self.prospects, {"_id": {"$in": wanted}}),
                "enrollments": Held(self.enrollments, {"_id": {"$in": enrollments}}),
                "running": Held(self.running, {"_id": {"$in": wanted}}),
                "steps": Held(self.steps, {"enrollment_id": {"$in": enrollments}})}, pids

    async def forget(self, person_id: str, email: str, prospect_ids: set[str], whole: bool) -> dict[str, int]:
        return {}

    async def ensure_indexes(self) -> None:
        await self.enrollments.create_index([("state", ASCENDING), ("next_at", ASCENDING)], name="due")
        await self.enrollments.create_index([("prospect_id", ASCENDING)], name="by_prospect")
        await self.enrollments.create_index([("job_id", ASCENDING)], name="by_job")
        await self.enrollments.create_index([("sequence_id", ASCENDING)], name="by_sequence")
        await self.prospects.create_index([("email", ASCENDING)], name="by_email")
        await self.steps.create_index([("recruiter_id", ASCENDING), ("day", ASCENDING)], name="per_day")
        await self.sequences.create_index([("recruiter_id", ASCENDING)], name="by_recruiter")

    # --- definitions ---------------------------------------------------------------------------

    async def add_version(self, definition: dict[str, Any]) -> None:
        """A definition's version, kept for the enrollments that started on it, and the current one."""
        key = f"{definition['sequence_id']}:{definition['version']}"
        await insert_new(self.versions, [{"_id": key, **definition}])
        await set_by_id(self.sequences, [(definition["sequence_id"], {k: v for k, v in definition.items()
                                                                     if k != "sequence_id"})])

    async def sequence(self, sequence_id: str) -> dict[str, Any] | None:
        return await self.sequences.find_one({"_id": sequence_id})

    async def version(self, sequence_id: str, version: int) -> dict[str, Any] | None:
        return await self.versions.find_one({"_id": f"{sequence_id}:{version}"})

    async def sequences_of(self, recruiter_id: str) -> list[dict[str, Any]]:
        return await self.sequences.find({"recruiter_id": recruiter_id}).sort("created_at", 1).to_list()

    async def archive(self, sequence_id: str, at: datetime) -> None:
        await self.sequences.update_one({"_id": sequence_id}, {"$set": {"archived_at": at}})

    # --- what it knows --------------------------------------------------------------------------

    async def save_jobs(self, jobs: dict[str, dict[str, Any]]) -> None:
        await set_by_id(self.jobs, list(jobs.items()))

    async def save_prospects(self, prospects: dict[str, dict[str, Any]]) -> None:
        await set_by_id(self.prospects, list(prospects.items()))

    async def by_ids(self, collection: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {d["_id"]: d for d in await find_by_ids(getattr(self, collection), list(keys))}

    async def prospect_ids_of(self, emails: Iterable[str]) -> list[str]:
        return [d["_id"] async for d in self.prospects.find({"email": {"$in": list(emails)}}, {"_id": 1})]

    # --- enrollments ----------------------------------------------------------------------------

    async def claim(self, claims: list[tuple[str, str]]) -> dict[str, str]:
        """Claim each prospect's one active enrollment: {prospect_id: the enrollment that holds it}."""
        await insert_new(self.running, [{"_id": pid, "enrollment_id": eid} for pid, eid in claims])
        return {d["_id"]: d["enrollment_id"] for d in await find_by_ids(self.running, [p for p, _ in claims])}

    async def add_enrollments(self, docs: list[dict[str, Any]]) -> None:
        await insert_new(self.enrollments, docs)

    async def active_of(self, *, prospect_ids: Iterable[str] = (), job_ids: Iterable[str] = (),
                        enrollment_ids: Iterable[str] = ()) -> list[dict[str, Any]]:
        query: list[dict[str, Any]] = []
        for field, values in (("prospect_id", prospect_ids), ("job_id", job_ids), ("_id", enrollment_ids)):
            values = list(values)
            if values:
                query.append({field: {"$in": values}})
        if not query:
            return []
        return await self.enrollments.find({"state": {"$in": list(ACTIVE)}, "$or": query}).to_list()

    async def end(self, enrollment: dict[str, Any], fields: dict[str, Any], event: dict[str, Any]) -> bool:
        """Stop or complete an active enrollment, once, noting `event` on its timeline: True if this call did it."""
        done = await self.enrollments.find_one_and_update(
            {"_id": enrollment["_id"], "state": {"$in": list(ACTIVE)}}, _noted(fields, event),
            return_document=ReturnDocument.AFTER)
        await self.running.delete_one({"_id": enrollment["prospect_id"], "enrollment_id": enrollment["_id"]})
        return done is not None

    async def stopped_by(self, cause: str, prospect_ids: list[str]) -> list[dict[str, Any]]:
        """The enrollments of these prospects that `cause` (a command's id) stopped."""
        return await self.enrollments.find({"prospect_id": {"$in": prospect_ids}, "stopped_by": cause},
                                           {"prospect_id": 1}).to_list()

    async def update(self, enrollment_id: str, fields: dict[str, Any], *, only_if: dict[str, Any] | None = None,
                     event: dict[str, Any] | None = None) -> bool:
        result = await self.enrollments.update_one({"_id": enrollment_id, **(only_if or {})}, _noted(fields, event))
        return result.matched_count > 0

    async def update_each(self, writes: Sequence[tuple[dict[str, Any], Mapping[str, Any], dict[str, Any] | None]]) -> None:
        """Enrollments each picked by its own filter (its `_id` and what it must still be): `$set`
        its fields, and note its event (if any) on its timeline. One bulk write."""
        if writes:
            await bulk_write(self.enrollments, [UpdateOne(query, _noted(fields, event))
                                                for query, fields, event in writes], ordered=False)

    async def count_by_state(self) -> dict[str, int]:
        """How many enrollments are in each state (counted on the `due` index, whose first key is the state)."""
        return {state: await self.enrollments.count_documents({"state": state}) for state in STATES}

    async def due(self, as_of: datetime, recruiter_id: str | None, limit: int,
                  after: tuple[datetime, str] | None = None) -> list[dict[str, Any]]:
        """Up to `limit` enrollments due by `as_of`, oldest first, after the page that ended at `after`."""
        query: dict[str, Any] = {"state": {"$in": ["running", "paused"]}, "next_at": {"$lte": as_of}}
        if recruiter_id:
            query["recruiter_id"] = recruiter_id
        if after is not None:
            query["$or"] = [{"next_at": {"$gt": after[0]}}, {"next_at": after[0], "_id": {"$gt": after[1]}}]
        return await self.enrollments.find(query).sort([("next_at", 1), ("_id", 1)]).limit(limit).to_list()

    async def enrollments_of(self, prospect_ids: list[str], recruiter_id: str) -> list[dict[str, Any]]:
        return await self.enrollments.find({"prospect_id": {"$in": prospect_ids}, "recruiter_id": recruiter_id}).sort(
            "created_at", 1).to_list()

    async def enrollments_of_sequence(self, sequence_id: str) -> list[dict[str, Any]]:
        return await self.enrollments.find({"sequence_id": sequence_id},
                                           {"state": 1, "steps_sent": 1, "reason": 1}).to_list()

    # --- steps ----------------------------------------------------------------------------------

    async def record_steps(self, steps: list[dict[str, Any]]) -> set[str]:
        """Record steps about to be sent: the ids this call recorded first (the rest were already)."""
        clashed = await insert_new(self.steps, steps)
        return {s["_id"] for n, s in enumerate(steps) if n not in clashed}

    async def unpublished_steps(self, ids: Iterable[str], older_than: datetime) -> set[str]:
        return {d["_id"] async for d in self.steps.find({"_id": {"$in": list(ids)}, "published": False,
                                                          "at": {"$lt": older_than}}, {"_id": 1})}

    async def mark_steps_published(self, ids: Iterable[str]) -> None:
        await self.steps.update_many({"_id": {"$in": list(ids)}}, {"$set": {"published": True}})

    async def sent_today(self, recruiter_ids: Iterable[str], day_of: dict[str, str]) -> dict[str, int]:
        """Steps each recruiter has sent on their local day: one query, counted by the database."""
        wanted = list(recruiter_ids)
        counts = dict.fromkeys(wanted, 0)
        if not wanted:
            return counts
        cursor = await self.steps.aggregate([
            {"$match": {"recruiter_id": {"$in": wanted}, "day": {"$in": sorted({day_of[r] for r in wanted})}}},
            {"$group": {"_id": {"recruiter_id": "$recruiter_id", "day": "$day"}, "n": {"$sum": 1}}}])
        async for row in cursor:
            if day_of.get(row["_id"]["recruiter_id"]) == row["_id"]["day"]:
                counts[row["_id"]["recruiter_id"]] = row["n"]
        return counts

    async def steps_by_ids(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {d["_id"]: d for d in await find_by_ids(self.steps, list(ids))}


def _noted(fields: Mapping[str, Any], event: dict[str, Any] | None) -> dict[str, Any]:
    """The update that sets `fields` and appends `event` to the enrollment's `events` (what the
    prospect's timeline shows: enrolled, paused, resumed, stopped, completed)."""
    return {"$set": fields, **({"$push": {"events": event}} if event else {})}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
