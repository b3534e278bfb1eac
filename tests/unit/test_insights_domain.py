"""Insights' decisions without I/O: what a prospect adds to the day buckets does not depend on the
order its facts arrive in or on seeing one twice, days are the recruiter's, replies are credited to
the follow-up they answer, and percentiles are the nearest rank."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.insights.domain import (
    Job, Paths, add_into, bucket_paths, contribution, difference, figures, key, percentile, unkey,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
JOB = Job("rec-1", "Europe/Berlin")


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def fact(kind: str, hours: float, **more: Any) -> dict[str, Any]:
    return {"k": kind, "at": at(hours), **more}


FACTS = {
    "i1": fact("inquiry", 0, board="stepstone"),
    "i2": fact("inquiry", 30, board="indeed"),
    "r1": fact("rated", 1, rating="shortlist"),
    "r2": fact("rated", 50, rating="not_a_match"),
    "s1": fact("sent", 2, template="ask_to_apply", step=None),
    "s2": fact("sent", 72, template="arrange_interview", step="seq-1:2"),
    "p1": fact("replied", 80),
    "b1": fact("bounced", 90, permanent=False),
    "c1": fact("complained", 100),
}


def answer(contrib: dict[tuple[str, str], Paths], reading: str = "activity") -> dict[str, Any]:
    """The figures a recruiter reads back of one prospect's contribution."""
    buckets = bucket_paths(contrib, JOB.recruiter_id, "job-1")
    days = []
    for bucket, paths in sorted(buckets.items()):
        r, day, who = bucket.split("|")
        if r != reading or who != JOB.recruiter_id:
            continue
        counters: dict[str, Any] = {}
        for path, n in paths.items():
            parts = path.split(".")
            if parts[0] != "f":
                continue
            node = counters
            for part in parts[1:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = n
        days.append((day, counters))
    return figures(days, start="2026-11-01", end="2026-12-31", reading=reading)


@settings(max_examples=150, deadline=None)
@given(st.permutations(sorted(FACTS)), st.integers(min_value=1, max_value=len(FACTS)))
def test_facts_in_any_order_and_any_batches_add_up_to_the_same_figures(order: list[str], size: int) -> None:
    whole = bucket_paths(contribution(FACTS, JOB), JOB.recruiter_id, "job-1")
    total: dict[str, Paths] = {}
    known: dict[str, dict[str, Any]] = {}
    last: dict[str, Paths] = {}
    for start in range(0, len(order), size):
        for k in order[start:start + size]:
            known[k] = FACTS[k]
        now = bucket_paths(contribution(known, JOB), JOB.recruiter_id, "job-1")
        add_into(total, difference(now, last))
        last = now
        add_into(total, difference(now, last))  # the same batch again: nothing more
    assert nonzero(total) == nonzero(whole)


def nonzero(buckets: dict[str, Paths]) -> dict[str, Paths]:
    kept = {b: {p: n for p, n in paths.items() if n} for b, paths in buckets.items()}
    return {b: paths for b, paths in kept.items() if paths}


def test_one_prospect_counts_once_with_its_current_rating_and_first_contact() -> None:
    got = answer(contribution(FACTS, JOB))
    assert (got["inquiries"], got["prospects"], got["contacted"], got["replied"]) == (2, 1, 1, 1)
    assert (got["rated"], got["shortlisted"]) == (1, 0)  # re-rated not a match: no longer shortlisted
    assert got["bounced"] == 0 and got["complained"] == 1  # a soft bounce is not a bounce
    assert got["time_to_first_contact_s"] == {"median": 7200, "p90": 7200, "count": 1}
    assert got["by_board"] == {"stepstone": {"inquiries": 1, "contacted": 1, "replied": 1},
                               "indeed": {"inquiries": 1, "contacted": 0, "replied": 0}}
    # The reply 8 hours after the sequence's step answers the step, not the first message.
    assert got["by_template"]["arrange_interview"] == {"sent": 1, "replied": 1, "reply_rate": 1.0}
    assert got["by_template"]["ask_to_apply"] == {"sent": 1, "replied": 0, "reply_rate": 0.0}
    assert got["by_step"] == {"seq-1:2": {"sent": 1, "replied": 1, "reply_rate": 1.0}}


def test_a_reply_long_after_the_last_message_is_not_credited_to_it() -> None:
    late = {"i1": fact("inquiry", 0, board="b"), "s1": fact("sent", 1, template="t", step=None),
            "p1": fact("replied", 1 + 15 * 24)}
    got = answer(contribution(late, JOB))
    assert got["replied"] == 0 and got["by_template"]["t"]["replied"] == 0
    late["p2"] = fact("replied", 1 + 13 * 24)
    assert answer(contribution(late, JOB))["replied"] == 1


def test_days_are_the_recruiters_local_days_and_a_cohort_is_the_first_inquirys_day() -> None:
    night = {"i1": {"k": "inquiry", "at": "2026-12-01T23:30:00+00:00", "board": "b"},
             "s1": {"k": "sent", "at": "2026-12-03T08:00:00+00:00", "template": "t", "step": None}}
    contrib = contribution(night, JOB)  # 00:30 on the 2nd in Berlin
    assert contrib[("activity", "2026-12-02")]["inquiries"] == 1
    assert contrib[("activity", "2026-12-03")]["contacted"] == 1
    assert contrib[("cohort", "2026-12-02")]["contacted"] == 1
    assert contribution(night, Job("rec-1", "UTC"))[("activity", "2026-12-01")]["inquiries"] == 1
    assert contribution(night, None) == {}  # the job is not known yet: nothing counted


def test_an_opt_out_counts_the_prospect_once_at_the_first() -> None:
    got = contribution(FACTS, JOB, ["2026-12-09T10:00:00+00:00", "2026-12-08T10:00:00+00:00"])
    assert got[("activity", "2026-12-08")]["opted_out"] == 1
    assert "opted_out" not in got.get(("activity", "2026-12-09"), {})


def test_nearest_rank_percentiles() -> None:
    assert percentile({}, 0.5) is None
    assert percentile({10: 1}, 0.9) == 10
    assert percentile({1: 1, 2: 1, 3: 1, 4: 1}, 0.5) == 2
    assert percentile({1: 1, 2: 1, 3: 1, 4: 1}, 0.9) == 4
    assert percentile({5: 9, 1000: 1}, 0.9) == 5
    assert percentile({5: 9, 1000: 1}, 0.91) == 1000


@given(st.text(max_size=30))
def test_a_name_is_one_path_segment_and_comes_back_the_same(name: str) -> None:
    assert "." not in key(name) and "$" not in key(name)
    assert unkey(key(name)) == name


def test_time_to_first_contact_is_kept_in_steps_that_grow_with_it() -> None:
    from services.insights.domain import ttfc_bucket

    assert [ttfc_bucket(s) for s in (-5, 59, 5_430, 7_199)] == [0, 0, 5_400, 7_140]  # the minute under 2 h
    assert [ttfc_bucket(s) for s in (7_200, 17_999, 86_399)] == [7_200, 17_400, 85_800]  # 10 minutes under a day
    assert [ttfc_bucket(s) for s in (86_400, 90_000 + 1_799)] == [86_400, 90_000]  # the hour under 14 days
    assert ttfc_bucket(20 * 86_400 + 5) == 20 * 86_400  # then the day
