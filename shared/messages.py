"""The messages our handlers take and give, with no Kafka client: what a consumer received
(`Received`, typed by its data), what a handler publishes (`Outgoing`, through `Publishes`), and
a message that cannot be taken (`BadMessage`, which dead-letters). Domain modules and handlers
import these; only `shared.kafka` knows the broker."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Generic, Protocol, cast

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError, from_json, to_json
from typing_extensions import TypeVar

from shared import topics as topic_names
from shared.contract import EVENT_TYPES, CloudEvent

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord

D = TypeVar("D", bound=BaseModel, default=BaseModel, covariant=True)
M = TypeVar("M", bound=BaseModel)


class BadMessage(Exception):
    """A message that cannot be parsed or fails validation: it goes to the dead-letter topic."""

    def __init__(self, reason: str, error: str) -> None:
        super().__init__(f"{reason}: {error}")
        self.reason = reason
        self.error = error


@dataclass(frozen=True, slots=True)
class Received(Generic[D]):
    """A valid message: its envelope and its typed `data`, and the Kafka record it came in (None
    for an event built by `received()`, as handlers' tests do). `Received[JobOpened]` is what a
    decision for `job.opened` takes; the dispatch table by event type is what makes it so."""

    record: ConsumerRecord | None
    topic: str  # the contract name, without prefix
    event: CloudEvent
    data: D
    timestamp_ms: int = 0  # the record's timestamp

    @property
    def time(self) -> datetime:
        """The event's `time`, else the record's timestamp: stable across redeliveries."""
        if self.event.time is not None:
            return self.event.time
        return datetime.fromtimestamp(self.timestamp_ms / 1000, timezone.utc)

    def of(self, model: type[M]) -> Received[M]:
        """This message as one whose data is a `model` (a handler that took it by topic or type
        knows so; TypeError if it is not)."""
        if not isinstance(self.data, model):
            raise TypeError(f"{self.event.type} carries {type(self.data).__name__}, not {model.__name__}")
        return cast("Received[M]", self)


def received(topic: str, event: dict[str, Any], *, timestamp_ms: int = 0,
             record: ConsumerRecord | None = None) -> Received:
    """An event as a consumer of `topic` receives it, validated envelope first, then data (raises
    BadMessage as a consumer would dead-letter it)."""
    try:
        envelope = CloudEvent.model_validate(event)
    except ValidationError as exc:
        raise BadMessage("not_cloudevent", describe_validation_error(exc)) from None
    if envelope.type not in topic_names.TYPES_BY_TOPIC.get(topic, frozenset()):
        raise BadMessage("unknown_type", f"type {envelope.type!r} is not carried on {topic!r}")
    try:
        data = EVENT_TYPES[envelope.type].model_validate(envelope.data)
    except ValidationError as exc:
        raise BadMessage("invalid_data", describe_validation_error(exc)) from None
    return Received(record=record, topic=topic, event=envelope, data=data, timestamp_ms=timestamp_ms)


def describe_validation_error(exc: ValidationError) -> str:
    """Where and what, without echoing the input (it may be personal data)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(p) for p in error["loc"]) or "(message)"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)[:2_000]


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str  # the contract name, without prefix
    key: str
    event: dict[str, Any]  # a CloudEvent, as made by shared.contract.new_event


def encode_event(event: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the bytes `json.dumps(separators=(",", ":"), ensure_ascii=False)`
    writes (a float's exponent may lose a leading zero: 1e-7, not 1e-07), four times as fast:
    pydantic's serializer, which every model already uses. What it refuses (a lone surrogate)
    goes to `json`, which writes it or fails as it always did."""
    try:
        return to_json(event)
    except PydanticSerializationError:
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def decode_json(data: bytes | str) -> Any:
    """JSON text to Python values as `json.loads` reads them (the same values, the same errors),
    in under half its time: pydantic's parser (jiter) first; what it refuses (an escaped lone
    surrogate, a byte-order mark, UTF-16, nesting past its limit, or simply not JSON) goes to
    `json.loads`, which accepts it or raises as before (ValueError, or RecursionError when nested
    too deeply): both linear in the input."""
    try:
        return from_json(data)
    except ValueError:
        return json.loads(data)


class Publishes(Protocol):
    """What a handler publishes through: returns once every message is acknowledged (the seam
    that handlers' tests replace with an in-memory publisher)."""

    async def publish(self, messages: Sequence[Outgoing]) -> None: ...
