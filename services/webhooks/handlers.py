"""The webhooks service's batch: jobs (whose prospects' events are whose), and every other
event fanned out to the endpoints that want it, one delivery each, stored before the batch's
offsets are committed (so nothing consumed is lost if the process dies before delivering)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from shared import ids, topics
from shared.contract import JobOpened, ProspectRegistered
from shared.messages import Received

from services.webhooks import domain
from services.webhooks.store import PENDING, WebhooksStore, utcnow

BOARDS = ("linkedin", "indeed")  # the boards that take dispositions


def body_of(r: Received) -> str:
    """The event as it came on Kafka (byte for byte when there is a record)."""
    if r.record is not None and r.record.value is not None:
        return bytes(r.record.value).decode()
    return json.dumps(r.event.model_dump(mode="json", exclude_none=True), separators=(",", ":"))


def delivery(delivery_id: str, endpoint_id: str, recruiter_id: str | None, event_id: str, event_type: str,
             body: str, now: Any) -> dict[str, Any]:
    """A new delivery, due now."""
    return {"_id": delivery_id, "endpoint_id": endpoint_id, "recruiter_id": recruiter_id, "event_id": event_id,
            "event_type": event_type, "body": body, "state": PENDING, "next_at": now, "created_at": now,
            "attempts": [], "attempt_count": 0}


class Fanout:
    def __init__(self, store: WebhooksStore, wake: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.wake = wake

    async def __call__(self, batch: list[Received]) -> None:
        jobs = [(job.data.job_id, job.data.recruiter.recruiter_id) for job in
                (r.of(JobOpened) for r in batch if r.topic == topics.JOBS and r.event.type in ("job.opened", "job.updated"))]
        await self.store.save_jobs(jobs)
        events = [r for r in batch if r.topic != topics.JOBS]
        if not events:
            return
        known = dict(jobs)
        prospects = [r.of(ProspectRegistered).data for r in events if r.topic == topics.PROSPECTS]
        known.update(await self.store.job_recruiters({p.job_id for p in prospects} - set(known)))
        applications = [(p.prospect_id, p.inquiry.board, p.inquiry.board_inquiry_id) for p in prospects
                        if p.inquiry.board in BOARDS and p.inquiry.board_inquiry_id]
        await self.store.save_applications(applications)
        endpoints = await self.store.active_endpoints()
        boards = [e for e in endpoints if e.get("kind") == "disposition"]
        endpoints = [e for e in endpoints if e.get("kind") != "disposition"]
        now = utcnow()
        docs: list[dict[str, Any]] = []
        if boards:
            docs += await self._dispositions(events, boards, now)
        for r in events:
            data = r.data.model_dump(mode="json", by_alias=True)
            recruiter = domain.recruiter_of(r.topic, data, known)
            for endpoint in endpoints:
                if domain.reaches(endpoint.get("recruiter_id"), recruiter) and domain.wants(endpoint["events"], r.event.type):
                    docs.append(delivery(ids.derive("delivery", endpoint["_id"], r.event.id), endpoint["_id"], recruiter,
                                         r.event.id, r.event.type, body_of(r), now))
        if docs and await self.store.add_deliveries(docs):
            self.wake()

    async def _dispositions(self, events: list[Received], boards: list[dict[str, Any]], now: Any) -> list[dict[str, Any]]:
        """The boards' own requests telling what became of their applications: the first view
        (once per application, however often the page is opened), a rejection, a shortlisting."""
        news = [(r, what, str(getattr(r.data, "prospect_id"))) for r in events
                if (what := domain.disposition_of(r.event.type, r.data.model_dump(mode="json")))]
        if not news:
            return []
        known = await self.store.applications_of({prospect_id for _, _, prospect_id in news})
        docs = []
        for r, what, prospect_id in news:
            application = known.get(prospect_id)
            for board in boards:
                if application is None or application["board"] != board["board"]:
                    continue
                at = getattr(r.data, "viewed_at", None) or r.time
                body = domain.disposition_body(board["board"], what, application["application_id"], at,
                                               board.get("integration_context"))
                if body is None:
                    continue
                once = what if what == "viewed" else r.event.id
                docs.append(delivery(ids.derive("disposition", board["_id"], once, prospect_id),
                                     board["_id"], getattr(r.data, "recruiter_id", None), r.event.id, f"disposition.{what}",
                                     json.dumps(body, separators=(",", ":")), now))
        return docs
