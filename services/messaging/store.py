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

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.db import GroupInsert, find_by_ids, insert_new, set_by_id, set_each, write_by_id
from shared.outbox import Outbox
from shared.privacy import Held, address_key, candidate_prospects, scrubbed
from shared.retention import Kept

UNSENT = ("queued", "sending")
EACH_LISTED = 50  # a send of at most this many messages is read back one by one


class MessagingStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.contacts = db["contacts"]
        self.jobs = db["jobs"]
        self.recruiters = db["recruiters"]
        self.suppressions = db["suppressions"]
        self.outbox = Outbox(db)
        self.messages = db["messages"]
        self.inbound = db["inbound"]  # mails that came back (services.messaging.inbound)
        self.templates = db["templates"]  # recruiters' own templates (`custom:<_id>`)
        self._inbound_inserts = GroupInsert(self.inbound)
        self.bounced = db["bounced"]  # addresses that bounced permanently, by address
        self.referrals = db["referrals"]  # people referred through a mail's link: `_id` (message, e-mail)
        self.referral_counts = db["referral_counts"]  # referrals taken per mail (`_id` the message)

    address_secret: str | None = None  # keys what stays of an erased address (shared.privacy.address_key)

    def _kept_key(self, email: str) -> str | None:
        return address_key(self.address_secret, email) if self.address_secret else None

    async def listed(self, collection: str, emails: Iterable[str]) -> set[str]:
        """Which of these addresses are in `suppressions` or `bounced`: by address, or, for a
        person erased since, by the keyed hash that stayed of it."""
        emails = set(emails)
        if not emails:
            return set()
        found = set(await self.by_ids(collection, emails))
        keys = {k: e for e in emails - found if (k := self._kept_key(e))}
        return found | {keys[k] for k in await self.by_ids(collection, keys)}

    async def prepare(self, people: list[tuple[str, str]]) -> None:
        """A batch of erasures: the messages to their addresses, found in one read."""
        found: dict[str, list[str]] = {e: [] for _, e in people}
        async for d in self.messages.find({"to": {"$in": sorted(found)}}, {"to": 1}):
            found[d["to"]].append(d["_id"])
        self._prepared = found

    _prepared: dict[str, list[str]] = {}

    async def held(self, person_id: str, email: str,
                   only: frozenset[str] | None = None) -> tuple[dict[str, Held], set[str]]:
        """Where a person is: contact, messages (their text), mails that came back from them, and
        their suppression and bounce (which erasure keys by a keyed hash of the address)."""
        pids = await candidate_prospects(self.jobs, email)
        pids |= {d["_id"] async for d in self.contacts.find({"email": email}, {"_id": 1})}
        if only is not None:
            pids &= only
        wanted = sorted(pids)
        ready = self._prepared.pop(email, None)
        messages = {"_id": {"$in": ready}} if ready is not None and only is None else \
            {"$or": [{"prospect_id": {"$in": wanted}}, {"to": email}]} if only is None else {"prospect_id": {"$in": wanted}}
        return {"contacts": Held(self.contacts, {"_id": {"$in": wanted}}),
                "messages": Held(self.messages, messages),
                "inbound": Held(self.inbound, {"prospect_id": {"$in": wanted}}),
                "suppressions": Held(self.suppressions, {"_id": email}, delete=False),
                "bounced": Held(self.bounced, {"_id": email}, delete=False)}, pids

    async def forget(self, person_id: str, email: str, prospect_ids: set[str], whole: bool) -> dict[str, int]:
        """The suppression and bounce stay, keyed by a keyed hash of the address (never mailed
        again); the outcomes of sends keep their other people."""
        changed = {"outbox": await self._scrub_outbox(prospect_ids)}
        if not whole:
            return changed  # the person's suppression and bounce are theirs as a whole
        key = self._kept_key(email)
        for name, collection in (("suppressions", self.suppressions), ("bounced", self.bounced)):
            entry = await collection.find_one({"_id": email})
            if entry is not None and key is not None:
                await insert_new(collection, [{**{k: v for k, v in entry.items() if k in ("reason", "at", "status")},
                                               "_id": key}])
            changed[name] = (await collection.delete_many({"_id": email})).deleted_count
        return changed

    async def _scrub_outbox(self, gone: set[str]) -> int:
        """The outcomes of sends that named the person keep their other people (a redelivered
        command still sends nobody twice) and lose the person."""
        changed = 0
        query = {"$or": [{"events.event.data.accepted": {"$in": sorted(gone)}},
                         {"events.event.data.rejected.prospect_id": {"$in": sorted(gone)}},
                         {"rejected.prospect_id": {"$in": sorted(gone)}}]}
        async for record in self.outbox.records.find(query):
            await self.outbox.records.replace_one({"_id": record["_id"]}, scrubbed(record, gone))
            changed += 1
        return changed

    def kept(self) -> list[Kept]:
        """What retention prunes: the outbox's records and markers, and inbound mails once
        processed (`done_at`: handled, or kept aside or failed, which an operator has that long to
        look at: raw mails are personal data)."""
        return [*self.outbox.kept(), Kept(self.inbound, "done_at")]

    async def ensure_indexes(self) -> None:
        await self.messages.create_index([("command_id", ASCENDING), ("state", ASCENDING)], name="by_command")
        # A send's progress (its messages), and a recruiter's recent sends.
        await self.messages.create_index([("send_id", ASCENDING), ("outcome", ASCENDING)], name="by_send")
        await self.messages.create_index([("recruiter_id", ASCENDING), ("queued_at", ASCENDING)], name="recent_sends")
        await self.messages.create_index([("sequence.enrollment_id", ASCENDING)], name="by_enrollment")
        await self.templates.create_index([("recruiter_id", ASCENDING)], name="by_recruiter")
        await self.outbox.records.create_index([("send_id", ASCENDING)], name="by_send")
        await self.contacts.create_index([("email", ASCENDING)], name="by_email")
        # The sweep (received, oldest first) and `prospectflow inbound list` (kept, newest first).
        await self.inbound.create_index([("state", ASCENDING), ("received_at", ASCENDING)], name="by_state")
        # Replies not handed on to the recruiter yet (the sweep's other half): few, so partial.
        await self.inbound.create_index([("processed_at", ASCENDING)], name="to_forward",
                                        partialFilterExpression={"to_forward": True})

    async def save_jobs(self, jobs: dict[str, dict[str, Any]]) -> None:
        await write_by_id(self.jobs, [(k, {"$set": v}) for k, v in jobs.items()])

    async def save_recruiters(self, recruiters: dict[str, dict[str, Any]]) -> None:
        await write_by_id(self.recruiters, [(k, {"$set": v}) for k, v in recruiters.items()])

    async def save_contacts(self, contacts: dict[str, dict[str, Any]]) -> None:
        await set_by_id(self.contacts, list(contacts.items()))

    async def suppress(self, entries: dict[str, dict[str, Any]]) -> None:
        await insert_new(self.suppressions, [{"_id": email, **fields} for email, fields in entries.items()])

    async def add_template(self, doc: dict[str, Any]) -> None:
        await self.templates.insert_one(doc)

    async def templates_of(self, recruiter_id: str) -> list[dict[str, Any]]:
        return await self.templates.find({"recruiter_id": recruiter_id}).sort("created_at", 1).to_list()

    async def template(self, template_id: str, recruiter_id: str) -> dict[str, Any] | None:
        return await self.templates.find_one({"_id": template_id, "recruiter_id": recruiter_id})

    async def update_template(self, template_id: str, recruiter_id: str, fields: dict[str, Any]) -> bool:
        result = await self.templates.update_one({"_id": template_id, "recruiter_id": recruiter_id}, {"$set": fields})
        return result.matched_count > 0

    async def delete_template(self, template_id: str, recruiter_id: str) -> bool:
        result = await self.templates.delete_one({"_id": template_id, "recruiter_id": recruiter_id})
        return result.deleted_count > 0

    async def message(self, message_id: str) -> dict[str, Any] | None:
        return await self.messages.find_one({"_id": message_id}, {"prospect_id": 1, "job_id": 1, "recruiter_id": 1,
                                                                   "context": 1, "to": 1, "state": 1})

    async def referral(self, referral_id: str) -> dict[str, Any] | None:
        return await self.referrals.find_one({"_id": referral_id})

    async def count_referral(self, message_id: str, most: int) -> bool:
        """Take one of a mail's `most` referrals: False when they are all taken. The counter is
        created by an insert (never an upsert) and taken by one conditional update, so
        referrals posted at once cannot take more than `most` between them."""
        await insert_new(self.referral_counts, [{"_id": message_id, "n": 0}])
        taken = await self.referral_counts.find_one_and_update({"_id": message_id, "n": {"$lt": most}},
                                                               {"$inc": {"n": 1}})
        return taken is not None

    async def note_referral(self, doc: dict[str, Any]) -> None:
        await insert_new(self.referrals, [doc])

    async def first_of_sequence(self, enrollment_id: str) -> dict[str, Any] | None:
        """The first mail sent of an enrollment of a sequence (its subject and id), if any."""
        found = await self.messages.find({"sequence.enrollment_id": enrollment_id, "subject": {"$exists": True}},
                                         {"subject": 1, "sequence": 1}).sort("sequence.step", 1).limit(1).to_list()
        return found[0] if found else None

    async def store_inbound(self, doc: dict[str, Any]) -> bool:
        """Store a mail that came back: True if new, False if stored before (raises when it
        cannot be: the sender retries). Mails arriving at once go in one insert."""
        return await self._inbound_inserts.insert(doc)

    async def inbound_waiting(self, before: datetime, limit: int) -> list[dict[str, Any]]:
        """Mails stored before `before` and not processed yet (a crash, an outage), oldest first."""
        cursor = self.inbound.find({"state": "received", "received_at": {"$lt": before}}).sort("received_at", 1)
        return await cursor.limit(limit).to_list()

    async def inbound_to_forward(self, before: datetime, limit: int) -> list[dict[str, Any]]:
        """Replies processed before `before` and not handed on to the recruiter yet."""
        return await self.inbound.find({"state": "done", "to_forward": True,
                                        "processed_at": {"$lt": before}}).limit(limit).to_list()

    async def mark_inbound(self, updates: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        await set_each(self.inbound, updates)

    async def note_bounced(self, bounced: list[dict[str, Any]]) -> None:
        """Addresses that bounced permanently (one entry each; the first bounce stays)."""
        await insert_new(self.bounced, list({b["_id"]: b for b in bounced}.values()))

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
        # `outcome` stays what `state` says now (sent or failed) once `state` moves on to reported
        await set_each(self.messages, [({"_id": k, "state": {"$in": list(UNSENT)}},
                                        {**v, "outcome": v["state"], "result_at": now})
                                       for k, v in results.items()])

    async def mark_reported(self, message_ids: Iterable[str]) -> None:
        await set_each(self.messages, [({"_id": i}, {"state": "reported"}) for i in message_ids])

    async def send_progress(self, recruiter_id: str, send_id: str) -> dict[str, Any] | None:
        """Where a send stands, read back: its commands' results (how many accepted, who was
        skipped and why), and of its messages how many are sent, failed (by reason) and still
        pending. None when messaging has not taken any command of it (yet), or it is another
        recruiter's."""
        commands = [d async for d in self.outbox.records.find(
            {"send_id": send_id}, {"recruiter_id": 1, "accepted": 1, "rejected": 1, "template": 1, "recorded_at": 1})]
        commands = [c for c in commands if c.get("recruiter_id") == recruiter_id]
        if not commands:
            return None
        outcomes: dict[str, int] = {"sent": 0, "failed": 0}
        failed: dict[str, int] = {}
        pipeline: list[dict[str, Any]] = [
            {"$match": {"send_id": send_id, "recruiter_id": recruiter_id}},
            {"$group": {"_id": {"outcome": "$outcome", "reason": "$reason"}, "n": {"$sum": 1}}},
        ]
        async for group in await self.messages.aggregate(pipeline):
            outcome = group["_id"].get("outcome")
            if outcome in outcomes:
                outcomes[outcome] += group["n"]
            if outcome == "failed":
                reason = str(group["_id"].get("reason") or "unknown")
                failed[reason] = failed.get(reason, 0) + group["n"]
        accepted = sum(int(c.get("accepted", 0)) for c in commands)
        skipped = [x for c in commands for x in c.get("rejected", [])]
        each = []  # a small send's messages one by one, as a page lists them
        if accepted <= EACH_LISTED:
            each = [{"prospect_id": m["prospect_id"], "name": m.get("to_name"), "outcome": m.get("outcome"),
                     "reason": m.get("reason")}
                    async for m in self.messages.find({"send_id": send_id, "recruiter_id": recruiter_id},
                                                      {"prospect_id": 1, "to_name": 1, "outcome": 1, "reason": 1})]
        return {"messages": sorted(each, key=lambda m: str(m["name"])), "send_id": send_id, "template": commands[0].get("template"), "commands": len(commands),
                "started_at": min(c["recorded_at"] for c in commands), "accepted": accepted,
                "sent": outcomes["sent"], "failed": outcomes["failed"],
                "pending": max(0, accepted - outcomes["sent"] - outcomes["failed"]),
                "failed_reasons": failed, "skipped": skipped}

    async def recent_sends(self, recruiter_id: str, since: datetime, limit: int = 5) -> list[dict[str, Any]]:
        """The recruiter's sends queued since then, newest first: how many queued, sent, failed."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"recruiter_id": recruiter_id, "queued_at": {"$gte": since}}},
            {"$group": {"_id": "$send_id", "template": {"$max": "$template"}, "started_at": {"$min": "$queued_at"},
                        "accepted": {"$sum": 1},
                        "sent": {"$sum": {"$cond": [{"$eq": ["$outcome", "sent"]}, 1, 0]}},
                        "failed": {"$sum": {"$cond": [{"$eq": ["$outcome", "failed"]}, 1, 0]}}}},
            {"$sort": {"started_at": -1}},
            {"$limit": limit},
        ]
        return [{"send_id": g["_id"], "template": g.get("template"), "started_at": g["started_at"],
                 "accepted": g["accepted"], "sent": g["sent"], "failed": g["failed"],
                 "pending": g["accepted"] - g["sent"] - g["failed"]}
                async for g in await self.messages.aggregate(pipeline)]
