"""Reminder on the real stack, driven only through topics; `reminders.run` stands in for the
clock, so no test waits for a real morning."""

from __future__ import annotations

import json

from shared import ids
from tests.support import Kafka, Namespace, cloud_event, eventually, events, http_text, metric, mongo_count

RECRUITER = "rec-7"


def job(job_id: str = "job-42", recruiter: str = RECRUITER, tz: str = "Europe/Berlin", hour: int = 8) -> dict:
    return cloud_event("job.opened", {"job_id": job_id, "title": f"Title of {job_id}", "company": "Acme",
                                      "recruiter": {"recruiter_id": recruiter, "name": "Dana", "email": "dana@acme.example",
                                                    "timezone": tz, "reminder_hour": hour}}, source="tests/ats")


def registered(email: str, job_id: str = "job-42", at: str = "2026-11-20T09:00:00Z") -> dict:
    return cloud_event("prospect.registered", {
        "prospect_id": ids.prospect_id(job_id, email), "person_id": ids.person_id(email), "job_id": job_id,
        "profile": {"name": email.split("@")[0], "email": email}, "inquiry": {"board": "b", "inquired_at": at}},
        source="prospectflow/intake")


def rated(pid: str, rating: str, job_id: str = "job-42") -> dict:
    return cloud_event("prospect.rated", {"prospect_id": pid, "job_id": job_id, "recruiter_id": RECRUITER,
                                          "rating": rating, "previous_rating": "unrated", "command_id": "c"},
                       source="prospectflow/rating")


def flagged(pid: str, on: bool = True, job_id: str = "job-42") -> dict:
    return cloud_event("prospect.follow_up_flag_changed", {"prospect_id": pid, "job_id": job_id, "recruiter_id": RECRUITER,
                                                           "flagged": on, "cause": "recruiter", "command_id": "c"},
                       source="prospectflow/rating")


def run(as_of: str, recruiter: str | None = None) -> dict:
    return cloud_event("reminders.run", {"as_of": as_of, **({"recruiter_id": recruiter} if recruiter else {})},
                       source="tests/operator")


async def applied(ns: Namespace, kafka: Kafka, prospects: int) -> None:
    """Everything published so far is applied: the reminder's group has committed it all."""
    await kafka.caught_up(ns, "reminder")
    assert await mongo_count(ns.stack, ns.database("reminder"), "prospects", {"job_open": {"$exists": True}}) >= prospects


async def feed(ns: Namespace, kafka: Kafka) -> dict[str, str]:
    await kafka.send_event(ns.topic("jobs"), job(), key="job-42")
    await kafka.send_event(ns.topic("jobs"), job("job-closed"), key="job-closed")
    people = {name: registered(f"{name}@example.com") for name in ("unrated", "short", "nofit", "done")}
    people["closed"] = registered("closed@example.com", job_id="job-closed")
    for event in people.values():
        await kafka.send_event(ns.topic("prospects"), event, key=event["data"]["prospect_id"])
    pid = {name: e["data"]["prospect_id"] for name, e in people.items()}
    await kafka.send_event(ns.topic("assessments"), rated(pid["short"], "shortlist"), key=pid["short"])
    await kafka.send_event(ns.topic("assessments"), rated(pid["nofit"], "not_a_fit"), key=pid["nofit"])
    await kafka.send_event(ns.topic("assessments"), flagged(pid["done"]), key=pid["done"])
    await kafka.send_event(ns.topic("jobs"), cloud_event("job.closed", {"job_id": "job-closed"}), key="job-closed")
    await applied(ns, kafka, 5)
    return pid


async def reminders(kafka: Kafka, ns: Namespace, count: int = 1, timeout_s: float = 30) -> list[dict]:
    """The reminders once `count` have come and the service has done every command sent: all
    there will be."""
    await kafka.read(ns.topic("reminders"), count=count, timeout_s=timeout_s)
    await kafka.caught_up(ns, "reminder")
    return events(await kafka.read_to_end(ns.topic("reminders")))


