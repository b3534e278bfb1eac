"""Delivering: each due delivery POSTed to its endpoint, signed per Standard Webhooks, with a
timeout, no redirects followed, to an address checked against the SSRF rules; the answer
decides (domain.after_attempt) whether it is delivered, retried later, or dead.

Deliveries run concurrently (WEBHOOKS_CONCURRENCY per replica), each on its own: a slow
endpoint holds up only its own deliveries."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
from prometheus_client import Counter, Gauge, Histogram
from standardwebhooks import Webhook

from shared.logs import get_logger

from services.webhooks import domain, safety
from services.webhooks.crypto import SecretBox
from services.webhooks.store import DEAD, DELIVERED, PENDING, WebhooksStore, utcnow

log = get_logger("prospectflow.webhooks.deliver")

ATTEMPTS = Counter("prospectflow_webhook_attempts_total", "Delivery attempts, by outcome", ["outcome"])
SECONDS = Histogram("prospectflow_webhook_attempt_seconds", "Time of a delivery attempt",
                    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
IN_FLIGHT = Gauge("prospectflow_webhook_deliveries_in_flight", "Deliveries being attempted now")
USER_AGENT = "Prospectflow-Webhooks/1.0 (Standard Webhooks)"
MAX_ANSWER_BYTES = 64 * 1024
"""The most of an endpoint's answer read: its status is what counts."""


def active_secrets(endpoint: dict[str, Any], box: SecretBox, now: datetime) -> list[str]:
    """The endpoint's secrets that still sign: the current one, and an old one until it retires."""
    return [box.open(s["sealed"], bound_to=endpoint["_id"]) for s in endpoint.get("secrets", [])
            if s.get("retires_at") is None or s["retires_at"].replace(tzinfo=now.tzinfo) > now]


def signed_headers(secrets: list[str], msg_id: str, body: str, now: datetime) -> dict[str, str]:
    signatures = " ".join(Webhook(secret).sign(msg_id, now, body) for secret in secrets)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signatures,
            "content-type": "application/json", "user-agent": USER_AGENT}


