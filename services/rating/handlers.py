"""Rating's use cases: the batch (load the state it touches, decide each input in order (the
decisions are in `domain`, without I/O), record the outcomes, apply them, publish, mark), and
the board's reads the HTTP routes answer (`Board`)."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime, timedelta
from typing import Any

from shared import ids, topics
from shared.contract import ErasePerson, new_event
from shared.messages import Outgoing, Publishes, Received
from shared.outbox import mark_after

from services.rating import domain
from services.rating.store import BoardViews, RatingStore


def _outgoing(doc: dict[str, Any]) -> list[Outgoing]:
    return [Outgoing(e["topic"], e["key"], e["event"]) for e in doc["events"]]


class RatingProjection:
    def __init__(self, store: RatingStore, publisher: Publishes, *, flag_on_message_sent: bool) -> None:
        self.store = store
        self.publisher = publisher
        self.flag_on_message_sent = flag_on_message_sent

    async def __call__(self, batch: list[Received]) -> None:
        unique: dict[str, Received] = {}
        for received in batch:
            unique.setdefault(received.event.id, received)
        # What the batch touches is read in one wave with the outbox's state: the entries of
        # events already done are read for nothing, a round trip is saved for every batch.
        prospect_ids: set[str] = set()
        job_ids: set[str] = set()
        for r in unique.values():
            data: Any = r.data
            prospect_ids.update(getattr(data, "prospect_ids", None) or [])
            if getattr(data, "prospect_id", None):
                prospect_ids.add(data.prospect_id)
            if getattr(data, "job_id", None):
                job_ids.add(data.job_id)
            came_from = getattr(getattr(data, "inquiry", None), "referred_from", None)
            if came_from is not None:  # "from <job>": its title
                job_ids.add(came_from.job_id)
        (done, pending), entries, jobs = await asyncio.gather(
            self.store.outbox.state(list(unique)), self.store.entries(prospect_ids), self.store.job_docs(job_ids))
        fresh = [r for i, r in unique.items() if i not in done and i not in pending]
        # `prospects.suggest`: whether each person is on the target job already (their prospect
        # there has an id derived from the job and their e-mail).
        there = domain.targets_of([r for r in fresh if r.event.type == "prospects.suggest"], entries)
        if there:
            entries.update(await self.store.entries(there))
        state = domain.BoardState(entries, jobs, self.flag_on_message_sent)

        outcomes = [domain.decide(r, state).document() for r in fresh]
        await self.store.outbox.record(outcomes)
        replay = [pending[i] for i in unique if i in pending] + outcomes
        await self.store.apply(replay)
        await self.publisher.publish([e for doc in replay for e in _outgoing(doc)])
        await mark_after(self.store.outbox.mark_published([doc["_id"] for doc in replay]))


class Retention:
    """Prospects of jobs closed more than `days` ago are erased through `person.erase` (reason
    `retention`): only those prospects when the person has others, else the whole person,
    everywhere. The commands' ids are derived from what they erase, so replicas looking at once,
    or again before the erasure is done, ask once."""

    def __init__(self, store: RatingStore, publisher: Publishes, *, days: float, most: int = 1_000) -> None:
        self.store = store
        self.publisher = publisher
        self.age = timedelta(days=days)
        self.most = most

    async def __call__(self, now: datetime) -> int:
        people = await self.store.expired(now - self.age, self.most)
        out = []
        for email, person in sorted(people.items()):
            expired = sorted(person["expired"])
            only = None if not person["kept"] else expired
            data = ErasePerson(email=email, requested_by="retention", reason="retention", prospect_ids=only)
            event = new_event(event_id=ids.derive("retention", email, *expired), source="prospectflow/rating/retention",
                              type="person.erase", data=data)
            out.append(Outgoing(topics.PRIVACY_COMMANDS, email, event))
        await self.publisher.publish(out)
        return len(out)


# --- the HTTP side's use cases ---------------------------------------------------------------------


class BadCursor(ValueError):
    """A cursor this API never gave."""


def cursor_of(doc: dict[str, Any]) -> str:
    raw = json.dumps([doc["waiting_since"].isoformat() if doc.get("waiting_since") else None, doc["_id"]])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def after(cursor: str) -> tuple[datetime | None, str]:
    try:
        waiting_since, last_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return (datetime.fromisoformat(waiting_since) if waiting_since else None), str(last_id)
    except (ValueError, TypeError):
        raise BadCursor("the cursor is not one this API gave") from None


class Board:
    """A recruiter's board as recruiter apps read it: only their own prospects and jobs."""

    def __init__(self, views: BoardViews) -> None:
        self.views = views

    async def jobs(self, recruiter_id: str) -> list[dict[str, Any]]:
        return [{"job_id": d["_id"], "title": d.get("title"), "company": d.get("company"), "open": d.get("open") is True,
                 "timezone": d.get("timezone") or "UTC"} for d in await self.views.jobs_of(recruiter_id)]

    async def owns_job(self, recruiter_id: str, job_id: str) -> bool:
        return await self.views.job_owner(job_id) == recruiter_id

    async def page(self, recruiter_id: str, view: str, job_id: str | None, limit: int,
                   cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of a view, oldest waiting first, and the cursor of the next (None at the end)."""
        docs = await self.views.page(recruiter_id, view, job_id, limit + 1, after(cursor) if cursor else None)
        more = len(docs) > limit
        docs = docs[:limit]
        return docs, cursor_of(docs[-1]) if more else None

    async def ids(self, recruiter_id: str, view: str, job_id: str | None) -> list[str]:
        return await self.views.ids(recruiter_id, view, job_id)

    async def one(self, recruiter_id: str, prospect_id: str) -> dict[str, Any] | None:
        return await self.views.one(recruiter_id, prospect_id)

    async def history(self, recruiter_id: str, prospect_id: str, limit: int = 1_000,
                      cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None] | None:
        """The prospect's timeline, oldest first, a page of `limit` lines and the cursor of the
        next page (None at the end); None: not one of the recruiter's. Never cut silently."""
        if await self.views.one(recruiter_id, prospect_id) is None:
            return None
        start = None
        if cursor is not None:
            try:
                at, order, last = json.loads(base64.urlsafe_b64decode(cursor.encode()))
                start = (datetime.fromisoformat(at), int(order), str(last))
            except (ValueError, TypeError):
                raise BadCursor("the cursor is not one this API gave") from None
        lines = await self.views.history(prospect_id, limit + 1, start)
        if len(lines) <= limit:
            return lines, None
        last_line = lines[limit - 1]
        raw = json.dumps([last_line["at"].isoformat(), last_line.get("order", 0), last_line["_id"]])
        return lines[:limit], base64.urlsafe_b64encode(raw.encode()).decode()

    async def summary(self, recruiter_id: str) -> dict[str, Any]:
        return await self.views.summary(recruiter_id)
