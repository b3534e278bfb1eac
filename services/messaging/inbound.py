"""Inbound mail, the use case: what comes back to the addresses our mails carry (replies,
automatic answers, bounces, spam complaints), by SMTP (`listener.py`) or by a mail provider's
webhook (`providers.py`, through messaging's HTTP side), and the one event each becomes.

A mail is stored (collection `inbound`, id derived from its own `Message-ID`, else its bytes)
before the sender hears `250`, so an outage means the sender retries and nothing is lost, and
the same mail delivered twice is stored once. Stored mails are then processed in batches:
classified (`classify`), matched to the message the token in its address names, turned into
their event by the reply decision (`replies.py`; id derived from the stored mail, so
reprocessing after a crash publishes the same event, which consumers dedupe on), and marked
done; replies are handed on to the recruiter (`forwarding.py`). A mail that matches nothing of
ours is kept aside with the reason (`prospectflow inbound list`). A sweep reprocesses what a
crash left stored but not done.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

from prometheus_client import Counter

from services.messaging.addresses import ReturnAddresses
from services.messaging.forwarding import hand_on
from services.messaging.mail import Mailer
from services.messaging.replies import DONE, FAILED, KEPT, RECEIVED, Decided, candidates, classify_each, decide, inbound_id
from services.messaging.store import MessagingStore
from shared.logs import get_logger
from shared.messages import Publishes

log = get_logger("prospectflow.messaging.inbound")
INBOUND = Counter("prospectflow_inbound_mails", "Inbound mails by how they came (smtp, webhook) and what they were "
                  "(reply, auto_reply, bounce, complaint, kept, duplicate, refused).", ["via", "kind"])


class Inbound:
    """Stores inbound mail, processes it in batches, and sweeps up what a crash left."""

    def __init__(self, store: MessagingStore, publisher: Publishes, addresses: ReturnAddresses,
                 mailer: Mailer | None, *, sender: str, forward: bool = True, batch: int = 200,
                 sweep_after_s: float = 30.0) -> None:
        self.store = store
        self.publisher = publisher
        self.addresses = addresses
        self.mailer = mailer
        self.sender = sender
        self.forward = forward
        self.batch = batch
        self.sweep_after_s = sweep_after_s
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._forwards: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def accept(self, raw: bytes, recipients: list[str], via: str) -> tuple[str, bool]:
        """Store a mail durably; (its id, False if it was stored before). Raises when it cannot
        be stored: the caller tells the sender to retry."""
        now = datetime.now(timezone.utc)
        # milliseconds, as the database keeps it: processed from memory or read back, the same event
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        doc: dict[str, Any] = {"_id": inbound_id(raw), "raw": raw, "size": len(raw), "recipients": recipients[:20],
                               "via": via, "received_at": now, "state": RECEIVED}
        if not await self.store.store_inbound(doc):
            INBOUND.labels(via, "duplicate").inc()
            return str(doc["_id"]), False
        self._queue.put_nowait(doc)
        return str(doc["_id"]), True

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work()), asyncio.create_task(self._forwarding()),
                       asyncio.create_task(self._sweep())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            docs = [await self._queue.get()]
            while not self._queue.empty() and len(docs) < self.batch:
                docs.append(self._queue.get_nowait())
            try:
                await self.process(docs)
            except Exception:  # noqa: BLE001 - they stay stored; the sweep processes them again
                log.exception("inbound mails not processed yet; the sweep retries them",
                              extra={"count": len(docs)})

    async def _sweep(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - the next sweep tries again
                log.exception("inbound sweep failed")
            await asyncio.sleep(self.sweep_after_s)

    async def sweep(self, older_than_s: float | None = None) -> int:
        """Process what was stored but not done (a crash, an outage) a while ago."""
        before = datetime.now(timezone.utc) - timedelta(seconds=self.sweep_after_s if older_than_s is None
                                                         else older_than_s)
        docs = await self.store.inbound_waiting(before, self.batch * 5)
        for start in range(0, len(docs), self.batch):
            try:
                await self.process(docs[start:start + self.batch])
            except Exception:  # noqa: BLE001 - the database or Kafka: this batch waits, the next ones go on
                log.exception("inbound mails not processed yet; the next sweep retries them")
        for d in await self.store.inbound_to_forward(before, self.batch * 5):
            self._forwards.put_nowait(d)
        return len(docs)

    async def process(self, docs: list[dict[str, Any]]) -> None:
        # Parsing is CPU on what strangers wrote: off the event loop, so sending, Kafka, HTTP and
        # the listener go on meanwhile; a mail that cannot be read fails alone, with its error.
        found = await asyncio.to_thread(classify_each, [bytes(d["raw"]) for d in docs])
        wanted = {i for d in docs for i in candidates(d.get("recipients", []), self.addresses)}
        messages = await self.store.by_ids("messages", wanted)
        decided = {}
        for d, classified in zip(docs, found):
            try:
                if isinstance(classified, Exception):
                    raise classified
                decided[d["_id"]] = decide(d["_id"], classified, d.get("recipients", []), d["received_at"],
                                           self.addresses, messages)
            except Exception as exc:  # noqa: BLE001 - this mail only: kept with its error, nothing behind it waits
                decided[d["_id"]] = Decided(failed=f"{type(exc).__name__}: {exc}"[:500])
        outcomes = list(decided.values())
        # Suppressions first: once the event is out, the next send must already see them.
        bounced = [o.bounced for o in outcomes if o.bounced]
        if bounced:
            await self.store.note_bounced(bounced)
        complained = {o.complained: {"reason": "complaint", "at": datetime.now(timezone.utc)}
                      for o in outcomes if o.complained}
        if complained:
            await self.store.suppress(complained)
        await self.publisher.publish([e for o in outcomes for e in o.events])
        now = datetime.now(timezone.utc)
        updates = []
        for d in docs:
            o = decided[d["_id"]]
            fields: dict[str, Any] = {"kind": o.kind, "message_id": o.message_id, "prospect_id": o.prospect_id,
                                      "processed_at": now, "done_at": now}  # retention counts from it, kept ones too
            if o.failed:
                fields.update(state=FAILED, reason=o.failed)
                log.warning("an inbound mail could not be read; kept with its error",
                            extra={"inbound_id": d["_id"], "fault": o.failed})
            elif o.kept:
                fields.update(state=KEPT, reason=o.kept)
                log.warning("inbound mail kept aside", extra={"inbound_id": d["_id"], "reason": o.kept})
            else:
                fields.update(state=DONE)
                if o.forward and self.forward:
                    # handed on apart from this path: the flag need not wait for an SMTP transaction
                    fields.update(to_forward=True, forward=o.forward)
            INBOUND.labels(d.get("via", "smtp"), "failed" if o.failed else "kept" if o.kept else str(o.kind)).inc()
            updates.append(({"_id": d["_id"]}, fields))
        await self.store.mark_inbound(updates)
        for d, (_, fields) in zip(docs, updates):
            if fields.get("to_forward"):
                self._forwards.put_nowait({**d, **fields})

    async def _forwarding(self) -> None:
        while True:
            docs = [await self._forwards.get()]
            while not self._forwards.empty() and len(docs) < 50:
                docs.append(self._forwards.get_nowait())
            try:
                ended = await hand_on(docs, self.mailer, sender=self.sender) if self.mailer is not None else {}
                await self.store.mark_inbound([({"_id": i}, fields) for i, fields in ended.items()])
            except Exception:  # noqa: BLE001 - still to_forward: the sweep hands them on
                log.exception("replies not handed on yet; the sweep retries them", extra={"count": len(docs)})
