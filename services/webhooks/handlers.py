"""The webhooks service's batch: jobs (whose prospects' events are whose), and every other
event fanned out to the endpoints that want it, one delivery each, stored before the batch's
offsets are committed (so nothing consumed is lost if the process dies before delivering)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from shared import ids, privacy, topics
from shared.contract import JobOpened, ProspectRegistered
from shared.refusals import Refused
from shared.messages import Received

from services.webhooks import domain, safety
from services.webhooks.crypto import SecretBox, new_secret
from services.webhooks.store import PENDING, WebhooksStore, utcnow

BOARDS = ("linkedin", "indeed")  # the boards that take dispositions


def body_of(r: Received) -> str:
    """The event as it came on Kafka (byte for byte when there is a record)."""
    if r.record is not None and r.record.value is not None:
        return bytes(r.record.value).decode()
    return json.dumps(r.event.model_dump(mode="json", exclude_none=True), separators=(",", ":"))


def delivery(delivery_id: str, endpoint_id: str, recruiter_id: str | None, event_id: str, event_type: str,
             body: str, now: Any, about: Iterable[str] = ()) -> dict[str, Any]:
    """A new delivery, due now; `about`: the person and prospect ids its event names (erasure finds it by them)."""
    return {"_id": delivery_id, "endpoint_id": endpoint_id, "recruiter_id": recruiter_id, "event_id": event_id,
            "event_type": event_type, "body": body, "state": PENDING, "next_at": now, "created_at": now,
            "attempts": [], "attempt_count": 0, "about": sorted(about)}


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
            people = privacy.about(data, lists=True)
            for endpoint in endpoints:
                if domain.reaches(endpoint.get("recruiter_id"), recruiter, r.event.type) and \
                        domain.wants(endpoint["events"], r.event.type):
                    docs.append(delivery(ids.derive("delivery", endpoint["_id"], r.event.id), endpoint["_id"], recruiter,
                                         r.event.id, r.event.type, body_of(r), now, people))
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
                                     json.dumps(body, separators=(",", ":")), now, {prospect_id}))
        return docs


# --- the HTTP side's use cases ---------------------------------------------------------------------


class EndpointRefused(Refused):
    """A request about endpoints that cannot be done: `status` (404, 409, 422) and why."""


class Endpoints:
    """A recruiter's endpoints: register (the URL checked against SSRF), list, remove, rotate the
    secret, enable again; their deliveries, and a delivery retried. Operators' and boards'
    endpoints are written at start (`prepare`)."""

    def __init__(self, store: WebhooksStore, box: SecretBox, rules: safety.Rules, *, rotation: timedelta,
                 max_endpoints: int) -> None:
        self.store = store
        self.box = box
        self.rules = rules
        self.rotation = rotation
        self.max_endpoints = max_endpoints

    def _secret(self, secret: str, endpoint_id: str, now: datetime) -> dict[str, Any]:
        return {"sealed": self.box.seal(secret, bound_to=endpoint_id), "created_at": now, "retires_at": None}

    async def add(self, recruiter_id: str, url: str, events: list[str]) -> tuple[dict[str, Any], str]:
        """The new endpoint and its secret (shown once)."""
        if len(await self.store.endpoints_of(recruiter_id)) >= self.max_endpoints:
            raise EndpointRefused(409, f"at most {self.max_endpoints} endpoints per recruiter: remove one first")
        try:
            _, host, port = safety.check_url(url, self.rules)
            await safety.resolve(host, port, self.rules)
        except safety.Unsafe as unsafe:
            raise EndpointRefused(422, str(unsafe)) from None
        now = utcnow()
        endpoint_id = ids.derive("endpoint", recruiter_id, url, str(now.timestamp()))
        secret = new_secret()
        doc = domain.endpoint_doc(endpoint_id, url, recruiter_id=recruiter_id, events=sorted(set(events)),
                                  secrets=[self._secret(secret, endpoint_id, now)], now=now)
        await self.store.add_endpoint(doc)
        return doc, secret

    async def own(self, endpoint_id: str, recruiter_id: str) -> dict[str, Any]:
        doc = await self.store.endpoint(endpoint_id, recruiter_id)
        if doc is None:
            raise EndpointRefused(404, "no such endpoint among yours")
        return doc

    async def listed(self, recruiter_id: str) -> list[dict[str, Any]]:
        return await self.store.endpoints_of(recruiter_id)

    async def delete(self, endpoint_id: str, recruiter_id: str) -> None:
        if not await self.store.delete_endpoint(endpoint_id, recruiter_id):
            raise EndpointRefused(404, "no such endpoint among yours")

    async def rotate(self, endpoint_id: str, recruiter_id: str) -> tuple[str, datetime]:
        """A new secret; the current one keeps signing beside it until the time returned."""
        doc = await self.own(endpoint_id, recruiter_id)
        now = utcnow()
        retires = now + self.rotation
        kept = [{**s, "retires_at": s.get("retires_at") or retires} for s in doc.get("secrets", [])
                if s.get("retires_at") is None or s["retires_at"].replace(tzinfo=now.tzinfo) > now]
        secret = new_secret()
        await self.store.set_secrets(endpoint_id, [*kept, self._secret(secret, endpoint_id, now)])
        return secret, retires

    async def enable(self, endpoint_id: str, recruiter_id: str) -> dict[str, Any]:
        await self.own(endpoint_id, recruiter_id)
        await self.store.enable(endpoint_id, recruiter_id)
        return await self.own(endpoint_id, recruiter_id)

    async def deliveries(self, endpoint_id: str, recruiter_id: str) -> list[dict[str, Any]]:
        await self.own(endpoint_id, recruiter_id)
        return await self.store.log(endpoint_id)

    async def retry(self, endpoint_id: str, delivery_id: str, recruiter_id: str) -> None:
        await self.own(endpoint_id, recruiter_id)
        if not await self.store.retry(endpoint_id, delivery_id):
            raise EndpointRefused(404, "no such delivery on this endpoint")

    async def prepare(self, operators: list[dict[str, Any]], dispositions: list[dict[str, Any]],
                      linkedin_integration_context: str | None) -> None:
        """The operators' endpoints (every recruiter's events) and the boards' disposition
        endpoints, as configured; every replica writes them at start."""
        now = utcnow()
        for endpoint in operators:
            endpoint_id = ids.derive("operator-endpoint", str(endpoint["url"]))
            await self.store.upsert_endpoint(domain.endpoint_doc(
                endpoint_id, endpoint["url"], recruiter_id=None, events=list(endpoint.get("events") or ["*"]),
                secrets=[self._secret(str(endpoint["secret"]), endpoint_id, now)], now=now))
        for board in dispositions:
            endpoint_id = f"disposition-{board['board']}"
            await self.store.upsert_endpoint(domain.endpoint_doc(
                endpoint_id, board["url"], recruiter_id=None, events=[], secrets=[], now=now,
                kind="disposition", board=board["board"],
                token=self.box.seal(board["token"], bound_to=endpoint_id) if board["token"] else None,
                integration_context=linkedin_integration_context if board["board"] == "linkedin" else None))
