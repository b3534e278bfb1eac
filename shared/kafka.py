"""Kafka wiring: the broker factory, publishing, dead letters and the batch consumer.

Every consumer of ours takes messages in batches (one bulk database write per batch, not one
round trip per message) and commits offsets only after the batch's writes and publishes are
done: at least once in. Output events carry ids derived from their cause, so a replay after a
crash re-sends the same ids: effectively once out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
import time
import weakref
from itertools import chain
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Union

from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared import topics as topic_names
from shared.contract import CLOUDEVENTS_CONTENT_TYPE, documented_envelope
from shared.messages import BadMessage, Outgoing, Received, decode_json, encode_event, received
from shared.logs import get_logger
from shared.outbox import Trailing
from shared.retry import InfrastructureError, retry_forever
from shared.settings import KafkaSettings, ServiceSettings
from shared import telemetry

log = get_logger("prospectflow.kafka")

# A batch's events are handed to the producer all at once (`send_records`), so waiting for more
# buys little; every millisecond waited is added to each hop of an event's way.
LINGER_MS = 1

CLOUDEVENTS_HEADERS = [("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())]


# --- connection --------------------------------------------------------------------------------


def _ssl_context(settings: KafkaSettings) -> ssl.SSLContext | None:
    if settings.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(cafile=settings.ssl_cafile)
    if settings.ssl_certfile:
        context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile)
    return context


def security(settings: KafkaSettings) -> BaseSecurity | None:
    """TLS and SASL as FastStream wants them, from KAFKA_SECURITY_PROTOCOL and friends."""
    context = _ssl_context(settings)
    if settings.security_protocol.startswith("SASL"):
        if not settings.sasl_username or settings.sasl_password is None:
            raise ValueError("KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required for SASL")
        cls = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}[
            settings.sasl_mechanism
        ]
        return cls(settings.sasl_username, settings.sasl_password.get_secret_value(),
                   ssl_context=context, use_ssl=context is not None)
    if context is not None:
        return BaseSecurity(ssl_context=context)
    return None


def client_kwargs(settings: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for plain aiokafka clients (admin, tools, tests)."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.servers,
        "security_protocol": settings.security_protocol,
    }
    context = _ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    if settings.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = settings.sasl_mechanism
        kwargs["sasl_plain_username"] = settings.sasl_username
        kwargs["sasl_plain_password"] = settings.sasl_password.get_secret_value() if settings.sasl_password else None
    return kwargs


def broker_factory(settings: KafkaSettings, *, client_id: str, description: str = "") -> KafkaBroker:
    """A FastStream Kafka broker: the consumer side (batches, our own commits) and the AsyncAPI
    document; what a service publishes goes through its `Producer`. Should anything publish
    through the broker itself, its producer too waits for all in-sync replicas and is idempotent."""
    return KafkaBroker(
        settings.servers,  # a list: "a:9092,b:9092" as one string is one unknown host to FastStream
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=LINGER_MS,
        max_batch_size=256 * 1024,  # bulk publishes of hundreds of events per partition
        security=security(settings),
        description=description,
        # We validate ourselves (dead letters need the original bytes), so FastStream
        # must not cast or reject bodies; the annotations only document the payloads.
        apply_types=False,
        logger=get_logger(f"prospectflow.{client_id}"),
        log_level=logging.DEBUG,  # one line per message is too much at INFO
    )


async def ensure_topics(settings: KafkaSettings, names: Iterable[str]) -> list[str]:
    """Create the given contract topics (prefixed) and their dead-letter topics if missing."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        return await topic_names.ensure_topics(
            admin,
            topic_names.with_dead_letters(settings.topic(n) for n in names),
            partitions=settings.partitions,
            replication_factor=settings.replication_factor,
            retention_days=settings.retention_days,
        )
    finally:
        await admin.close()


