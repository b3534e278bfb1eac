"""The dashboard's Kafka side: it publishes recruiters' commands and reads, from the end, the
topics that answer them or change what a recruiter sees.

Every replica reads every partition itself (no consumer group), so each sees every event it must
push to its own browsers. `reminders` is read from 36 hours back at start, so today's reminder
shows even if it came before this process started; the other topics from their end.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from shared import topics
from shared.contract import new_event
from shared.kafka import NotPublished, client_kwargs, publish_within
from shared.messages import Outgoing
from shared.logs import get_logger
from shared.settings import KafkaSettings

log = get_logger("prospectflow.dashboard")

WATCHED = (topics.COMMAND_RESULTS, topics.ASSESSMENTS, topics.MESSAGES, topics.REMINDERS, topics.PROSPECTS)
SOURCE = "prospectflow/dashboard"
REMINDER_LOOKBACK_S = 36 * 3600


class KafkaUnavailable(Exception):
    def __init__(self, bootstrap: str, detail: str) -> None:
        super().__init__(f"Kafka at {bootstrap}: {detail}")
        self.bootstrap = bootstrap
        self.detail = detail


class NoAnswer(Exception):
    """The command was published, but its result did not come in time."""


@dataclass(frozen=True)
class Update:
    """An event a recruiter's open pages may show."""

    topic: str  # the contract name
    type: str
    data: dict[str, Any]
    time: str | None