async def test_one_reminder_with_the_right_counts_then_none(ns: Namespace, kafka: Kafka):
    ns.start("reminder", REMINDER_TICK_S="0")
    await kafka.send_event(ns.topic("reminder-commands"), run("2026-11-25T07:00:00Z"), key="")
    await kafka.send_event(ns.topic("jobs"), job(), key="job-42")
    await kafka.caught_up(ns, "reminder")
    assert await kafka.read_to_end(ns.topic("reminders")) == []  # nobody waiting yet

    pid = await feed(ns, kafka)
    await kafka.send_event(ns.topic("reminder-commands"), run("2026-11-25T06:30:00Z"), key="")  # 07:30 Berlin
    await kafka.send_event(ns.topic("reminder-commands"), run("2026-11-25T07:05:00Z"), key="")  # 08:05 Berlin
    await kafka.send_event(ns.topic("reminder-commands"), run("2026-11-25T15:00:00Z"), key="")  # later, same day
    [reminder] = await reminders(kafka, ns)
    data = reminder["data"]
    assert (data["recruiter_id"], data["date"], data["timezone"]) == (RECRUITER, "2026-11-25", "Europe/Berlin")
    assert data["pending_total"] == 3
    assert data["counts"] == {"unrated": 1, "shortlist": 1, "not_a_fit": 1}
    assert data["jobs"] == [{"job_id": "job-42", "title": "Title of job-42", "pending": 3}]
    assert {p["prospect_id"] for p in data["prospects"]} == {pid["unrated"], pid["short"], pid["nofit"]}
    assert data["oldest_pending_since"] == "2026-11-20T09:00:00Z"

    for name in ("unrated", "short", "nofit"):
        await kafka.send_event(ns.topic("assessments"), flagged(pid[name]), key=pid[name])
    await kafka.send_event(ns.topic("reminder-commands"), run("2026-11-26T09:00:00Z"), key="")
    assert len(await reminders(kafka, ns)) == 1  # nobody waits the next day: no new one


async def test_two_processes_send_one_reminder(ns: Namespace, kafka: Kafka):
    """Two replicas evaluate the same morning at once (the runs are keyed onto every partition,
    so each replica gets some): one reminder is published, once."""
    processes = [ns.start("reminder", REMINDER_TICK_S="0") for _ in range(2)]
    await feed(ns, kafka)
    # both in the group before the runs go out (else the first takes them all before the second joins)
    await eventually(lambda: _members_are(kafka, f"{ns.name}-reminder", 2), timeout_s=60)
    command = run("2026-11-25T08:00:00Z")
    runs = [(f"k{n}", command) for n in range(12)] + [(f"k{n}", run("2026-11-25T09:00:00Z")) for n in range(12, 24)]
    await kafka.send_many(ns.topic("reminder-commands"), runs)  # the same run redelivered, and a later one
    found = await reminders(kafka, ns)
    assert len(found) == 1 and found[0]["data"]["date"] == "2026-11-25"  # one record: nobody published twice
    handled = [metric(http_text(f"{p.http}/metrics")[1], "prospectflow_events_consumed_total",
                      topic="reminder-commands") for p in processes]
    assert all(n > 0 for n in handled) and sum(handled) == len(runs), handled  # both really raced


async def _members_are(kafka: Kafka, group_id: str, count: int) -> bool:
    return await kafka.group_members(group_id, stable=True) == count


async def test_killed_then_restarted_after_the_hour_the_reminder_still_comes_once(ns: Namespace, kafka: Kafka):
    reminder = ns.start("reminder", REMINDER_TICK_S="0")
    await kafka.send_event(ns.topic("jobs"), job(tz="UTC", hour=0), key="job-42")  # always past the hour today
    event = registered("late@example.com")
    await kafka.send_event(ns.topic("prospects"), event, key=event["data"]["prospect_id"])
    await applied(ns, kafka, 1)
    reminder.kill()  # down when the hour came
    reminder.env["REMINDER_TICK_S"] = "1"
    reminder.start()  # back the same day: the clock alone brings the missed reminder
    await kafka.read(ns.topic("reminders"), count=1, timeout_s=60)
    # Sent and recorded as published: no later tick of the clock can send it again.
    assert await eventually(lambda: mongo_count(ns.stack, ns.database("reminder"), "published"), timeout_s=30)
    found = events(await kafka.read_to_end(ns.topic("reminders")))
    assert len(found) == 1
    assert found[0]["data"]["pending_total"] == 1 and found[0]["data"]["timezone"] == "UTC"


async def test_the_daily_digest_mail_arrives_once(ns: Namespace, kafka: Kafka):
    from tests.support import mails

    ns.start("reminder", REMINDER_TICK_S="0")
    ns.start("messaging")
    opened = job()
    opened["data"]["recruiter"]["email"] = f"{ns.name}-dana@acme.example"
    await kafka.send_event(ns.topic("jobs"), opened, key="job-42")
    for name in ("ann", "bob"):
        event = registered(f"{name}@example.com")
        await kafka.send_event(ns.topic("prospects"), event, key=event["data"]["prospect_id"])
    await applied(ns, kafka, 2)
    await kafka.send_event(ns.topic("reminder-commands"), run("2026-11-25T08:00:00Z"), key="")
    [reminder] = await reminders(kafka, ns)
    await kafka.send_raw(ns.topic("reminders"), json.dumps(reminder).encode(), key=RECRUITER)  # delivered again
    assert await eventually(lambda: mails(ns.stack.maildir, ns.name), timeout_s=60)
    await kafka.caught_up(ns, "messaging")  # the second delivery is done too
    [digest] = mails(ns.stack.maildir, ns.name)
    assert digest["Subject"] == "2 prospects are waiting for your follow-up"
    text = digest.get_body(("plain",)).get_content()
    assert "Good morning Dana" in text and "ann (unrated)" in text and "Title of job-42: 2" in text
