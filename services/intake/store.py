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

import asyncio
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo import ASCENDING, UpdateOne
from pymongo.errors import DuplicateKeyError, OperationFailure
from pymongo.asynchronous.database import AsyncDatabase

from services.intake.domain import Inquiry, Known
from shared.db import bulk_write, find_by_ids, insert_new, write_by_id
from shared.outbox import Published
from shared.privacy import Held
from shared.retention import Kept

NOT_FOUND = (26, 27)  # NamespaceNotFound, IndexNotFound


UPLOAD_CLAIM_S = 30.0
"""The longest one résumé's upload may hold its claim: a claim older than this is a crashed one's."""


class IntakeStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.inquiries = db["inquiries"]
        self.prospects = db["prospects"]
        self.published = Published(db["published"])
        # The gateway's: the jobs seen on `jobs` (open or closed, and whose), each application it
        # published (for Indeed's duplicates), and résumés: the files in GridFS (`_id` derived from
        # their sha256, so each is stored once) and which jobs each was sent to (who may read it).
        self.jobs = db["jobs"]
        self.posted = db["posted"]
        self.resume_jobs = db["resume_jobs"]
        self.uploads = db["resume_uploads"]  # one claim per résumé being uploaded
        self._db = db
        self.resume_files = db["resumes.files"]
        self.resume_chunks = db["resumes.chunks"]

    async def prepare(self, people: list[tuple[str, str]]) -> None:
        """A batch of erasures: their prospects and inquiries found in one read each (without an
        index, as below), for `held` to take by `_id`."""
        wanted = sorted({p for p, _ in people})
        found: dict[str, dict[str, list[Any]]] = {p: {"prospects": [], "inquiries": []} for p in wanted}
        async for d in self.prospects.find({"person_id": {"$in": wanted}}, {"person_id": 1}):
            found[d["person_id"]]["prospects"].append(d["_id"])
        async for d in self.inquiries.find({"person_id": {"$in": wanted}}, {"person_id": 1, "prospect_id": 1, "resume": 1}):
            found[d["person_id"]]["inquiries"].append(d)
        self._prepared = found

    _prepared: dict[str, dict[str, list[Any]]] = {}

    async def held(self, person_id: str, email: str,
                   only: frozenset[str] | None = None) -> tuple[dict[str, Held], set[str]]:
        """Where a person is: their inquiries, prospects, posted applications and résumé files.
        (Rare: read without an index rather than slow down every inquiry with one.)"""
        ready = self._prepared.pop(person_id, None)
        if ready is not None and only is None:  # a batch's erasure: what `prepare` found, by `_id`
            pids = set(ready["prospects"])
            found = ready["inquiries"]
            resumes = sorted({d["resume"]["resume_id"] for d in found if d.get("resume")})
            return {"inquiries": Held(self.inquiries, {"_id": {"$in": [d["_id"] for d in found]}}),
                    "prospects": Held(self.prospects, {"_id": {"$in": sorted(pids)}}),
                    "posted": Held(self.posted, {"prospect_id": {"$in": sorted(pids)}}),
                    "resume_jobs": Held(self.resume_jobs, {"resume_id": {"$in": resumes}}),
                    "resumes.chunks": Held(self.resume_chunks, {"files_id": {"$in": resumes}}, export=False),
                    "resumes.files": Held(self.resume_files, {"_id": {"$in": resumes}})}, pids
        pids = {d["_id"] async for d in self.prospects.find({"person_id": person_id}, {"_id": 1})}
        if only is not None:
            pids &= only
        with_resume = {"person_id": person_id, "resume": {"$exists": True}}
        resumes = sorted({d["resume"]["resume_id"] async for d in self.inquiries.find(
            {**with_resume, **({"prospect_id": {"$in": sorted(pids)}} if only is not None else {})}, {"resume": 1})})
        if only is not None:  # a file still sent with another of their inquiries stays
            kept = {d["resume"]["resume_id"] async for d in self.inquiries.find(
                {**with_resume, "prospect_id": {"$nin": sorted(pids)}}, {"resume": 1})}
            resumes = [r for r in resumes if r not in kept]
        mine = {"person_id": person_id} if only is None else {"prospect_id": {"$in": sorted(pids)}}
        return {"inquiries": Held(self.inquiries, mine),
                "prospects": Held(self.prospects, {"person_id": person_id} if only is None else {"_id": {"$in": sorted(pids)}}),
                "posted": Held(self.posted, {"prospect_id": {"$in": sorted(pids)}}),
                "resume_jobs": Held(self.resume_jobs, {"resume_id": {"$in": resumes}}),
                "resumes.chunks": Held(self.resume_chunks, {"files_id": {"$in": resumes}}, export=False),
                "resumes.files": Held(self.resume_files, {"_id": {"$in": resumes}})}, pids

    async def forget(self, person_id: str, email: str, prospect_ids: set[str], whole: bool) -> dict[str, int]:
        return {}

    async def ensure_indexes(self) -> None:
        await self.inquiries.create_index([("board_key", ASCENDING)], unique=True, name="board_key_unique")
        await self.posted.create_index([("prospect_id", ASCENDING)], name="by_prospect")
        await self.resume_jobs.create_index([("resume_id", ASCENDING)], name="by_resume")
        await self.resume_chunks.create_index([("files_id", ASCENDING), ("n", ASCENDING)], unique=True,
                                              name="files_id_1_n_1")
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
             "message": i.message, "inquired_at": i.inquired_at, "received_at": now,
             **({"resume": i.resume} if i.resume else {}), **(i.origin or {})}
            for i in inquiries
        ])
        if not clashed:
            return list(inquiries)
        clashing = [inquiries[n].event_id for n in clashed]
        redelivered = {d["_id"] for d in await find_by_ids(self.inquiries, clashing, {"_id": 1})}
        done = await self.published.which(list(redelivered))
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
        await self.published.mark(event_ids)

    # --- the gateway's -----------------------------------------------------------------------

    async def save_jobs(self, jobs: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """What the gateway needs of each job, in the order the events came (an update replaces)."""
        if jobs:
            now = datetime.now(timezone.utc)
            await write_by_id(self.jobs, [
                (job_id, {"$set": {**fields, "updated_at": now},
                          **({} if "open" in fields else {"$setOnInsert": {"open": True}})})
                for job_id, fields in jobs])

    async def job(self, job_id: str) -> dict[str, Any] | None:
        return await self.jobs.find_one({"_id": job_id})

    async def posted_for(self, prospect_id: str) -> list[str]:
        """The applications published for this person and job (their event ids): the same
        application sent again is among them (an application names one job and one e-mail)."""
        return [d["_id"] async for d in self.posted.find({"prospect_id": prospect_id}, {"_id": 1})]

    async def registered_by_other(self, prospect_id: str, event_id: str) -> bool:
        """The prospect is registered, by an inquiry other than `event_id` (one not through the gateway)."""
        known = await self.prospects.find_one({"_id": prospect_id}, {"registered_by": 1})
        return known is not None and known.get("registered_by") != event_id

    async def mark_posted(self, event_id: str, board: str, job_id: str, prospect_id: str) -> None:
        await insert_new(self.posted, [{"_id": event_id, "board": board, "job_id": job_id, "prospect_id": prospect_id,
                                        "at": datetime.now(timezone.utc)}])

    async def store_resume(self, resume_id: str, data: bytes, *, filename: str, content_type: str,
                           sha256: str, job_id: str) -> None:
        """Store the file once, and note that it was sent to `job_id`.

        One writer per file: an upload is claimed first (an insert into `resume_uploads`, which a
        second request at the same moment finds taken; it waits for the file instead). GridFS
        itself cannot be raced: an upload that clashes aborts by deleting every chunk of its id,
        the other upload's too, so a file stored whole lost its chunks to a second board sending
        the same bytes. A claim older than UPLOAD_CLAIM_S is a crashed upload's: taken over,
        its leftover chunks cleared first."""
        deadline = time.monotonic() + UPLOAD_CLAIM_S
        while await self.resume_files.find_one({"_id": resume_id}, {"_id": 1}) is None:
            if await self._claim_upload(resume_id):
                try:
                    if await self.resume_files.find_one({"_id": resume_id}, {"_id": 1}) is None:
                        await self.resume_chunks.delete_many({"files_id": resume_id})  # a crash's leftovers
                        await self.resumes.upload_from_stream_with_id(
                            resume_id, filename, data, metadata={"content_type": content_type, "sha256": sha256})
                finally:
                    await self.uploads.delete_one({"_id": resume_id})
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"résumé {resume_id} is being stored by another request")
            await asyncio.sleep(0.05)  # another request is storing these very bytes
        await insert_new(self.resume_jobs, [{"_id": f"{resume_id}:{job_id}", "resume_id": resume_id, "job_id": job_id,
                                             "at": datetime.now(timezone.utc)}])

    async def _claim_upload(self, resume_id: str) -> bool:
        now = datetime.now(timezone.utc)
        try:
            await self.uploads.insert_one({"_id": resume_id, "at": now})
            return True
        except DuplicateKeyError:
            stale = now - timedelta(seconds=UPLOAD_CLAIM_S)
            taken = await self.uploads.find_one_and_update({"_id": resume_id, "at": {"$lt": stale}},
                                                           {"$set": {"at": now}})
            return taken is not None

    async def resume_for(self, resume_id: str, recruiter_id: str) -> Any | None:
        """The résumé's download stream, if it was sent to one of `recruiter_id`'s jobs; else None."""
        job_ids = [d["job_id"] async for d in self.resume_jobs.find({"resume_id": resume_id}, {"job_id": 1})]
        if not job_ids or await self.jobs.find_one({"_id": {"$in": job_ids}, "recruiter_id": recruiter_id},
                                                   {"_id": 1}) is None:
            return None
        try:
            return await self.resumes.open_download_stream(resume_id)
        except NoFile:
            return None

    async def resume_file(self, resume_id: str) -> Any | None:
        """The résumé's download stream, whoever it was sent to (an operator's privacy export); else None."""
        try:
            return await self.resumes.open_download_stream(resume_id)
        except NoFile:
            return None

    @property
    def resumes(self) -> AsyncGridFSBucket:
        """The résumé files (GridFS bucket `resumes`), made when first used."""
        return AsyncGridFSBucket(self._db, bucket_name="resumes")

    def kept(self) -> list[Kept]:
        """What retention prunes: the published markers and the posted applications (Indeed's
        duplicates are told apart within that time); inquiries and prospects are the data, which
        erasure and the closed jobs' retention remove."""
        return [self.published.kept(), Kept(self.posted, "at")]