class Feed:
    def __init__(self, settings: KafkaSettings, *, command_timeout_s: float) -> None:
        self.settings = settings
        self.command_timeout_s = command_timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[Update]]] = {}
        self._everyone: set[asyncio.Queue[Update]] = set()
        self._reminders: dict[str, dict[str, Any]] = {}  # recruiter -> their latest reminder's data
        self._sends: OrderedDict[str, dict[str, dict[str, Any]]] = OrderedDict()  # command -> prospect -> result
        self.last_poll = 0.0
        self.started = False

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start in the background: the dashboard serves pages (with a clear error for actions)
        while Kafka is still unreachable, and catches up when it answers."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
        for client in (self._producer, self._consumer):
            try:
                if client is not None:
                    await client.stop()
            except Exception:  # noqa: BLE001 - shutting down
                pass

    @property
    def reading(self) -> bool:
        return self.started and time.monotonic() - self.last_poll < 10

    async def _connect(self) -> None:
        kwargs = client_kwargs(self.settings)  # aiokafka's clients belong to the running loop
        self._producer = AIOKafkaProducer(**kwargs, acks="all", enable_idempotence=True, request_timeout_ms=10_000)
        self._consumer = AIOKafkaConsumer(**kwargs, enable_auto_commit=False, group_id=None)
        await self._producer.start()
        await self._consumer.start()
        partitions = []
        for name in WATCHED:
            full = self.settings.topic(name)
            for p in sorted(await self._producer.partitions_for(full)):
                partitions.append(TopicPartition(full, p))
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        reminders = [tp for tp in partitions if tp.topic == self.settings.topic(topics.REMINDERS)]
        since = int((time.time() - REMINDER_LOOKBACK_S) * 1000)
        for tp, found in (await self._consumer.offsets_for_times({tp: since for tp in reminders})).items():
            if found is not None:
                self._consumer.seek(tp, found.offset)
        for tp in partitions:
            await self._consumer.position(tp)  # pin "now" before any command is published
        self.started = True

    async def _run(self) -> None:
        backoff = 0.5
        down_since: float | None = None
        while not self.started:
            try:
                await self._connect()
            except (KafkaError, OSError) as exc:
                for client in (self._producer, self._consumer):
                    try:
                        if client is not None:
                            await client.stop()
                    except Exception:  # noqa: BLE001 - a client that never started
                        pass
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("Kafka is not reachable yet; retrying", extra={"fault": repr(exc)[:200]})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5)
        if down_since is not None:
            log.info("Kafka reachable", extra={"after_s": round(time.monotonic() - down_since, 1)})
        log.info("reading updates", extra={"topics": [self.settings.topic(t) for t in WATCHED]})
        assert self._consumer is not None
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=500, max_records=1_000)
            except KafkaError as exc:
                log.warning("reading updates failed; retrying", extra={"fault": repr(exc)[:200]})
                await asyncio.sleep(1)
                continue
            self.last_poll = time.monotonic()
            for records in batch.values():
                for record in records:
                    self._dispatch(record.topic, record.value)

    # --- what comes in ----------------------------------------------------------------------

    def _dispatch(self, full_topic: str, value: bytes | None) -> None:
        try:
            event = json.loads(value) if value else None
        except ValueError:
            return
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            return
        topic = topics.strip_prefix(full_topic, self.settings.topic_prefix)
        data: dict[str, Any] = event["data"]
        kind = str(event.get("type", ""))
        update = Update(topic, kind, data, event.get("time"))
        if kind == "command.completed":
            waiter = self._waiters.pop(str(data.get("command_id")), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(data)
        elif kind in ("message.sent", "message.failed"):
            results = self._sends.get(str(data.get("command_id")))
            if results is not None:
                results[str(data.get("prospect_id"))] = {"type": kind, **data}
        elif kind == "follow_up.reminder_due":
            self._reminders[str(data.get("recruiter_id"))] = data
        recruiter = data.get("recruiter_id")
        targets = set(self._everyone) if topic == topics.PROSPECTS else set(self._subscribers.get(str(recruiter), ()))
        for queue in targets:
            if queue.full():
                continue  # a browser that does not keep up reloads; the feed never waits for one
            queue.put_nowait(update)

    def subscribe(self, recruiter_id: str) -> asyncio.Queue[Update]:
        queue: asyncio.Queue[Update] = asyncio.Queue(maxsize=1_000)
        self._subscribers.setdefault(recruiter_id, set()).add(queue)
        self._everyone.add(queue)
        return queue

    def unsubscribe(self, recruiter_id: str, queue: asyncio.Queue[Update]) -> None:
        self._subscribers.get(recruiter_id, set()).discard(queue)
        self._everyone.discard(queue)

    def reminder_today(self, recruiter_id: str, now: datetime | None = None) -> dict[str, Any] | None:
        """The recruiter's reminder of today (their local date), if one came."""
        reminder = self._reminders.get(recruiter_id)
        if reminder is None:
            return None
        try:
            zone = ZoneInfo(str(reminder.get("timezone") or "UTC"))
        except (KeyError, ValueError):
            zone = ZoneInfo("UTC")
        today = (now or datetime.now(timezone.utc)).astimezone(zone).date().isoformat()
        return reminder if reminder.get("date") == today else None

    def send_results(self, command_id: str) -> dict[str, dict[str, Any]]:
        return dict(self._sends.get(command_id, {}))

    # --- commands ---------------------------------------------------------------------------

    async def publish(self, topic: str, kind: str, event_id: str, data: Any, key: str, *, timeout_s: float = 2) -> bool:
        """Publish one event and wait (briefly) for Kafka's acknowledgement; False if it did not come."""
        if not self.started or self._producer is None:
            return False
        event = new_event(event_id=event_id, source=SOURCE, type=kind, data=data)
        try:  # the metadata wait included: a topic nobody made yet must not hold the page
            await publish_within(self._producer, [Outgoing(topic, key, event)], topic_prefix=self.settings.topic_prefix,
                                 deadline_s=timeout_s)
        except NotPublished:
            return False
        return True

    async def command(self, topic: str, kind: str, data: Any, recruiter_id: str) -> dict[str, Any]:
        """Publish a command (a contract model) and wait for its `command.completed`."""
        command_id = str(uuid.uuid4())
        results = await self.commands(topic, kind, [(command_id, data)], recruiter_id, wait_s=self.command_timeout_s)
        if command_id not in results:
            raise NoAnswer(command_id)
        return results[command_id]

    async def commands(self, topic: str, kind: str, commands: list[tuple[str, Any]], recruiter_id: str, *,
                       wait_s: float, correlationid: str | None = None,
                       track_messages: bool = False) -> dict[str, dict[str, Any]]:
        """Publish commands under the given ids (acknowledged by Kafka, all of them, or
        KafkaUnavailable), then wait up to `wait_s` for their `command.completed`; returns the
        results that came. The same ids again are the same commands: their services do them once."""
        if not self.started:
            raise KafkaUnavailable(self.settings.bootstrap_servers, "not connected yet (set KAFKA_BOOTSTRAP_SERVERS)")
        loop = asyncio.get_running_loop()
        waiters = {command_id: loop.create_future() for command_id, _ in commands}
        self._waiters.update(waiters)
        if track_messages:
            for command_id in waiters:
                self._sends[command_id] = {}
            while len(self._sends) > 200:
                self._sends.popitem(last=False)
        try:
            assert self._producer is not None
            events = [new_event(event_id=command_id, source=SOURCE, type=kind, data=data, correlationid=correlationid)
                      for command_id, data in commands]
            try:
                await publish_within(self._producer, [Outgoing(topic, recruiter_id, event) for event in events],
                                     topic_prefix=self.settings.topic_prefix, deadline_s=15)
            except NotPublished as exc:
                raise KafkaUnavailable(self.settings.bootstrap_servers, f"{exc} (set KAFKA_BOOTSTRAP_SERVERS)") from None
            if wait_s > 0:
                await asyncio.wait([asyncio.shield(w) for w in waiters.values()], timeout=wait_s)
            return {command_id: w.result() for command_id, w in waiters.items() if w.done() and not w.cancelled()}
        finally:
            for command_id in waiters:
                self._waiters.pop(command_id, None)
