"""A batch's published marks are written beside its offset commit, not before it: one database
round trip off every batch's path. A lost mark costs nothing but a replay under the same ids."""

from __future__ import annotations

import logging

import pytest

from shared.outbox import Trailing, mark_after


class Marks:
    def __init__(self) -> None:
        self.written: list[str] = []

    async def mark(self, ids: list[str]) -> None:
        self.written.extend(ids)

    async def fail(self, ids: list[str]) -> None:
        raise ConnectionError("the database went away")


async def test_outside_a_batch_the_mark_is_written_at_once() -> None:
    marks = Marks()
    await mark_after(marks.mark(["e1"]))
    assert marks.written == ["e1"]


async def test_within_a_batch_the_marks_wait_for_the_commit() -> None:
    marks = Marks()
    trailing = Trailing()
    with trailing:
        await mark_after(marks.mark(["e1", "e2"]))
        await mark_after(marks.mark(["e3"]))
        assert marks.written == []  # the handler returned without waiting on them
    await mark_after(marks.mark(["after"]))  # outside the batch again: at once
    assert marks.written == ["after"]
    await trailing.land()
    assert sorted(marks.written) == ["after", "e1", "e2", "e3"]


async def test_a_lost_mark_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    marks = Marks()
    trailing = Trailing()
    with trailing:
        await mark_after(marks.fail(["e1"]))
        await mark_after(marks.mark(["e2"]))
    with caplog.at_level(logging.WARNING):
        await trailing.land()
    assert marks.written == ["e2"]
    [warning] = caplog.records
    assert "replays under the same ids" in warning.getMessage() and "ConnectionError" in warning.fault


async def test_a_failed_batch_writes_no_marks() -> None:
    marks = Marks()
    trailing = Trailing()
    with pytest.raises(RuntimeError):
        with trailing:
            await mark_after(marks.mark(["e1"]))
            raise RuntimeError("the publish failed")
    await trailing.land()
    assert marks.written == []