class Producer:
    """The service's own aiokafka producer, for what it publishes: waits for all in-sync
    replicas and is idempotent (a retried send never duplicates or reorders within a
    partition). Ours rather than the broker's: publishing and dead letters need aiokafka's
    bytes-in, bytes-out send (headers byte for byte, one encoding), which FastStream's producer
    keeps private. Started before the consumer, stopped after it (`service_app`)."""

    def __init__(self, settings: KafkaSettings, *, client_id: str) -> None:
        self._settings = settings
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(**client_kwargs(self._settings), client_id=self._client_id, acks="all",
                                    enable_idempotence=True, linger_ms=LINGER_MS,
                                    max_batch_size=256 * 1024)  # bulk publishes of hundreds of events a partition
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    @property
    def aiokafka(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise NotPublished("not connected to Kafka yet")
        return self._producer


# --- publishing --------------------------------------------------------------------------------


class NotPublished(InfrastructureError):
    """Kafka did not acknowledge every message within the deadline, or is not connected yet: as
    far as we know, not published (an outage: retried where a caller retries)."""


Record = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]  # topic, value, key, headers


async def send_records(producer: AIOKafkaProducer, records: Sequence[Record], *, deadline_s: float | None = None) -> None:
    """The one send loop: every record handed to the producer (which batches them), then every
    acknowledgement waited for. With `deadline_s`, all within it (the metadata wait of a topic
    nobody made yet included) or NotPublished."""

    async def send_all() -> None:
        pending = [await producer.send(topic, value, key=key, headers=headers) for topic, value, key, headers in records]
        await asyncio.gather(*pending)

    if deadline_s is None:
        await send_all()
        return
    try:
        await asyncio.wait_for(send_all(), deadline_s)
    except Exception as exc:  # noqa: BLE001 - a timeout or a Kafka error: not in Kafka, as far as we know
        raise NotPublished(f"Kafka did not acknowledge it ({type(exc).__name__})") from None


async def publish_within(producer: AIOKafkaProducer, messages: Sequence[Outgoing], *, topic_prefix: str,
                         deadline_s: float | None = None) -> None:
    """Events as the contract has them on Kafka (the CloudEvents content type, our encoding,
    keyed), acknowledged by all in-sync replicas; with `deadline_s`, within it or NotPublished
    (the gateway answers 503, the dashboard says Kafka is not answering)."""
    if not messages:
        return
    for m in messages:
        telemetry.continue_trace(m.event)
    await send_records(producer, [(f"{topic_prefix}{m.topic}", encode_event(m.event), m.key.encode(), CLOUDEVENTS_HEADERS)
                                  for m in messages], deadline_s=deadline_s)
    telemetry.count_published([(m.topic, m.event) for m in messages])


class Publisher:
    """Publishes a batch of events and returns once the broker has acknowledged all of them,
    retrying while Kafka is away (`publish`), or within a deadline (`publish_within`)."""

    def __init__(self, producer: Producer, settings: KafkaSettings) -> None:
        self._producer = producer
        self._settings = settings

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        # Straight to the broker's aiokafka producer: FastStream's per-message publish path
        # (middlewares, message objects) cost a third of intake's batch time for 500 events.
        if messages:
            await retry_forever(lambda: publish_within(self._producer.aiokafka, messages,
                                                       topic_prefix=self._settings.topic_prefix),
                                what="publish events")

    async def publish_within(self, messages: Sequence[Outgoing], deadline_s: float) -> None:
        """Once, within `deadline_s`, or NotPublished: for a caller who answers someone waiting."""
        await publish_within(self._producer.aiokafka, messages, topic_prefix=self._settings.topic_prefix, deadline_s=deadline_s)


# --- consuming ---------------------------------------------------------------------------------


