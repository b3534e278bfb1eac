"""Messaging's MongoDB: contacts, jobs, the suppression list, the outbox of command results,
and the message log.

A message is `queued` (its document inserted with the command's result, before that is
published), then `sent` or `failed` (a result document inserted after the SMTP transaction),
then `reported` (a marker inserted once its event is acknowledged by Kafka). Nothing is
updated: inserts cost the same at any size on FerretDB, updates scan. A message without a
result is sent (again, after a crash, with the same Message-ID).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from shared.db import bulk_write, engine, find_by_ids, insert_new, set_by_id
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
        self.results = db["message_results"]
        self.reported = db["message_reported"]

    def kept(self) -> list[Kept]:
        """What retention prunes: the outbox's records and markers."""
        return self.outbox.kept()

    async def ensure_indexes(self) -> None:
        await self.messages.create_index([("command_id", ASCENDING), ("state", ASCENDING)], name="by_command")
        await self.contacts.create_index([("email", ASCENDING)], name="by_email")
        await engine(self.contacts)  # which server, asked once: lookups by id take its form

    async def save_jobs(self, jobs: dict[str, dict[str, Any]]) -> None:
        await bulk_write(self.jobs, [UpdateOne({"_id": k}, {"$set": v}, upsert=True) for k, v in jobs.items()])

    async def save_recruiters(self, recruiters: dict[str, dict[str, Any]]) -> None:
        await bulk_write(self.recruiters, [UpdateOne({"_id": k}, {"$set": v}, upsert=True) for k, v in recruiters.items()])

    async def save_contacts(self, contacts: dict[str, dict[str, Any]]) -> None:
        # Mostly new prospects: insert first, update those already there (see shared.db.set_by_id).
        await set_by_id(self.contacts, list(contacts.items()), existing=set())

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
        """The messages of these commands that are not reported yet, oldest command first, each
        with its result if it has one. A message document is written once and never updated:
        its result and its reporting are documents of their own (inserts, flat on FerretDB,
        where every update scans the collection)."""
        ids = sorted(set(command_ids))
        if not ids:
            return []
        messages = [d async for d in self.messages.find({"command_id": {"$in": ids}})
                    .sort([("command_id", ASCENDING), ("_id", ASCENDING)])]
        # `state` in the message itself: documents written before results had their own collection
        messages = [m for m in messages if m.get("state") != "reported"]
        mids = [m["_id"] for m in messages]
        reported = {d["_id"] for d in await find_by_ids(self.reported, mids, {"_id": 1})}
        results = {d["_id"]: d for d in await find_by_ids(self.results, [i for i in mids if i not in reported])}
        return [{**m, **{k: v for k, v in results.get(m["_id"], {}).items() if k != "_id"}}
                for m in messages if m["_id"] not in reported]

    async def record_results(self, results: dict[str, dict[str, Any]]) -> None:
        """Each message's result, once: a resend after a crash keeps the first one."""
        now = datetime.now(timezone.utc)
        await insert_new(self.results, [{"_id": k, **v, "at": now} for k, v in results.items()])

    async def mark_reported(self, message_ids: Iterable[str]) -> None:
        await insert_new(self.reported, [{"_id": i} for i in message_ids])