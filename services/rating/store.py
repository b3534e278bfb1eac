"""Rating's MongoDB: the prospect board, the jobs it has seen, and its outbox.

Every input event is decided once: its outcome (the fields it sets and the events it emits) is
recorded in `outbox` under the input's id before anything else is written, then applied, then
published, then marked in `published`. A crash anywhere replays from the recorded outcome, so
the state and the events come out the same, with the same ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timezone
from typing import Any

from pymongo import ASCENDING, UpdateMany
from pymongo.asynchronous.database import AsyncDatabase

from services.rating.domain import Entry
from shared.contract import Rating
from shared.db import bulk_write, engine, find_by_ids, insert_new, set_by_id
from shared.outbox import Outbox
from shared.retention import Kept
from shared.views import NEEDS_FOLLOW_UP, VIEWS, view_query, views_holding


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

    async def ensure_indexes(self) -> None:
        # The views: a recruiter's prospects by flag and rating, oldest waiting first.
        await self.board.create_index(
            [("recruiter_id", ASCENDING), ("job_open", ASCENDING), ("flagged", ASCENDING),
             ("waiting_since", ASCENDING), ("_id", ASCENDING)], name="view_needs_follow_up")
        await self.board.create_index(
            [("recruiter_id", ASCENDING), ("rating", ASCENDING), ("waiting_since", ASCENDING), ("_id", ASCENDING)],
            name="view_by_rating")
        await self.board.create_index([("job_id", ASCENDING)], name="by_job")
        await self.history.create_index([("prospect_id", ASCENDING), ("at", ASCENDING)], name="timeline")
        await engine(self.board)  # which server, asked once: lookups by id take its form

    async def entries(self, prospect_ids: Iterable[str]) -> dict[str, Entry]:
        return {d["_id"]: entry_from_document(d) for d in await find_by_ids(self.board, list(prospect_ids))}

    async def job_docs(self, job_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {d["_id"]: d for d in await find_by_ids(self.jobs, list(job_ids))}

    async def insert_board(self, documents: list[dict[str, Any]]) -> set[int]:
        """New board documents by one insert; the positions of those already there."""
        return await insert_new(self.board, documents)

    async def insert_history(self, lines: list[dict[str, Any]]) -> None:
        """Timeline lines, each once: their ids are derived from their cause."""
        if lines:
            await insert_new(self.history, lines)

    async def registered_by(self, prospect_ids: list[str]) -> dict[str, str | None]:
        return {d["_id"]: d.get("registered_by") for d in await find_by_ids(self.board, prospect_ids, {"registered_by": 1})}

    async def apply(self, outcomes: list[dict[str, Any]], *, known_prospects: set[str], known_jobs: set[str]) -> None:
        """Write the recorded outcomes in order (field by field: `$set` of what each changed).
        Documents not known to exist are created by insert; the joins of job fields onto the
        job's prospects go last, so the final job fields are the last join's."""
        jobs = [(w["id"], w["set"]) for outcome in outcomes for w in outcome["jobs"]]
        board = [(w["id"], w["set"]) for outcome in outcomes for w in outcome["board"]]
        joins = [UpdateMany({"job_id": w["id"]}, {"$set": w["set"]}) for outcome in outcomes for w in outcome["joins"]]
        await self.insert_history([line for outcome in outcomes for line in outcome.get("history", [])])
        await set_by_id(self.jobs, jobs, known_jobs)
        await set_by_id(self.board, board, known_prospects)
        if joins:
            await bulk_write(self.board, joins)


class BoardViews:
    """The read side: pages of a view, oldest waiting first, and the counts."""

    def __init__(self, store: RatingStore) -> None:
        self.store = store

    async def job_owner(self, job_id: str) -> str | None:
        doc = await self.store.jobs.find_one({"_id": job_id}, {"recruiter_id": 1})
        return doc.get("recruiter_id") if doc else None

    async def one(self, recruiter_id: str, prospect_id: str) -> dict[str, Any] | None:
        """A prospect of the recruiter's, by id (an `_id` lookup: fast on any backend)."""
        doc = await self.store.board.find_one({"_id": prospect_id})
        return doc if doc is not None and doc.get("recruiter_id") == recruiter_id else None

    async def history(self, prospect_id: str) -> list[dict[str, Any]]:
        """The prospect's timeline, oldest first."""
        # `order`: lines of one cause at the same instant (a message sent, the flag it set) as decided.
        cursor = self.store.history.find({"prospect_id": prospect_id}).sort(
            [("at", ASCENDING), ("order", ASCENDING), ("_id", ASCENDING)])
        return [doc async for doc in cursor.limit(1_000)]

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
        totals = {view: 0 for view in VIEWS}
        jobs: dict[str, dict[str, Any]] = {}
        async for doc in self.store.board.find(
            {"recruiter_id": recruiter_id},
            {"job_id": 1, "job_title": 1, "job_open": 1, "flagged": 1, "rating": 1, "waiting_since": 1}
        ):
            counts = jobs.setdefault(doc["job_id"], {"job_id": doc["job_id"], "title": doc.get("job_title"),
                                                     "open": doc.get("job_open") is True, **{v: 0 for v in VIEWS},
                                                     "oldest_waiting_since": None})
            in_views = views_holding(flagged=doc.get("flagged"), job_open=doc.get("job_open"), rating=doc.get("rating"))
            if NEEDS_FOLLOW_UP in in_views:
                since = _utc(doc.get("waiting_since"))
                if since is not None and (counts["oldest_waiting_since"] is None or since < counts["oldest_waiting_since"]):
                    counts["oldest_waiting_since"] = since
            for view in in_views:
                totals[view] += 1
                counts[view] += 1
        return {"recruiter_id": recruiter_id, "views": totals, "jobs": sorted(jobs.values(), key=lambda j: j["job_id"])}
