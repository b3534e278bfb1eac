"""Messaging's MongoDB: contacts, jobs, the suppression list, the outbox of command results,
and the message log.

A message goes `queued` (recorded with the command's result, before it is published) →
`sending` (recorded before the SMTP transaction) → `sent` or `failed` (recorded after) →
`reported` (its event acknowledged by Kafka). Only `queued` and `sending` messages are sent;
a `sending` one is sent again after a crash, with the same Message-ID.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from shared.db import bulk_write, find_by_ids, insert_new
from shared.outbox import Outbox

UNSENT = ("queued", "sending")


class MessagingStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.contacts = db["contacts"]
        self.jobs = db["jobs"]
        self.recruiters = db["recruiters"]
        self.suppressions = db["suppressions"]
        self.outbox = Outbox(db)
        self.messages = db["messages"]

    async def ensure_indexes(self) -> None:
        await self.messages.create_index([("command_id", ASCENDING), ("state", ASCENDING)], name="by_command")
        await self.contacts.create_index([("email", ASCENDING)], name="by_email")

    async def save_jobs(self, jobs: dict[str, dict[str, Any]]) -> None:
        await bulk_write(self.jobs, [UpdateOne({"_id": k}, {"$set": v}, upsert=True) for k, v in jobs.items()])

    async def save_recruiters(self, recruiters: dict[str, dict[str, Any]]) -> None:
        await bulk_write(self.recruiters, [UpdateOne({"_id": k}, {"$set": v}, upsert=True) for k, v in recruiters.items()])

    async def save_contacts(self, contacts: dict[str, dict[str, Any]]) -> None:
        await bulk_write(self.contacts, [UpdateOne({"_id": k}, {"$set": v}, upsert=True) for k, v in contacts.items()])

    async def suppress(self, entries: dict[str, dict[str, Any]]) -> None:
        await insert_new(self.suppressions, [{"_id": email, **fields} for email, fields in entries.items()])

    async def by_ids(self, collection: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {d["_id"]: d for d in await find_by_ids(getattr(self, collection), list(ids))}

    async def record(self, outcomes: list[dict[str, Any]], messages: list[dict[str, Any]]) -> None:
        """Messages first: an outbox record means its messages are queued."""
        await insert_new(self.messages, messages)
        await self.outbox.record(outcomes)

    async def open_messages(self, command_ids: Iterable[str]) -> list[dict[str, Any]]:
        """The messages of these commands that are not finished, oldest command first."""
        ids = sorted(set(command_ids))
        if not ids:
            return []
        return [d async for d in self.messages.find({"command_id": {"$in": ids}, "state": {"$ne": "reported"}})
                .sort([("command_id", ASCENDING), ("_id", ASCENDING)])]

    async def set_state(self, updates: dict[str, dict[str, Any]]) -> None:
        now = datetime.now(timezone.utc)
        await bulk_write(self.messages, [UpdateOne({"_id": k}, {"$set": {**v, "updated_at": now}})
                                         for k, v in updates.items()])
