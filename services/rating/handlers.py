"""Rating's use case: load the state a batch touches, decide each input in order (the
decisions are in `domain`, without I/O), record the outcomes, apply them, publish, mark."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from shared.kafka import Outgoing, Publisher, Received

from services.rating import domain
from services.rating.store import RatingStore


def _outgoing(doc: dict[str, Any]) -> list[Outgoing]:
    return [Outgoing(e["topic"], e["key"], e["event"]) for e in doc["events"]]


class RatingProjection:
    def __init__(self, store: RatingStore, publisher: Publisher, *, flag_on_message_sent: bool) -> None:
        self.store = store
        self.publisher = publisher
        self.flag_on_message_sent = flag_on_message_sent

    async def __call__(self, batch: list[Received]) -> None:
        unique: dict[str, Received] = {}
        for received in batch:
            unique.setdefault(received.event.id, received)
        unique = await self._register_first(unique)
        if not unique:
            return
        done, pending = await self.store.outbox.state(list(unique))
        fresh = [r for i, r in unique.items() if i not in done and i not in pending]

        prospect_ids: set[str] = set()
        job_ids: set[str] = set()
        for r in fresh:
            data: Any = r.data
            prospect_ids.update(getattr(data, "prospect_ids", None) or [])
            if getattr(data, "prospect_id", None):
                prospect_ids.add(data.prospect_id)
            if getattr(data, "job_id", None):
                job_ids.add(data.job_id)
        state = domain.BoardState(await self.store.entries(prospect_ids), await self.store.job_docs(job_ids),
                                  self.flag_on_message_sent)
        known_prospects, known_jobs = set(state.entries), set(state.jobs)

        outcomes = [domain.decide(r, state).document() for r in fresh]
        await self.store.outbox.record(outcomes)
        replay = [pending[i] for i in unique if i in pending] + outcomes
        await self.store.apply(replay, known_prospects=known_prospects, known_jobs=known_jobs)
        await self.publisher.publish([e for doc in replay for e in _outgoing(doc)])
        await self.store.outbox.mark_published(doc["_id"] for doc in replay)

    async def _register_first(self, unique: dict[str, Received]) -> dict[str, Received]:
        """The hot path: a prospect's first registration goes straight onto the board by one
        insert, with the event's id as `registered_by`, its idempotency record. It emits nothing
        and needs no outbox (whose lookups FerretDB pays for with a scan each). When the prospect
        is there already, a board document registered by this very event means a redelivery
        (nothing to do); any other takes the outbox path below. Returns what is left to do."""
        registrations: dict[str, str] = {}  # prospect id -> event id, the first of the batch
        for event_id, r in unique.items():
            if r.event.type == "prospect.registered":
                registrations.setdefault(r.data.prospect_id, event_id)  # type: ignore[attr-defined]
        if not registrations:
            return unique
        jobs = await self.store.job_docs({unique[e].data.job_id for e in registrations.values()})  # type: ignore[attr-defined]
        now = datetime.now(timezone.utc)
        registered: dict[str, Any] = {e: unique[e].data for e in registrations.values()}  # ProspectRegistered
        docs = [{"_id": pid, "registered_by": event_id, "updated_at": now,
                 **domain.registration_fields(registered[event_id], jobs.get(registered[event_id].job_id, {}))}
                for pid, event_id in registrations.items()]
        # The history line first: a crash between the two inserts re-inserts it (once), never loses it.
        await self.store.insert_history([domain.inquiry_history(e, unique[e].data) for e in registrations.values()])  # type: ignore[arg-type]
        clashed = {docs[n]["_id"] for n in await self.store.insert_board(docs)}
        there = await self.store.registered_by(list(clashed))
        settled = {event_id for pid, event_id in registrations.items()
                   if pid not in clashed or there.get(pid) == event_id}
        return {i: r for i, r in unique.items() if i not in settled}
