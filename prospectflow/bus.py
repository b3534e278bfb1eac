"""Kafka as the tool uses it: publish events, watch topics from now on, read what is there,
and ask how far a service's consumer group has come."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from prospectflow.errors import CliError
from shared.contract import CLOUDEVENTS_CONTENT_TYPE
from shared.kafka import client_kwargs
from shared.settings import KafkaSettings

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Event:
    """A record of a topic whose value is a JSON object (a CloudEvent, as far as we care)."""

    record: ConsumerRecord
    value: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.value.get("type", ""))

    @property
    def data(self) -> dict[str, Any]:
        data = self.value.get("data")
        return data if isinstance(data, dict) else {}


def as_event(record: ConsumerRecord) -> Event | None:
    try:
        value = json.loads(record.value) if record.value is not None else None
    except ValueError:
        return None
    return Event(record, value) if isinstance(value, dict) else None


class Bus:
    """One producer and the clients the tool needs, for one command's lifetime."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._kwargs = client_kwargs(settings)
        self.producer = AIOKafkaProducer(**self._kwargs, acks="all", enable_idempotence=True,
                                         request_timeout_ms=15_000)
        self._topics: set[str] | None = None

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    def _unreachable(self, exc: Exception) -> CliError:
        return CliError(f"cannot reach Kafka at {self.settings.bootstrap_servers} "
                        f"(KAFKA_BOOTSTRAP_SERVERS): {exc or type(exc).__name__}. Is the stack up (`make run`)?")

    async def __aenter__(self) -> Bus:
        try:
            await self.producer.start()
        except KafkaError as exc:
            await self.producer.stop()
            raise self._unreachable(exc) from None
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def existing_topics(self, *, refresh: bool = False) -> set[str]:
        if self._topics is None or refresh:
            consumer = AIOKafkaConsumer(**self._kwargs)
            try:
                await consumer.start()
                self._topics = set(await consumer.topics())
            except KafkaConnectionError as exc:
                raise self._unreachable(exc) from None
            finally:
                await consumer.stop()
        return self._topics

    async def require(self, *names: str) -> list[str]:
        """The prefixed names of contract topics, which must exist: an error says what to start."""
        full = [self.topic(n) for n in names]
        missing = [t for t in full if t not in await self.existing_topics()]
        if missing:
            raise CliError(f"topic {', '.join(missing)} does not exist on {self.settings.bootstrap_servers}"
                           f"{' (prefix ' + repr(self.settings.topic_prefix) + ')' if self.settings.topic_prefix else ''}:"
                           " the services create their topics when they start. Are they running (`make run`)?")
        return full

    async def ensure(self, name: str, *, configs: dict[str, str] | None = None) -> str:
        """Create one of the tool's own topics when missing (one partition)."""
        full = self.topic(name)
        if full in await self.existing_topics():
            return full
        admin = AIOKafkaAdminClient(**self._kwargs)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(full, num_partitions=1, replication_factor=self.settings.replication_factor,
                                                topic_configs=configs or {})])
        except TopicAlreadyExistsError:
            pass
        finally:
            await admin.close()
        await self.existing_topics(refresh=True)
        return full

    async def publish(self, topic: str, key: str | bytes | None, value: dict[str, Any] | bytes,
                      headers: Headers | None = None) -> tuple[int, int]:
        """Publish one message to a full topic name; return where it landed."""
        results = await self.publish_many(topic, [(key, value, headers)])
        return results[0]

    async def publish_many(
        self, topic: str, messages: Sequence[tuple[str | bytes | None, dict[str, Any] | bytes, Headers | None]],
        progress: Callable[[int], None] | None = None,
    ) -> list[tuple[int, int]]:
        futures = []
        try:
            for key, value, headers in messages:
                raw = value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode()
                if headers is None:
                    headers = [("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())]
                futures.append(await self.producer.send(
                    topic, raw, key=key.encode() if isinstance(key, str) else key, headers=headers))
                if progress is not None and len(futures) % 100 == 0:
                    progress(100)
            metadata = await asyncio.gather(*futures)
        except KafkaError as exc:
            raise CliError(f"publishing to {topic} on {self.settings.bootstrap_servers} failed: {exc}") from None
        if progress is not None:
            progress(len(futures) % 100)
        return [(m.partition, m.offset) for m in metadata]

    # --- reading ---------------------------------------------------------------------------------

    async def _consumer(self, topics: Sequence[str]) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
        consumer = AIOKafkaConsumer(**self._kwargs, enable_auto_commit=False, group_id=None)
        try:
            await consumer.start()
        except KafkaError as exc:
            await consumer.stop()
            raise self._unreachable(exc) from None
        partitions = []
        try:
            for t in topics:  # the producer's metadata, public and waited for
                partitions += [TopicPartition(t, p) for p in sorted(await self.producer.partitions_for(t))]
        except KafkaError as exc:
            await consumer.stop()
            raise CliError(f"cannot read {', '.join(topics)} on {self.settings.bootstrap_servers}: {exc}") from None
        consumer.assign(partitions)
        return consumer, partitions

    async def watch(self, *topics: str) -> Watch:
        """Start reading `topics` (full names) from their current ends: call before publishing
        what they should answer."""
        consumer, partitions = await self._consumer(topics)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # pin "now" before anything is published
        return Watch(consumer)

    async def read(self, topic: str, *, last: int | None = None) -> list[ConsumerRecord]:
        """What `topic` holds now (or its last `last` records per partition), in offset order per
        partition."""
        consumer, partitions = await self._consumer([topic])
        try:
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            wanted = {}
            for tp in partitions:
                start = starts[tp] if last is None else max(starts[tp], ends[tp] - last)
                if ends[tp] > start:
                    consumer.seek(tp, start)
                    wanted[tp] = ends[tp]
                else:
                    consumer.pause(tp)
            records: list[ConsumerRecord] = []
            while wanted:
                batch = await consumer.getmany(*wanted, timeout_ms=1000)
                for tp, got in batch.items():
                    records.extend(r for r in got if r.offset < wanted.get(tp, 0))
                for tp in list(wanted):
                    if await consumer.position(tp) >= wanted[tp]:
                        del wanted[tp]
            return records
        finally:
            await consumer.stop()

    async def lag(self, group_id: str, topics: Sequence[str]) -> dict[str, int]:
        """Per full topic name: records not yet committed by `group_id` (all, if it committed none)."""
        admin = AIOKafkaAdminClient(**self._kwargs)
        await admin.start()
        consumer, partitions = await self._consumer(topics)
        try:
            committed = await admin.list_consumer_group_offsets(group_id, partitions=partitions)
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
        finally:
            await consumer.stop()
            await admin.close()
        lag: dict[str, int] = {t: 0 for t in topics}
        for tp in partitions:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else starts[tp]
            lag[tp.topic] += max(0, ends[tp] - done)
        return lag

    async def caught_up(self, group_id: str, topics: Sequence[str], *, timeout_s: float, what: str) -> None:
        """Wait until `group_id` has committed everything on `topics` up to now: the service has
        done (written, published) all of it."""
        deadline = time.monotonic() + timeout_s
        while True:
            lag = await self.lag(group_id, topics)
            if not any(lag.values()):
                return
            if time.monotonic() > deadline:
                left = ", ".join(f"{t}: {n}" for t, n in lag.items() if n)
                raise CliError(f"{what} has not caught up within {timeout_s:.0f} s (consumer group {group_id!r}, "
                               f"not yet done: {left}). Is it running?")
            await asyncio.sleep(0.2)


class Watch:
    """A topic reader started before the question was asked, so it cannot miss the answer."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer

    async def events(self, *, timeout_s: float) -> AsyncIterator[Event]:
        """Events arriving from the start of the watch, until `timeout_s` has passed."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            batch = await self._consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000))
            for records in batch.values():
                for record in records:
                    event = as_event(record)
                    if event is not None:
                        yield event

    async def close(self) -> None:
        await self._consumer.stop()