def parse_record(record: ConsumerRecord, *, topic_prefix: str) -> Received:
    topic = topic_names.strip_prefix(record.topic, topic_prefix)
    if record.value is None:
        raise BadMessage("not_json", "the message has no value")
    try:
        raw = decode_json(record.value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadMessage("not_json", f"the value is not JSON: {type(exc).__name__}") from None
    except RecursionError:  # found by fuzzing: "[[[[..." a hundred thousand deep stopped the partition
        raise BadMessage("not_json", "the value is nested too deeply to parse") from None
    if not isinstance(raw, dict):
        raise BadMessage("not_cloudevent", "the value is not a JSON object")
    return received(topic, raw, timestamp_ms=record.timestamp, record=record)


class DeadLetters:
    """Republishes a bad message to `<topic>.dlq` unchanged, with the reason in headers."""

    def __init__(self, producer: Producer, service: str, topic_prefix: str = "") -> None:
        self._producer = producer
        self._service = service
        self._prefix = topic_prefix

    async def send(self, bad: Sequence[tuple[ConsumerRecord, BadMessage]]) -> None:
        if not bad:
            return

        failed_at = datetime.now(timezone.utc).isoformat().encode()
        records: list[Record] = [
            (topic_names.dlq(record.topic), record.value, record.key, list(record.headers or ()) + [
                ("x-dlq-reason", problem.reason.encode()),
                ("x-dlq-error", problem.error.encode()),
                ("x-dlq-service", self._service.encode()),
                ("x-dlq-original-topic", record.topic.encode()),
                ("x-dlq-original-partition", str(record.partition).encode()),
                ("x-dlq-original-offset", str(record.offset).encode()),
                ("x-dlq-failed-at", failed_at),
            ]) for record, problem in bad]
        await retry_forever(lambda: send_records(self._producer.aiokafka, records), what="dead-letter")
        for record, problem in bad:
            telemetry.DEAD_LETTERS.labels(telemetry.contract_topic(record.topic, self._prefix), problem.reason).inc()
            log.warning(
                "dead-lettered a message",
                extra={"topic": record.topic, "partition": record.partition, "offset": record.offset,
                       "reason": problem.reason, "error": problem.error},
            )


Apply = Callable[[list[Received]], Awaitable[None]]


class BatchConsumer:
    """Parses a batch, dead-letters what is bad, applies the rest.

    `apply` must be idempotent: it is retried on infrastructure faults (forever, with capped
    backoff: an outage stalls, it never skips). If it fails for any other reason the batch is
    split and retried message by message; a message that still fails alone is dead-lettered
    with reason `processing_failed`, so one poison message cannot stop a partition.
    """

    def __init__(self, *, apply: Apply, dead_letters: DeadLetters, settings: ServiceSettings) -> None:
        self._apply = apply
        self._dead_letters = dead_letters
        self._prefix = settings.kafka.topic_prefix
        self._max_backoff_s = settings.retry_max_backoff_s

    async def __call__(self, records: Sequence[ConsumerRecord]) -> None:
        if log.isEnabledFor(logging.DEBUG):
            spans: dict[tuple[str, int], list[int]] = {}
            for record in records:
                spans.setdefault((record.topic, record.partition), []).append(record.offset)
            log.debug("batch", extra={"spans": {f"{t}/{p}": f"{min(o)}-{max(o)}" for (t, p), o in spans.items()}})
        good: list[Received] = []
        bad: list[tuple[ConsumerRecord, BadMessage]] = []
        for record in records:
            try:
                good.append(parse_record(record, topic_prefix=self._prefix))
            except BadMessage as problem:
                bad.append((record, problem))
        telemetry.count_consumed([(telemetry.contract_topic(record.topic, self._prefix), "invalid") for record, _ in bad])
        await self._dead_letters.send(bad)
        if good:
            with telemetry.consuming([(r.topic, r.event.id, r.event.type, r.event.model_extra) for r in good]):
                await self._apply_or_split(good)
            telemetry.count_consumed([(r.topic, r.event.type) for r in good])
            telemetry.observe_ages(r.time for r in good)  # done; its offsets are committed next

    async def _apply_or_split(self, batch: list[Received]) -> None:
        try:
            await retry_forever(lambda: self._apply(batch), what="apply batch",
                                max_backoff_s=self._max_backoff_s)
        except Exception as exc:
            if len(batch) > 1:
                log.warning("batch failed; retrying message by message",
                            extra={"size": len(batch), "fault": repr(exc)[:300]})
                for received in batch:
                    await self._apply_or_split([received])
                return
            received = batch[0]
            log.exception("message failed; dead-lettering it",
                          extra={"topic": received.topic, "event_id": received.event.id,
                                 "trace_id": telemetry.trace_id(received.event.id)})
            await self._dead_letters.send(
                [(received.record, BadMessage("processing_failed", f"{type(exc).__name__}: {exc}"[:2_000]))]
            )


class ConsumerState(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped: its base is Any
    """Commits a batch's offsets once it is done, and hands partitions over only between
    batches: a revoke waits for the batch in hand, then commits it itself (aiokafka's commit
    outside the callback would wait for the very rebalance that waits for us). So a routine
    rebalance, a replica joining or leaving, re-delivers nothing.

    A commit goes on while the next batch is handled (`commit_behind`): Kafka takes 5-6 ms to
    answer one (its group coordinator gathers writes for `group.coordinator.append.linger.ms`),
    which was a fifth of every batch's cycle at a steady 500/s. Commits stay in order (a batch's
    waits for the one before), a revoke and a stop wait for the one in flight, and a commit that
    is lost to a crash only re-delivers what every consumer already takes once.

    It also knows what readiness and the lag metric ask: whether the consumer has joined its
    group, which partitions it holds, and what it committed on them."""

    def __init__(self, group_id: str, topic_prefix: str) -> None:
        self.group_id = group_id
        self.in_flight = asyncio.Lock()
        self.subscriber: Any = None
        self.joined = False
        self.assigned: set[TopicPartition] = set()
        self.committed: dict[TopicPartition, int] = {}
        self._prefix = topic_prefix
        self._pending: dict[TopicPartition, int] = {}
        self._committing: asyncio.Task[None] | None = None
        self.stopping = False  # from then on a batch commits before it ends (see _stop_settled)

    @property
    def consumer(self) -> Any:
        """The subscriber's aiokafka consumer (None before it starts)."""
        return self.subscriber.consumer if self.subscriber is not None else None

    def done(self, records: Sequence[ConsumerRecord]) -> None:
        for partition, offset in _last_offsets(records).items():
            self._pending[partition] = offset + 1

    async def commit(self) -> None:
        pending, self._pending = self._pending, {}
        await self._commit(pending)

    async def _commit(self, pending: dict[TopicPartition, int]) -> None:
        if not pending:
            return
        try:
            await self.consumer.commit(pending)
            self.committed.update(pending)
        except KafkaError as exc:
            # The batch's effects are stored and published; it will be re-delivered and
            # change nothing. Keep going rather than stall on a commit.
            log.warning("offset commit failed; the batch may be re-delivered",
                        extra={"fault": f"{type(exc).__name__}: {exc}"[:300]})

    async def commit_behind(self) -> None:
        """Commit what is done while the next batch is handled: after the commit in flight, if
        any, so commits land in order; at once while the consumer is stopping."""
        await self.settled()
        pending, self._pending = self._pending, {}  # what is done now, not when the task runs
        if self.stopping:
            await self._commit(pending)
        else:
            self._committing = asyncio.create_task(self._commit(pending))

    async def settled(self) -> None:
        """Wait for the commit in flight, if any."""
        task, self._committing = self._committing, None
        if task is not None:
            await task

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.in_flight:
            await self.settled()
            await self.commit()
        for tp in revoked:
            self.assigned.discard(tp)
            self.committed.pop(tp, None)
            try:
                telemetry.CONSUMER_LAG.remove(telemetry.contract_topic(tp.topic, self._prefix), str(tp.partition))
            except KeyError:
                pass

    async def on_partitions_assigned(self, assigned: Any) -> None:
        # Joined, even with no partition: replicas may outnumber partitions.
        self.joined = True
        self.assigned = set(assigned)

    async def update_lag(self) -> None:
        """`prospectflow_consumer_lag` of the partitions this replica holds: their end offsets
        minus what the group committed (asked of Kafka once per partition, then ours)."""
        consumer = self.consumer
        partitions = sorted(self.assigned)
        if consumer is None or not partitions:
            return
        ends = await consumer.end_offsets(partitions)
        unknown = [tp for tp in partitions if tp not in self.committed]
        if unknown:
            starts = await consumer.beginning_offsets(unknown)
            for tp in unknown:
                offset = await consumer.committed(tp)
                self.committed.setdefault(tp, offset if offset is not None else starts[tp])
        for tp in partitions:
            if tp in self.assigned and tp in self.committed:
                telemetry.CONSUMER_LAG.labels(telemetry.contract_topic(tp.topic, self._prefix), str(tp.partition)).set(
                    max(0, ends[tp] - self.committed[tp]))


_STATES: weakref.WeakKeyDictionary[KafkaBroker, ConsumerState] = weakref.WeakKeyDictionary()


def consumer_state(broker: KafkaBroker) -> ConsumerState | None:
    """The state of the batch consumer subscribed on `broker` (see subscribe_batches)."""
    return _STATES.get(broker)


@dataclasses.dataclass
class Gathering:
    """When a consumer waits for more records before handling a batch: only when the batch is
    small and the previous one came within `steady_s` (traffic is steady, so records are on their
    way), for `linger_s`. A first record after a quiet spell is handled at once; a backlog fills
    its batches without waiting. What it buys: every batch pays its round trips (the database's,
    the publish, the commit) whatever its size, and at a steady 100-500/s batches of one or two
    records make those round trips most of the pipeline's CPU. Registered only with a linger > 0."""

    linger_s: float
    steady_s: float
    last: float = -1e9  # monotonic time of the last poll that brought records

    def should_wait(self, count: int, max_records: int | None, now: float) -> bool:
        steady = now - self.last < self.steady_s
        self.last = now
        return steady and (max_records is None or count < max_records)


_GATHERING: weakref.WeakKeyDictionary[BatchSubscriber, Gathering] = weakref.WeakKeyDictionary()


async def _next_batch(self: BatchSubscriber, consumer: Any) -> tuple[ConsumerRecord, ...]:
    """FastStream's batch poll, without its sleep of `batch_timeout_ms` after an empty poll:
    aiokafka's `getmany` already waits that long for a first record and returns as soon as one
    comes, so the sleep only delayed the first event after a quiet spell (by up to 100 ms a hop:
    on a sparse topic, in every service it crosses), and bought nothing. Under steady traffic a
    small batch waits a little for more (see Gathering)."""
    fetched = await consumer.getmany(timeout_ms=self.batch_timeout_ms, max_records=self.max_records)
    records = tuple(chain.from_iterable(fetched.values()))
    gathering = _GATHERING.get(self)
    if records and gathering is not None and gathering.should_wait(len(records), self.max_records, time.monotonic()):
        await asyncio.sleep(gathering.linger_s)
        room = None if self.max_records is None else self.max_records - len(records)
        more = await consumer.getmany(timeout_ms=0, max_records=room)
        records += tuple(chain.from_iterable(more.values()))
    return records


BatchSubscriber.get_msg = _next_batch  # type: ignore[method-assign]  # see _next_batch

STOP_COMMIT_S = 10.0
_STATE_OF: weakref.WeakKeyDictionary[BatchSubscriber, ConsumerState] = weakref.WeakKeyDictionary()
_faststream_stop = BatchSubscriber.stop


async def _stop_settled(self: BatchSubscriber) -> None:
    """FastStream's stop (no new batch; the batch in hand finished, for up to its graceful
    timeout; the consumer closed), with the last batch's offsets committed before the consumer
    closes: the commit in flight is waited for (as long as a request to Kafka may take; a stop
    never hangs on it), and a batch still in hand commits before it ends."""
    state = _STATE_OF.get(self)
    if state is not None:
        state.stopping = True
        try:
            await asyncio.wait_for(state.settled(), timeout=STOP_COMMIT_S)
        except TimeoutError:
            log.warning("the last offset commit did not finish before the stop; its batch may be re-delivered")
    await _faststream_stop(self)


BatchSubscriber.stop = _stop_settled  # type: ignore[method-assign,assignment]  # see _stop_settled


def subscribe_batches(
    broker: KafkaBroker,
    settings: ServiceSettings,
    topics: Sequence[str],
    consumer: Callable[[Sequence[ConsumerRecord]], Awaitable[None]],
    *,
    title: str,
    description: str,
) -> None:
    """Consume `topics` (contract names) in batches in the service's group. After a batch is
    done, commit exactly its offsets; if it raises, rewind to its first offsets so nothing is
    skipped. Commits are ours (AckPolicy.MANUAL), never automatic."""
    offsets = ConsumerState(settings.group_id, settings.kafka.topic_prefix)
    _STATES[broker] = offsets

    async def handle(body: Any) -> None:
        # `body` is the batch's raw records (see _raw_records).
        records: tuple[ConsumerRecord, ...] = body if isinstance(body, tuple) else (body,)
        if not records:
            return
        started = time.perf_counter()
        trailing = Trailing()
        async with offsets.in_flight:
            try:
                with trailing:
                    await consumer(records)
            except BaseException:
                consumer_now = offsets.consumer
                assert consumer_now is not None  # a batch came from it
                for partition, offset in _first_offsets(records).items():
                    consumer_now.seek(partition, offset)
                raise
            offsets.done(records)
        await trailing.land()  # before the next batch, which may ask for these marks
        await offsets.commit_behind()
        telemetry.BATCH_SECONDS.observe(time.perf_counter() - started)

    # The annotation only documents the payload (AsyncAPI): every type the topics carry, each as
    # its CloudEvent. apply_types is off: parse_record validates (a bad one is dead-lettered).
    payloads = tuple(documented_envelope(t) for topic in topics for t in sorted(topic_names.TYPES_BY_TOPIC[topic]))
    handle.__annotations__ = {"body": list[Union[payloads]], "return": None}  # type: ignore[valid-type]  # a Union of runtime types
    handle.__doc__ = description
    subscriber = broker.subscriber(
        *(settings.kafka.topic(t) for t in topics),
        group_id=settings.group_id,
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        fetch_max_bytes=settings.fetch_max_bytes,
        max_partition_fetch_bytes=settings.max_partition_fetch_bytes,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        listener=offsets,
        max_poll_interval_ms=30 * 60 * 1000,  # an outage may stall a batch for long
        parser=_tolerant_parser,
        decoder=_raw_records,
        title=title,
        description=description,
    )
    subscriber(handle)
    offsets.subscriber = subscriber
    _STATE_OF[subscriber] = offsets
    if settings.batch_linger_ms:
        _GATHERING[subscriber] = Gathering(settings.batch_linger_ms / 1000, settings.batch_steady_ms / 1000)


def document_publications(broker: KafkaBroker, settings: KafkaSettings, produces: Mapping[str, Sequence[str]]) -> None:
    """What a service publishes, per topic and type, for its AsyncAPI document (publishing itself
    goes through its `Producer`)."""
    for topic, types in produces.items():
        for event_type in types:
            broker.publisher(settings.topic(topic), title=f"{topic}:{event_type}", schema=documented_envelope(event_type))


def _first_offsets(records: Sequence[ConsumerRecord]) -> dict[TopicPartition, int]:
    first: dict[TopicPartition, int] = {}
    for record in records:
        partition = TopicPartition(record.topic, record.partition)
        first[partition] = min(record.offset, first.get(partition, record.offset))
    return first


def _last_offsets(records: Sequence[ConsumerRecord]) -> dict[TopicPartition, int]:
    last: dict[TopicPartition, int] = {}
    for record in records:
        partition = TopicPartition(record.topic, record.partition)
        last[partition] = max(record.offset, last.get(partition, record.offset))
    return last


def _utf8(value: bytes | None) -> bool:
    try:
        (value or b"").decode()
    except UnicodeDecodeError:
        return False
    return True


async def _tolerant_parser(records: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream decodes every header as UTF-8 and fails the whole batch on one that is not;
    give it a copy without such values, and keep the original records for dead letters."""
    batch = records if isinstance(records, tuple) else (records,)
    if all(_utf8(v) for record in batch for _, v in record.headers or ()):
        return await original(records)
    safe = tuple(
        dataclasses.replace(record, headers=tuple((k, v if _utf8(v) else b"") for k, v in record.headers))
        for record in batch
    )
    message = await original(safe if isinstance(records, tuple) else safe[0])
    message.raw_message = records
    return message


async def _raw_records(message: Any) -> Any:
    # Records are parsed by parse_record so that a bad one is dead-lettered unchanged.
    return message.raw_message
