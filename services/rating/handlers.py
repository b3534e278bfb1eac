"""Rating's use case: load the state a batch touches, decide each input in order (the
decisions are in `domain`, without I/O), record the outcomes, apply them, publish, mark."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.messages import Outgoing, Publishes, Received

from services.rating import domain
from services.rating.store import RatingStore


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
        entries, jobs = await asyncio.gather(self.store.entries(prospect_ids), self.store.job_docs(job_ids))
        state = domain.BoardState(entries, jobs, self.flag_on_message_sent)

        outcomes = [domain.decide(r, state).document() for r in fresh]
        await self.store.outbox.record(outcomes)
        replay = [pending[i] for i in unique if i in pending] + outcomes
        await self.store.apply(replay)
        await self.publisher.publish([e for doc in replay for e in _outgoing(doc)])
        await self.store.outbox.mark_published(doc["_id"] for doc in replay)
