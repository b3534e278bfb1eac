"""The webhooks service's batch: jobs (whose prospects' events are whose), and every other
event fanned out to the endpoints that want it, one delivery each, stored before the batch's
offsets are committed (so nothing consumed is lost if the process dies before delivering)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from shared import ids, topics
from shared.kafka import Received

from services.webhooks import domain
from services.webhooks.store import PENDING, WebhooksStore, utcnow


def body_of(r: Received) -> str:
    """The event as it came on Kafka (byte for byte when there is a record)."""
    if r.record is not None and r.record.value is not None:
        return bytes(r.record.value).decode()
    return json.dumps(r.event.model_dump(mode="json", exclude_none=True), separators=(",", ":"))


class Fanout:
    def __init__(self, store: WebhooksStore, wake: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.wake = wake

    async def __call__(self, batch: list[Received]) -> None:
        jobs = [(r.data.job_id, r.data.recruiter.recruiter_id) for r in batch  # type: ignore[attr-defined]
                if r.topic == topics.JOBS and r.event.type in ("job.opened", "job.updated")]
        await self.store.save_jobs(jobs)
        events = [r for r in batch if r.topic != topics.JOBS]
        if not events:
            return
        known = dict(jobs)
        wanted = {r.data.job_id for r in events if r.topic == topics.PROSPECTS} - set(known)  # type: ignore[attr-defined]
        known.update(await self.store.job_recruiters(wanted))
        endpoints = await self.store.active_endpoints()
        now = utcnow()
        docs: list[dict[str, Any]] = []
        for r in events:
            data = r.data.model_dump(mode="json", by_alias=True)
            recruiter = domain.recruiter_of(r.topic, data, known)
            for endpoint in endpoints:
                if domain.reaches(endpoint.get("recruiter_id"), recruiter) and domain.wants(endpoint["events"], r.event.type):
                    docs.append({"_id": ids.derive("delivery", endpoint["_id"], r.event.id), "endpoint_id": endpoint["_id"],
                                 "recruiter_id": recruiter, "event_id": r.event.id, "event_type": r.event.type,
                                 "body": body_of(r), "state": PENDING, "next_at": now, "created_at": now,
                                 "attempts": [], "attempt_count": 0})
        if docs and await self.store.add_deliveries(docs):
            self.wake()
