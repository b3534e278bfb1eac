"""Messaging's MongoDB: contacts, jobs, the suppression list, the outbox of command results,
and the message log.

A message is one document whose `state` moves: `queued` (inserted with the command's result,
before that is published), then `sent` or `failed` (set after the SMTP transaction, only from an
unsent state, so a resend after a crash keeps the first result), then `reported` (once its event
is acknowledged by Kafka). Every move is an update by `_id`. A message still unsent is sent
(again, after a crash, with the same Message-ID).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from shared.db import bulk_write, find_by_ids, insert_new, set_by_id, set_each
from shared.outbox import Outbox
from shared.retention import Kept

UNSENT = ("queued", "sending")


class MessagingStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.contacts = db["contacts"]
        self.jobs = db["jobs"]
        self.recruiters = db["recruiters"]
        self.suppressions = db["suppressions"]
        self.outbox = Outbox(db)
        self.messages = db["messages"]

    def kept(self) -> list[Kept]:
        """What retention prunes: the outbox's records and markers."""
        return self.outbox.kept()

    async def ensure_indexes(self) -> None:
        await self.messages.create_index([("command_id", ASCENDING), ("state", ASCENDING)], name="by_command")
        await self.contacts.create_index([("email", ASCENDING)], name="by_email")

    async def save_jobs(self, jobs: dict[str, dict[str, Any]]) -> None:
        await bulk_write(self.jobs, [UpdateOne({"_id": k}, {"$set": v}, upsert=True) for k, v in jobs.items()])

    async def save_recruiters(self, recruiters: dict[str, dict[str, Any]]) -> None:
        await bulk_write(self.recruiters, [UpdateOne({"_id": k}, {"$set": v}, upsert=True) for k, v in recruiters.items()])

    async def save_contacts(self, contacts: dict[str, dict[str, Any]]) -> None:
        await set_by_id(self.contacts, list(contacts.items()))

    async def suppress(self, entries: dict[str, dict[str, Any]]) -> None:
        await insert_new(self.suppressions, [{"_id": email, **fields} for email, fields in entries.items()])

    async def by_ids(self, collection: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {d["_id"]: d for d in await find_by_ids(getattr(self, collection), list(ids))}

    async def record(self, outcomes: list[dict[str, Any]], messages: list[dict[str, Any]]) -> set[str]:
        """Messages first: an outbox record means its messages are queued. Returns the ids of
        messages that were there already (recorded by an earlier delivery of their cause)."""
        clashed = await insert_new(self.messages, messages)
        await self.outbox.record(outcomes)
        return {messages[n]["_id"] for n in clashed}

    async def open_messages(self, command_ids: Iterable[str]) -> list[dict[str, Any]]:
        """The messages of these commands not reported yet, oldest command first."""
        ids = sorted(set(command_ids))
        if not ids:
            return []
        query = {"command_id": {"$in": ids}, "state": {"$ne": "reported"}}
        return [d async for d in self.messages.find(query).sort([("command_id", ASCENDING), ("_id", ASCENDING)])]

    async def record_results(self, results: dict[str, dict[str, Any]]) -> None:
        """Each message's result (`state` sent or failed, and its details), once: only an unsent
        message takes one, so a resend after a crash keeps the first."""
        now = datetime.now(timezone.utc)
        await set_each(self.messages, [({"_id": k, "state": {"$in": list(UNSENT)}}, {**v, "result_at": now})
                                       for k, v in results.items()])

    async def mark_reported(self, message_ids: Iterable[str]) -> None:
        await set_each(self.messages, [({"_id": i}, {"state": "reported"}) for i in message_ids])
