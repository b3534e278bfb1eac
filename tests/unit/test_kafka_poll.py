"""The batch poll: an empty poll is followed at once by the next one (aiokafka's `getmany`
waits for the first record itself), so the first event after a quiet spell is not held back
by a sleep (FastStream slept `batch_timeout_ms` after each empty poll: up to 100 ms a hop)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from aiokafka import ConsumerRecord, TopicPartition
from faststream.kafka.subscriber.usecase import BatchSubscriber

import shared.kafka  # noqa: F401  # installs the poll


class Quiet:
    """A consumer with nothing to give, then one record."""

    def __init__(self) -> None:
        self.polls: list[tuple[int, int | None]] = []

    async def getmany(self, *, timeout_ms: int, max_records: int | None) -> dict[TopicPartition, list[Any]]:
        self.polls.append((timeout_ms, max_records))
        if len(self.polls) == 1:
            return {}
        record = ConsumerRecord("t", 0, 7, 0, 0, b"k", b"v", None, 1, 1, [])
        return {TopicPartition("t", 0): [record]}


class Polling:
    batch_timeout_ms = 100
    max_records = 500


async def test_an_empty_poll_is_not_followed_by_a_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(anyio, "sleep", sleep)
    consumer = Quiet()
    assert await BatchSubscriber.get_msg(Polling(), consumer) == ()  # type: ignore[arg-type]
    [record] = await BatchSubscriber.get_msg(Polling(), consumer)  # type: ignore[arg-type]
    assert record.offset == 7
    assert consumer.polls == [(100, 500), (100, 500)]  # each poll waits for records itself
    assert slept == []
