"""The batch poll: an empty poll is followed at once by the next one (aiokafka's `getmany`
waits for the first record itself), so the first event after a quiet spell is not held back
by a sleep (FastStream slept `batch_timeout_ms` after each empty poll: up to 100 ms a hop)."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest
from aiokafka import ConsumerRecord, TopicPartition
from faststream.kafka.subscriber.usecase import BatchSubscriber

import shared.kafka  # installs the poll
from shared.kafka import ConsumerState, Gathering


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


class Steady:
    """A consumer under steady traffic: every poll finds `per_poll` records."""

    def __init__(self, per_poll: int = 1) -> None:
        self.polls: list[tuple[int, int | None]] = []
        self.per_poll = per_poll
        self.offset = 0

    async def getmany(self, *, timeout_ms: int, max_records: int | None) -> dict[TopicPartition, list[Any]]:
        self.polls.append((timeout_ms, max_records))
        count = self.per_poll if max_records is None else min(self.per_poll, max_records)
        records = [ConsumerRecord("t", 0, self.offset + i, 0, 0, b"k", b"v", None, 1, 1, []) for i in range(count)]
        self.offset += count
        return {TopicPartition("t", 0): records}


def gathering(polling: Polling, linger_ms: int = 10) -> Gathering:
    shared.kafka._GATHERING[polling] = found = Gathering(linger_ms / 1000, steady_s=0.05)  # type: ignore[index]
    return found


async def test_under_steady_traffic_a_small_batch_waits_for_more() -> None:
    polling, consumer = Polling(), Steady()
    gathering(polling)
    first = await BatchSubscriber.get_msg(polling, consumer)  # type: ignore[arg-type]
    second = await BatchSubscriber.get_msg(polling, consumer)  # type: ignore[arg-type]
    assert len(first) == 1  # the first record after a quiet spell is handled at once
    assert [r.offset for r in second] == [1, 2]  # the next one came moments later: it gathered
    assert consumer.polls == [(100, 500), (100, 500), (0, 499)]  # the gathering poll takes what has come


async def test_after_a_quiet_spell_a_batch_does_not_wait() -> None:
    polling, consumer = Polling(), Steady()
    found = gathering(polling)
    await BatchSubscriber.get_msg(polling, consumer)  # type: ignore[arg-type]
    found.last -= 0.06  # the previous batch came longer ago than `steady_s`
    batch = await BatchSubscriber.get_msg(polling, consumer)  # type: ignore[arg-type]
    assert len(batch) == 1
    assert consumer.polls == [(100, 500), (100, 500)]


async def test_a_full_batch_does_not_wait() -> None:
    polling, consumer = Polling(), Steady(per_poll=500)  # a backlog
    gathering(polling)
    for _ in range(3):
        assert len(await BatchSubscriber.get_msg(polling, consumer)) == 500  # type: ignore[arg-type]
    assert consumer.polls == [(100, 500)] * 3


async def test_without_a_linger_nothing_waits() -> None:
    polling, consumer = Polling(), Steady()  # batch_linger_ms 0 registers nothing
    for _ in range(3):
        assert len(await BatchSubscriber.get_msg(polling, consumer)) == 1  # type: ignore[arg-type]
    assert consumer.polls == [(100, 500)] * 3


class Committing:
    """An aiokafka consumer whose commits are answered when the test says so."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.committed: list[dict[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await self.answer.wait()
        self.committed.append(dict(offsets))


class Subscribed:
    def __init__(self, consumer: Committing) -> None:
        self.consumer = consumer


def record(offset: int) -> ConsumerRecord:
    return ConsumerRecord("t", 0, offset, 0, 0, b"k", b"v", None, 1, 1, [])


async def stopping(monkeypatch: pytest.MonkeyPatch, consumer: Committing) -> tuple[ConsumerState, Subscribed, list[str]]:
    events: list[str] = []

    async def faststream_stop(self: Any) -> None:
        events.append(f"consumer closed after {len(consumer.committed)} commit(s)")
    monkeypatch.setattr(shared.kafka, "_faststream_stop", faststream_stop)
    state, subscriber = ConsumerState("g", ""), Subscribed(consumer)
    state.subscriber = subscriber
    shared.kafka._STATE_OF[subscriber] = state  # type: ignore[index]
    return state, subscriber, events


async def test_commits_go_on_behind_the_next_batch_in_order_and_a_stop_waits_for_the_last(
        monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = Committing()
    state, subscriber, events = await stopping(monkeypatch, consumer)
    state.done([record(4)])
    await state.commit_behind()  # returns before Kafka answers: the next batch goes on
    state.done([record(9)])
    assert consumer.committed == []
    waiting = asyncio.Event()  # the stop has come to the commit in flight
    settled = state.settled

    async def seen_settling() -> None:
        waiting.set()
        await settled()
    monkeypatch.setattr(state, "settled", seen_settling)
    stop = asyncio.ensure_future(shared.kafka._stop_settled(subscriber))  # type: ignore[arg-type]
    await asyncio.wait_for(waiting.wait(), timeout=5)
    assert events == [] and not stop.done()  # the consumer is not closed under the commit in flight
    consumer.answer.set()
    await stop
    assert events == ["consumer closed after 1 commit(s)"]
    assert consumer.committed == [{TopicPartition("t", 0): 5}]
    await state.commit_behind()  # a batch still in hand at the stop commits before it ends
    assert consumer.committed[-1] == {TopicPartition("t", 0): 10}


async def test_a_stop_does_not_hang_on_a_commit_kafka_never_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared.kafka, "STOP_COMMIT_S", 0.05)
    consumer = Committing()
    state, subscriber, events = await stopping(monkeypatch, consumer)
    state.done([record(4)])
    await state.commit_behind()
    await asyncio.wait_for(shared.kafka._stop_settled(subscriber), timeout=5)  # type: ignore[arg-type]
    assert events == ["consumer closed after 0 commit(s)"]
