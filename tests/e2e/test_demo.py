"""The guided demo, end to end: all four services, the real stack, the tool as a user runs it,
twice on the same stack."""

from __future__ import annotations

import re

import pytest

from tests.support import Kafka, Namespace, cli, events, mails

pytestmark = pytest.mark.stack


async def test_the_demo_plays_the_whole_day_and_again(ns: Namespace, kafka: Kafka):
    for service in ("intake", "messaging", "reminder"):
        ns.start(service, REMINDER_TICK_S="0")  # the demo drives the clock with reminders.run
    rating = ns.start("rating")
    rating.wait_for_log("Uvicorn running")
    run = cli(ns, rating)

    first = run("demo", timeout_s=240)
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    run_id = re.search(r"run ([0-9a-f]{6})", out).group(1)
    for step in ("1. A job opens", "2. Inquiries arrive from two job boards",
                 "3. The malformed inquiry is on the dead-letter queue; fix it and replay it",
                 '4. Dashboard -> Prospects -> "Needs follow-up"', "5. Rate", "6. Filter by the shortlist icon",
                 "7. Select all", "8. The mails, as the prospects received them", "9. Follow-up flags",
                 "10. The next morning", "11. Jo is followed up too"):
        assert step in out
    assert "merged as prospect.inquired_again" in out
    assert "reason invalid_data: prospect.email" in out
    assert "queued 2, sent 2" in out and "queued 1, sent 1" in out
    assert "needs follow-up now: Jo Chen" in out
    assert re.search(r"follow_up.reminder_due for \d{4}-\d\d-\d\d: 1 waiting \(unrated 1\): Jo Chen", out)
    assert "nobody waiting: no reminder for" in out

    # What the demo showed is what the system did: on the topics and in the mail sink.
    assert len(mails(ns.stack.maildir, f"+{run_id}@example.com")) == 3
    assert len(mails(ns.stack.maildir, f"dana+{run_id}@")) == 1  # the digest
    reminders = [e["data"] for e in events(await kafka.read(ns.topic("reminders"), count=1, timeout_s=10))]
    assert [(r["recruiter_id"], r["pending_total"]) for r in reminders] == [(f"demo-{run_id}-dana", 1)]

    # A second run on the same stack is a new, independent day.
    second = run("demo", timeout_s=240)
    assert second.returncode == 0, second.stdout + second.stderr
    assert re.search(r"run ([0-9a-f]{6})", second.stdout).group(1) != run_id
    assert "nobody waiting: no reminder for" in second.stdout
