"""Rating's MongoDB: the prospect board, the jobs it has seen, and its outbox.

Every input event is decided once: its outcome (the fields it sets and the events it emits) is
recorded in `outbox` under the input's id before anything else is written, then applied, then
published, then marked in `published`. A crash anywhere replays from the recorded outcome, so
the state and the events come out the same, with the same ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from pymongo import ASCENDING, UpdateMany
from pymongo.asynchronous.database import AsyncDatabase

from services.rating.domain import Entry
from shared.contract import Rating
from shared.db import bulk_write, find_by_ids, insert_new, set_by_id
from shared.outbox import Outbox
from shared.privacy import Held, candidate_prospects
from shared.retention import Kept
from shared.views import NEEDS_FOLLOW_UP, VIEWS, view_counters, view_query


NEVER = datetime(9999, 1, 1, tzinfo=timezone.utc)


def _utc(value: Any) -> Any:
    return value.astimezone(timezone.utc) if value is not None else None


def entry_from_document(doc: dict[str, Any]) -> Entry:
    return Entry(
        prospect_id=doc["_id"], job_id=doc["job_id"], rating=Rating(doc.get("rating", "unrated")),
        flagged=doc.get("flagged", False), waiting_since=_utc(doc.get("waiting_since")),
        recruiter_id=doc.get("recruiter_id"), job_open=doc.get("job_open"), profile=doc.get("profile") or {},
    )


class RatingStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.board = db["board"]
        self.jobs = db["jobs"]
        self.history = db["history"]
        self.outbox = Outbox(db)

    def kept(self) -> list[Kept]:
        """What retention prunes: the outbox's records and markers."""
        return self.outbox.kept()

    async def expired(self, cutoff: datetime, most: int) -> dict[str, dict[str, Any]]:
        """People with a prospect on a job closed before `cutoff`: by address, their prospects
        `expired` (on such jobs) and `kept` (on others), for at most `most` people."""
        old_jobs = [d["_id"] async for d in self.jobs.find({"open": False, "closed_at": {"$lte": cutoff}}, {"_id": 1})]
        if not old_jobs:
            return {}
        people: dict[str, dict[str, Any]] = {}
        async for d in self.board.find({"job_id": {"$in": old_jobs}}, {"profile.email": 1}).limit(most * 10):
            email = (d.get("profile") or {}).get("email")
            if email and (email in people or len(people) < most):
                people.setdefault(email, {"expired": set(), "kept": set()})
        expired_jobs = set(old_jobs)
        async for d in self.board.find({"profile.email": {"$in": sorted(people)}}, {"job_id": 1, "profile.email": 1}):
            person = people[d["profile"]["email"]]
            person["expired" if d["job_id"] in expired_jobs else "kept"].add(d["_id"])
        return people

    async def prepare(self, people: list[tuple[str, str]]) -> None:
        """A batch of erasures: their board entries by address, found in one read."""
        found: dict[str, set[str]] = {e: set() for _, e in people}
        async for d in self.board.find({"profile.email": {"$in": sorted(found)}}, {"profile.email": 1}):
            found[d["profile"]["email"]].add(d["_id"])
        self._prepared = found

    _prepared: dict[str, set[str]] = {}

    async def held(self, person_id: str, email: str,
                   only: frozenset[str] | None = None) -> tuple[dict[str, Held], set[str]]:
        """Where a person is: their board entries, history, and the outbox records that carry them."""
        pids = await candidate_prospects(self.jobs, email)
        ready = self._prepared.pop(email, None)
        pids |= ready if ready is not None else {d["_id"] async for d in self.board.find({"profile.email": email},
                                                                                          {"_id": 1})}
        if only is not None:
            pids &= only
        wanted = sorted(pids)
        return {"board": Held(self.board, {"_id": {"$in": wanted}}),
                "history": Held(self.history, {"prospect_id": {"$in": wanted}}),
                "outbox": Held(self.outbox.records, {"$or": [{"board.id": {"$in": wanted}},
                                                             {"history.prospect_id": {"$in": wanted}}]}, export=False)}, pids

    async def forget(self, person_id: str, email: str, prospect_ids: set[str], whole: bool) -> dict[str, int]:
        """A referrer's name leaves the records of those they referred."""
        if not whole:
            return {}
        return {
            "board (referrer's name)": (await self.board.update_many(
                {"referred_by.person_id": person_id}, {"$unset": {"referred_by.name": ""}})).modified_count,
            "history (referrer's name)": (await self.history.update_many(
                {"referred_by.person_id": person_id}, {"$unset": {"referred_by.name": ""}})).modified_count,
        }

    async def ensure_indexes(self) -> None:
        # One index per page query (shared.views.view_query), each ending in the page's order,
        # waiting time then `_id`: a page and the next (by keyset) read 50 index entries.
        await self.board.create_index(
            [("recruiter_id", ASCENDING), ("job_open", ASCENDING), ("flagged", ASCENDING),
             ("waiting_since", ASCENDING), ("_id", ASCENDING)], name="view_needs_follow_up")
        await self.board.create_index(
            [("recruiter_id", ASCENDING), ("job_open", ASCENDING), ("rating", ASCENDING),
             ("waiting_since", ASCENDING), ("_id", ASCENDING)], name="view_rating")
        await self.board.create_index(
            # partial: only who replied, so the needs follow-up query (which does not say `replied`)
            # cannot take it, and it costs a write only for those
            [("recruiter_id", ASCENDING), ("job_open", ASCENDING), ("flagged", ASCENDING),
             ("waiting_since", ASCENDING), ("_id", ASCENDING)], name="view_replied",
            partialFilterExpression={"replied": True})
        await self.board.create_index([("recruiter_id", ASCENDING), ("waiting_since", ASCENDING), ("_id", ASCENDING)],
                                      name="view_all")
        # A view of one job (a job has one recruiter), and the joins of job fields onto its prospects.
        await self.board.create_index([("job_id", ASCENDING), ("waiting_since", ASCENDING), ("_id", ASCENDING)],
                                      name="view_job")
        await self.history.create_index([("prospect_id", ASCENDING), ("at", ASCENDING)], name="timeline")
        await self.jobs.create_index([("recruiter_id", ASCENDING)], name="by_recruiter")  # GET /jobs

    async def entries(self, prospect_ids: Iterable[str]) -> dict[str, Entry]:
        return {d["_id"]: entry_from_document(d) for d in await find_by_ids(self.board, list(prospect_ids))}

    async def job_docs(self, job_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {d["_id"]: d for d in await find_by_ids(self.jobs, list(job_ids))}

    async def insert_history(self, lines: list[dict[str, Any]]) -> None:
        """Timeline lines, each once: their ids are derived from their cause."""
        if lines:
            await insert_new(self.history, lines)

    async def apply(self, outcomes: list[dict[str, Any]]) -> None:
        """Write the recorded outcomes in order (field by field: `$set` of what each changed,
        upserted); the joins of job fields onto the job's prospects go last, so the final job
        fields are the last join's."""
        jobs = [(w["id"], w["set"]) for outcome in outcomes for w in outcome["jobs"]]
        board = [(w["id"], w["set"]) for outcome in outcomes for w in outcome["board"]]
        joins = [UpdateMany({"job_id": w["id"]}, {"$set": w["set"]}) for outcome in outcomes for w in outcome["joins"]]
        # Different collections and documents: at once (a crash before all are done replays them all).
        await asyncio.gather(self.insert_history([line for outcome in outcomes for line in outcome.get("history", [])]),
                             set_by_id(self.jobs, jobs), set_by_id(self.board, board))
        if joins:
            await bulk_write(self.board, joins)


class BoardViews:
    """The read side: pages of a view, oldest waiting first, and the counts."""

    def __init__(self, store: RatingStore) -> None:
        self.store = store

    async def jobs_of(self, recruiter_id: str) -> list[dict[str, Any]]:
        """The recruiter's jobs, open or closed, by title."""
        return await self.store.jobs.find({"recruiter_id": recruiter_id}, {"title": 1, "company": 1, "open": 1, "timezone": 1}).sort(
            "title", 1).limit(1_000).to_list()

    async def job_owner(self, job_id: str) -> str | None:
        doc = await self.store.jobs.find_one({"_id": job_id}, {"recruiter_id": 1})
        return doc.get("recruiter_id") if doc else None

    async def one(self, recruiter_id: str, prospect_id: str) -> dict[str, Any] | None:
        """A prospect of the recruiter's, by id."""
        doc = await self.store.board.find_one({"_id": prospect_id})
        return doc if doc is not None and doc.get("recruiter_id") == recruiter_id else None

    async def history(self, prospect_id: str, limit: int = 1_000,
                      after: tuple[datetime, int, str] | None = None) -> list[dict[str, Any]]:
        """The prospect's timeline, oldest first, `limit` lines after the line `after` (at, order, _id)."""
        # `order`: lines of one cause at the same instant (a message sent, the flag it set) as decided.
        query: dict[str, Any] = {"prospect_id": prospect_id}
        if after is not None:
            at, order, last = after
            query["$or"] = [{"at": {"$gt": at}}, {"at": at, "order": {"$gt": order}},
                            {"at": at, "order": order, "_id": {"$gt": last}}]
        cursor = self.store.history.find(query).sort([("at", ASCENDING), ("order", ASCENDING), ("_id", ASCENDING)])
        return [doc async for doc in cursor.limit(limit)]

    async def page(self, recruiter_id: str, view: str, job_id: str | None, limit: int,
                   after: tuple[Any, str] | None) -> list[dict[str, Any]]:
        query = view_query(recruiter_id, view, job_id)
        if after is not None:
            waiting_since, last_id = after
            query = {"$and": [query, {"$or": [{"waiting_since": {"$gt": waiting_since}},
                                              {"waiting_since": waiting_since, "_id": {"$gt": last_id}}]}]}
        cursor = self.store.board.find(query).sort([("waiting_since", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [doc async for doc in cursor]

    async def ids(self, recruiter_id: str, view: str, job_id: str | None) -> list[str]:
        cursor = self.store.board.find(view_query(recruiter_id, view, job_id), {"_id": 1})
        return [doc["_id"] async for doc in cursor.sort([("waiting_since", ASCENDING), ("_id", ASCENDING)])]

    async def summary(self, recruiter_id: str) -> dict[str, Any]:
        """Per job and in all, how many prospects each view holds, and per job the oldest
        waiting for follow-up: one `$group` over the recruiter's board."""
        counters = view_counters()
        needs = counters[NEEDS_FOLLOW_UP]
        pipeline: list[dict[str, Any]] = [
            {"$match": {"recruiter_id": recruiter_id}},
            {"$group": {"_id": "$job_id", "title": {"$max": "$job_title"},
                        "open": {"$max": {"$eq": ["$job_open", True]}},
                        # a far date for those not waiting: DocumentDB's `$min` counts null as least
                        "oldest_waiting_since": {"$min": {"$cond": [{"$eq": [needs, 1]}, "$waiting_since", NEVER]}},
                        **{view: {"$sum": counter} for view, counter in counters.items()}}},
        ]
        totals = {view: 0 for view in VIEWS}
        jobs = []
        async for group in await self.store.board.aggregate(pipeline):
            for view in VIEWS:
                totals[view] += group[view]
            jobs.append({"job_id": group["_id"], "title": group.get("title"), "open": group["open"] is True,
                         **{view: group[view] for view in VIEWS},
                         "oldest_waiting_since": _utc(oldest if (oldest := group["oldest_waiting_since"]) != NEVER
                                                      else None)})
        return {"recruiter_id": recruiter_id, "views": totals, "jobs": sorted(jobs, key=lambda j: j["job_id"])}