class Deliverer:
    def __init__(self, store: WebhooksStore, box: SecretBox, rules: safety.Rules, *, schedule: list[float],
                 timeout_s: float, disable_after: timedelta, concurrency: int, poll_s: float, lease_s: float) -> None:
        self.store, self.box, self.rules = store, box, rules
        self.schedule, self.timeout_s, self.disable_after = schedule, timeout_s, disable_after
        self.concurrency, self.poll_s, self.lease = concurrency, poll_s, timedelta(seconds=lease_s)
        self._wake = asyncio.Event()
        self._inflight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self._http = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, trust_env=False,
                                       limits=httpx.Limits(max_connections=concurrency * 2))

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        # Attempts under way are left to their lease: taken again after a restart, never lost.
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._http.aclose()

    async def _run(self) -> None:
        while True:
            try:
                room = self.concurrency - len(self._inflight)
                due = await self.store.due(utcnow(), limit=max(room, 0) * 2) if room > 0 else []
                for doc in due:
                    if len(self._inflight) >= self.concurrency:
                        break
                    if doc["_id"] in self._inflight:
                        continue
                    self._inflight.add(doc["_id"])
                    task = asyncio.create_task(self._one(doc["_id"]))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception:  # noqa: BLE001 - the database is away: try again shortly
                log.warning("could not read due deliveries; trying again", exc_info=True)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            except TimeoutError:
                pass

    async def _one(self, delivery_id: str) -> None:
        IN_FLIGHT.inc()
        try:
            delivery = await self.store.take(delivery_id, utcnow(), self.lease)
            if delivery is not None:
                await self._attempt(delivery)
        except Exception:  # noqa: BLE001 - left to its lease; taken again after it
            log.warning("a delivery attempt could not be recorded", exc_info=True, extra={"delivery_id": delivery_id})
        finally:
            IN_FLIGHT.dec()
            self._inflight.discard(delivery_id)
            self._wake.set()

    async def _attempt(self, delivery: dict[str, Any]) -> None:
        endpoint = await self.store.endpoint(delivery["endpoint_id"])
        now = utcnow()
        if endpoint is None or endpoint.get("disabled"):
            reason = "endpoint deleted" if endpoint is None else f"endpoint disabled: {endpoint['disabled']['reason']}"
            await self.store.attempted(delivery["_id"], {"at": now, "status": None, "duration_ms": 0, "error": reason},
                                       DEAD, None, reason)
            return
        status, error, took = await self.post(endpoint, delivery, now)
        decided = domain.after_attempt(status, attempts=delivery.get("attempt_count", 0) + 1, schedule=self.schedule,
                                       now=utcnow(), failing_since=endpoint.get("failing_since"),
                                       disable_after=self.disable_after)
        ATTEMPTS.labels(decided.outcome.value).inc()
        SECONDS.observe(took)
        state = {domain.Outcome.DELIVERED: DELIVERED, domain.Outcome.RETRY: PENDING, domain.Outcome.DEAD: DEAD}[decided.outcome]
        attempt = {"at": now, "status": status, "duration_ms": round(took * 1000, 1), "error": error}
        dead_reason = None
        if state == DEAD:
            dead_reason = decided.disable or f"no 2xx after {delivery.get('attempt_count', 0) + 1} attempts"
        await self.store.attempted(delivery["_id"], attempt, state, decided.next_at, dead_reason)
        await self.store.endpoint_answered(endpoint["_id"], state == DELIVERED, now, decided.disable)
        if decided.disable:
            log.warning("endpoint disabled", extra={"endpoint_id": endpoint["_id"], "reason": decided.disable})

    async def post(self, endpoint: dict[str, Any], delivery: dict[str, Any], now: datetime) -> tuple[int | None, str | None, float]:
        """One attempt: (status or None, error or None, seconds)."""
        began = time.perf_counter()
        try:
            scheme, host, port = safety.check_url(endpoint["url"], self.rules)
            address = await safety.resolve(host, port, self.rules)
        except safety.Unsafe as unsafe:
            return None, f"refused: {unsafe}", time.perf_counter() - began
        url = httpx.URL(endpoint["url"])
        pinned = url.copy_with(host=address)  # connect to the address just checked, not to a new DNS answer
        if endpoint.get("kind") == "disposition":  # a board's own API: its bearer token, no signature
            headers = {"content-type": "application/json", "user-agent": USER_AGENT, "x-restli-protocol-version": "2.0.0"}
            if endpoint.get("token"):
                headers["authorization"] = "Bearer " + self.box.open(endpoint["token"], bound_to=endpoint["_id"])
        else:
            headers = signed_headers(active_secrets(endpoint, self.box, now), delivery["event_id"], delivery["body"], now)
        headers["host"] = url.netloc.decode()
        try:
            # One deadline for the whole attempt (connect, send, answer): httpx's timeout is per
            # read, so an endpoint trickling its answer held a delivery for as long as it liked.
            async with asyncio.timeout(self.timeout_s):
                async with self._http.stream("POST", pinned, content=delivery["body"].encode(), headers=headers,
                                             extensions={"sni_hostname": host} if scheme == "https" else {}) as response:
                    read = 0
                    async for chunk in response.aiter_raw():  # the answer's body is not needed: read a little
                        read += len(chunk)
                        if read >= MAX_ANSWER_BYTES:
                            break
        except (TimeoutError, httpx.TimeoutException):
            return None, f"no answer within {self.timeout_s:g} s", time.perf_counter() - began
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300], time.perf_counter() - began
        error = None
        if 300 <= response.status_code < 400:
            error = f"redirect to {response.headers.get('location', '?')[:200]} not followed"
        elif response.status_code >= 400:
            error = f"answered {response.status_code}"
        return response.status_code, error, time.perf_counter() - began
