"""The insights service's database: the jobs (recruiter and time zone), the facts kept of each
prospect and what it last added to the counters, people's opt-outs, and the day buckets.

A bucket is one (reading, local day, recruiter) document of counters (`f.*`, and per job
`j.<job>.*`; the recruiter `*` adds up everyone). Counters change only by `$inc` under a batch
token: a bucket takes a token once (`a.<token>`), so a batch applied again after a crash adds
nothing twice. Once the buckets have it, the batch is noted done (`batches`); the marks and the
prospects' pending differences of done batches are cleared later (lazily by the next batches,
and by the sweep), which costs no write per prospect or bucket per batch."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from shared.db import bulk_write, find_by_ids, insert_new, write_by_id
from shared.privacy import Held, candidate_prospects
from shared.retention import Kept

from services.insights.domain import Paths


class InsightsStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.jobs = db["jobs"]
        self.prospects = db["prospects"]  # `_id` prospect_id: facts by event id, contribution, pending batch
        self.people = db["people"]  # `_id` person_id: opt-outs by event id
        self.buckets = db["buckets"]
        self.batches = db["batches"]  # `_id` batch token: the batches whose difference is in the buckets

    def kept(self) -> list[Kept]:
        return []  # counters are the recruiter's record; a person's facts go on erasure

    async def ensure_indexes(self) -> None:
        await self.prospects.create_index([("job_id", ASCENDING)], name="by_job")
        await self.prospects.create_index([("person_id", ASCENDING)], name="by_person")
        await self.prospects.create_index([("pending.t", ASCENDING)], name="by_pending_batch", sparse=True)
        await self.buckets.create_index([("recruiter_id", ASCENDING), ("reading", ASCENDING), ("day", ASCENDING)],
                                        name="by_recruiter_day")

    # --- what it keeps of jobs and people ------------------------------------------------------

    async def save_jobs(self, jobs: Mapping[str, dict[str, Any]]) -> set[str]:
        """Keep each job's recruiter and time zone; the jobs whose were new or changed (their
        prospects' days move)."""
        known = {d["_id"]: d for d in await find_by_ids(self.jobs, jobs)}
        changed = {job_id for job_id, job in jobs.items()
                   if {k: known.get(job_id, {}).get(k) for k in job} != job}
        await write_by_id(self.jobs, [(job_id, {"$set": jobs[job_id]}) for job_id in sorted(changed)])
        return changed

    async def job_docs(self, job_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {d["_id"]: d for d in await find_by_ids(self.jobs, job_ids)}

    async def add_opt_outs(self, people: Mapping[str, dict[str, str]]) -> set[str]:
        """Keep each person's opt-outs (by event key); the people with one not seen before."""
        known = {d["_id"]: d.get("opt_outs", {}) for d in await find_by_ids(self.people, people)}
        new = {pid: {k: at for k, at in outs.items() if k not in known.get(pid, {})} for pid, outs in people.items()}
        new = {pid: outs for pid, outs in new.items() if outs}
        await write_by_id(self.people, [(pid, {"$set": {f"opt_outs.{k}": at for k, at in outs.items()}})
                                        for pid, outs in sorted(new.items())])
        return set(new)

    async def opt_outs(self, person_ids: Iterable[str]) -> dict[str, list[str]]:
        return {d["_id"]: list((d.get("opt_outs") or {}).values()) for d in await find_by_ids(self.people, person_ids)}

    # --- prospects ---------------------------------------------------------------------------------

    async def prospect_docs(self, prospect_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {d["_id"]: d for d in await find_by_ids(self.prospects, prospect_ids)}

    async def prospects_of(self, *, job_ids: Iterable[str] = (), person_ids: Iterable[str] = ()) -> set[str]:
        jobs, people = sorted(set(job_ids)), sorted(set(person_ids))
        found: set[str] = set()
        if jobs:
            found |= {d["_id"] async for d in self.prospects.find({"job_id": {"$in": jobs}}, {"_id": 1})}
        if people:
            found |= {d["_id"] async for d in self.prospects.find({"person_id": {"$in": people}}, {"_id": 1})}
        return found

    async def write_prospects(self, token: str, new: Sequence[dict[str, Any]],
                              updates: Sequence[tuple[str, str | None, dict[str, Any]]]) -> set[str]:
        """Insert the new prospects and update the others where no one wrote them since they were
        read (`(id, the write token read, update)`; each write sets `w` to `token`); the ids that
        another writer got to first (to read again)."""
        clashed = await insert_new(self.prospects, list(new))
        lost = {new[i]["_id"] for i in clashed}
        if updates:
            result = await self.prospects.bulk_write(
                [UpdateOne({"_id": pid, "w": seen}, update) for pid, seen, update in updates], ordered=False)
            if result.matched_count != len(updates):
                ours = {d["_id"] for d in await find_by_ids(self.prospects, [u[0] for u in updates], {"w": 1})
                        if d.get("w") == token}
                lost |= {pid for pid, _, _ in updates} - ours
        return lost

    async def pending_of(self, token: str) -> list[dict[str, Any]]:
        """Every prospect whose difference under batch `token` is not settled yet."""
        return [d async for d in self.prospects.find({"pending.t": token})]

    async def pending_tokens(self) -> list[str]:
        """The batches some prospect still has a difference pending under."""
        return sorted(t for t in await self.prospects.distinct("pending.t") if isinstance(t, str))

    async def clear_pending(self, tokens: Iterable[str]) -> None:
        wanted = sorted(set(tokens))
        if wanted:
            await self.prospects.update_many({"pending.t": {"$in": wanted}}, {"$unset": {"pending": ""}})

    # --- batches -------------------------------------------------------------------------------------

    async def mark_done(self, token: str) -> None:
        await insert_new(self.batches, [{"_id": token, "at": datetime.now(timezone.utc)}])

    async def done(self, tokens: Iterable[str]) -> set[str]:
        return {d["_id"] for d in await find_by_ids(self.batches, tokens, {"_id": 1})}

    async def forget_batches(self, tokens: Iterable[str]) -> None:
        wanted = sorted(set(tokens))
        if wanted:
            await self.batches.delete_many({"_id": {"$in": wanted}})

    # --- buckets -------------------------------------------------------------------------------------

    async def add(self, token: str, increments: Mapping[str, Paths], clear: Iterable[str] = ()) -> None:
        """Add `increments` (bucket id → counter path → amount) under `token`: a bucket that has
        the token already (the batch was applied before a crash) is left as it is. The marks of
        the `clear` batches (done ones) go in the same writes."""
        if not increments:
            return
        docs = []
        for bucket in sorted(increments):
            reading, day, recruiter_id = bucket.split("|", 2)
            docs.append({"_id": bucket, "reading": reading, "day": day, "recruiter_id": recruiter_id, "a": {}})
        await insert_new(self.buckets, docs)  # never an upsert: concurrent upserts of one new _id lose one
        unset = {f"a.{t}": "" for t in clear if t != token}
        await bulk_write(self.buckets, [
            UpdateOne({"_id": bucket, f"a.{token}": {"$exists": False}},
                      {"$inc": {p: n for p, n in paths.items() if n}, "$set": {f"a.{token}": 1},
                       **({"$unset": unset} if unset else {})})
            for bucket, paths in sorted(increments.items())], ordered=False)

    async def marked_buckets(self) -> list[tuple[str, list[str]]]:
        """(bucket id, the batches marked in it) of every bucket with a mark."""
        return [(d["_id"], list(d.get("a") or {})) async for d in self.buckets.find({"a": {"$ne": {}}}, {"a": 1})]

    async def clear_marks(self, marks: Mapping[str, Iterable[str]]) -> None:
        await bulk_write(self.buckets, [UpdateOne({"_id": b}, {"$unset": {f"a.{t}": "" for t in tokens}})
                                        for b, tokens in sorted(marks.items()) if tokens], ordered=False)

    async def days(self, recruiter_id: str, reading: str, start: str, end: str,
                   projection: dict[str, Any]) -> list[dict[str, Any]]:
        return [d async for d in self.buckets.find(
            {"recruiter_id": recruiter_id, "reading": reading, "day": {"$gte": start, "$lte": end}},
            projection).sort("day", ASCENDING)]

    # --- privacy ----------------------------------------------------------------------------------------

    async def held(self, person_id: str, email: str,
                   only: frozenset[str] | None = None) -> tuple[dict[str, Held], set[str]]:
        """Where a person is: the facts and times kept of their prospects, and their opt-outs
        (the counters they went into stay: they name no one)."""
        pids = await candidate_prospects(self.jobs, email)
        pids |= {d["_id"] async for d in self.prospects.find({"person_id": person_id}, {"_id": 1})}
        if only is not None:
            pids &= only
        places = {"prospects": Held(self.prospects, {"_id": {"$in": sorted(pids)}})}
        if only is None:
            places["people"] = Held(self.people, {"_id": person_id})
        return places, pids

    async def forget(self, person_id: str, email: str, prospect_ids: set[str], whole: bool) -> dict[str, int]:
        return {}
