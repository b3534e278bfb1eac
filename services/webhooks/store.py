"""The webhooks service's MongoDB: endpoints, deliveries (each event to each endpoint once,
with its attempts), and the jobs' recruiters (to know whose a prospect's events are).

A delivery's `_id` is derived from its endpoint and event, so a redelivered event inserts
nothing new. A replica takes a due delivery by setting its lease in one conditional update;
a replica that dies mid-attempt leaves the lease to run out, and the delivery is taken again:
at least once, with the same `webhook-id`, never silently gone.
"""

from __future__ import annotations


from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from shared.db import find_by_ids, insert_new, write_by_id
from shared.privacy import Held, candidate_prospects
from shared.retention import Kept

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class WebhooksStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.endpoints = db["endpoints"]
        self.deliveries = db["deliveries"]
        self.jobs = db["jobs"]
        self.applications = db["applications"]  # prospect → the board application it came from (dispositions)

    def kept(self) -> list[Kept]:
        """What retention prunes: deliveries (their bodies and attempts), `WEBHOOKS_RETENTION_DAYS` after they were made."""
        return [Kept(self.deliveries, "created_at")]

    async def held(self, person_id: str, email: str,
                   only: frozenset[str] | None = None) -> tuple[dict[str, Held], set[str]]:
        """Where a person is: the deliveries (and dispositions) of events about them, delivered or
        pending, and the board applications they came from."""
        pids = await candidate_prospects(self.jobs, email)
        if only is not None:
            pids &= only
        about = sorted({*pids, *((person_id,) if only is None else ())})
        # Each delivery names the people its event is about (`about`, indexed).
        return {"deliveries": Held(self.deliveries, {"about": {"$in": about}, "event_type": {"$ne": "person.erased"}}),
                "applications": Held(self.applications, {"_id": {"$in": sorted(pids)}})}, pids

    async def forget(self, person_id: str, email: str, prospect_ids: set[str], whole: bool) -> dict[str, int]:
        return {}

    async def ensure_indexes(self) -> None:
        await self.endpoints.create_index([("recruiter_id", ASCENDING)], name="by_recruiter")
        await self.deliveries.create_index([("about", ASCENDING)], name="by_person")  # erasure
        # The worker's query: pending and due, soonest first (partial: only pending ones are in it).
        await self.deliveries.create_index([("next_at", ASCENDING)], name="due",
                                           partialFilterExpression={"state": PENDING})
        await self.deliveries.create_index([("endpoint_id", ASCENDING), ("created_at", DESCENDING)], name="log")

    # --- jobs ---------------------------------------------------------------------------------

    async def save_jobs(self, jobs: Sequence[tuple[str, str]]) -> None:
        await write_by_id(self.jobs, [(job_id, {"$set": {"recruiter_id": recruiter}}) for job_id, recruiter in jobs])

    async def job_recruiters(self, job_ids: Iterable[str]) -> dict[str, str]:
        return {d["_id"]: d["recruiter_id"] for d in await find_by_ids(self.jobs, job_ids)}

    async def save_applications(self, applications: Sequence[tuple[str, str, str]]) -> None:
        await write_by_id(self.applications, [(pid, {"$set": {"board": board, "application_id": app_id}})
                                              for pid, board, app_id in applications])

    async def applications_of(self, prospect_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {d["_id"]: d for d in await find_by_ids(self.applications, prospect_ids)}

    # --- endpoints ----------------------------------------------------------------------------

    async def add_endpoint(self, doc: dict[str, Any]) -> None:
        await self.endpoints.insert_one(doc)

    async def upsert_endpoint(self, doc: dict[str, Any]) -> None:
        """An operator's endpoint, written by every replica at start (at once): no upsert."""
        fields = {k: v for k, v in doc.items() if k != "_id"}
        await write_by_id(self.endpoints, [(doc["_id"], {"$set": fields})])

    async def endpoint(self, endpoint_id: str, recruiter_id: str | None = None) -> dict[str, Any] | None:
        query: dict[str, Any] = {"_id": endpoint_id}
        if recruiter_id is not None:
            query["recruiter_id"] = recruiter_id
        return await self.endpoints.find_one(query)

    async def endpoints_of(self, recruiter_id: str) -> list[dict[str, Any]]:
        return [d async for d in self.endpoints.find({"recruiter_id": recruiter_id}).sort("created_at", ASCENDING)]

    async def active_endpoints(self) -> list[dict[str, Any]]:
        """Every endpoint not disabled (few: a handful per recruiter), read once a batch."""
        return [d async for d in self.endpoints.find({"disabled": None})]

    async def delete_endpoint(self, endpoint_id: str, recruiter_id: str) -> bool:
        result = await self.endpoints.delete_one({"_id": endpoint_id, "recruiter_id": recruiter_id})
        if result.deleted_count:
            await self.deliveries.update_many({"endpoint_id": endpoint_id, "state": PENDING},
                                              {"$set": {"state": DEAD, "dead_reason": "endpoint deleted"},
                                               "$unset": {"next_at": ""}})
        return bool(result.deleted_count)

    async def set_secrets(self, endpoint_id: str, secrets: list[dict[str, Any]]) -> None:
        await self.endpoints.update_one({"_id": endpoint_id}, {"$set": {"secrets": secrets}})

    async def endpoint_answered(self, endpoint_id: str, ok: bool, now: datetime, disable: str | None) -> None:
        if ok:
            await self.endpoints.update_one({"_id": endpoint_id, "failing_since": {"$ne": None}},
                                            {"$set": {"failing_since": None}})
            return
        await self.endpoints.update_one({"_id": endpoint_id, "failing_since": None}, {"$set": {"failing_since": now}})
        if disable:
            await self.endpoints.update_one({"_id": endpoint_id},
                                            {"$set": {"disabled": {"at": now, "reason": disable}}})

    async def enable(self, endpoint_id: str, recruiter_id: str) -> bool:
        result = await self.endpoints.update_one({"_id": endpoint_id, "recruiter_id": recruiter_id},
                                                 {"$set": {"disabled": None, "failing_since": None}})
        return bool(result.matched_count)

    # --- deliveries ---------------------------------------------------------------------------

    async def add_deliveries(self, docs: Sequence[dict[str, Any]]) -> int:
        """Insert the new ones (a redelivered event clashes on `_id`); how many were new."""
        return len(docs) - len(await insert_new(self.deliveries, docs))

    async def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        return [d async for d in self.deliveries.find({"state": PENDING, "next_at": {"$lte": now}}, {"_id": 1})
                .sort("next_at", ASCENDING).limit(limit)]

    async def take(self, delivery_id: str, now: datetime, lease: timedelta) -> dict[str, Any] | None:
        """The delivery, leased to this replica; None if another has it or it is done."""
        return await self.deliveries.find_one_and_update(
            {"_id": delivery_id, "state": PENDING, "next_at": {"$lte": now}},
            {"$set": {"next_at": now + lease}}, return_document=ReturnDocument.AFTER)

    async def attempted(self, delivery_id: str, attempt: dict[str, Any], state: str, next_at: datetime | None,
                        dead_reason: str | None = None) -> None:
        fields: dict[str, Any] = {"state": state}
        update: dict[str, Any] = {"$push": {"attempts": attempt}, "$inc": {"attempt_count": 1}}
        if state == PENDING:
            fields["next_at"] = next_at
        else:
            update["$unset"] = {"next_at": ""}
            if state == DELIVERED:
                fields["delivered_at"] = attempt["at"]
            if dead_reason:
                fields["dead_reason"] = dead_reason
        update["$set"] = fields
        await self.deliveries.update_one({"_id": delivery_id}, update)

    async def log(self, endpoint_id: str, limit: int = 50) -> list[dict[str, Any]]:
        return [d async for d in self.deliveries.find({"endpoint_id": endpoint_id}, {"body": 0})
                .sort("created_at", DESCENDING).limit(limit)]

    async def retry(self, endpoint_id: str, delivery_id: str) -> bool:
        result = await self.deliveries.update_one(
            {"_id": delivery_id, "endpoint_id": endpoint_id},
            {"$set": {"state": PENDING, "next_at": utcnow()}, "$unset": {"dead_reason": ""}})
        return bool(result.matched_count)

    async def pending_count(self) -> int:
        return await self.deliveries.count_documents({"state": PENDING})
