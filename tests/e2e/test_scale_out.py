"""Every service as two replicas in one group, under load, with one replica of each killed
(SIGKILL) and another started mid-stream: no lost and no duplicated effect, lag back to 0, and
/ready answering correctly throughout."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
from collections import Counter

from shared import ids
from tests.integration.test_rating import RECRUITER, job_opened, on_board, rate
from tests.support import (
    Kafka, Namespace, cloud_event, eventually, events, http_get, http_text, mails, metric, mongo_count,
)

SERVICES = ("intake", "rating", "messaging", "reminder")
PROSPECTS = 400
CHUNK = 50  # services.messaging.handlers.CHUNK: the most a crash can send twice


async def test_two_replicas_each_one_killed_and_replaced_mid_stream(ns: Namespace, kafka: Kafka):
    tag = ns.name
    env = {"REMINDER_TICK_S": "0", **{f"{s.upper()}_WATCH_INTERVAL_S": "0.5" for s in SERVICES},
           **{f"{s.upper()}_BATCH_MAX_RECORDS": "50" for s in SERVICES}}  # many batches: kills land mid-stream
    replicas = {s: [ns.start(s, **env), ns.start(s, **env)] for s in SERVICES}
    answers: list[tuple[str, int, dict]] = []
    done = asyncio.Event()
    watching = asyncio.create_task(_watch_ready(replicas, answers, done))
    try:
        for process in [p for ps in replicas.values() for p in ps]:
            await _ready(process)

        # Inquiries, with a tenth of them published twice (a board's redelivery: same event id).
        await kafka.send_event(ns.topic("jobs"), job_opened(), key="job-42")
        emails = [f"{tag}-{n}@example.com" for n in range(PROSPECTS)]
        inquiries = [cloud_event("inquiry.received", {"job_id": "job-42", "board": "acme-board",
                                                      "prospect": {"name": f"Person {n}", "email": e}})
                     for n, e in enumerate(emails)]
        await kafka.send_many(ns.topic("inquiries"), [(e, i) for e, i in zip(emails, inquiries)])
        await kafka.send_many(ns.topic("inquiries"), [(e, i) for e, i in zip(emails[::10], inquiries[::10])])
        pids = [ids.prospect_id("job-42", e) for e in emails]

        await on_board(ns, PROSPECTS // 4)  # mid-stream: kill one intake and one rating, start another of each
        for service, topic in (("intake", "inquiries"), ("rating", "prospects")):
            _busiest(replicas[service], "prospectflow_events_consumed_total", topic=topic).kill()
            replicas[service].append(ns.start(service, **env))
        await on_board(ns, PROSPECTS, {"recruiter_id": RECRUITER})

        # Ratings, a send to everyone, and reminders.run racing on every partition.
        commands = [rate(pids[i:i + 20], "shortlist") for i in range(0, PROSPECTS, 20)]
        await kafka.send_many(ns.topic("rating-commands"), [(RECRUITER, c) for c in commands])
        send = cloud_event("messages.send", {"recruiter_id": RECRUITER, "prospect_ids": pids,
                                             "template": "ask_to_apply"}, source="tests/app")
        await kafka.send_event(ns.topic("messaging-commands"), send, key=RECRUITER)
        runs = [cloud_event("reminders.run", {"as_of": "2026-11-26T08:30:00+01:00", "recruiter_id": RECRUITER},
                            source="tests/operator") for _ in range(12)]
        await kafka.send_many(ns.topic("reminder-commands"), [(f"key-{n}", r) for n, r in enumerate(runs)])

        await kafka.read(ns.topic("messages"), count=CHUNK, timeout_s=120)  # sending: kill the sender now
        sender = _busiest(replicas["messaging"], "prospectflow_mails_total")
        sent_before_kill = metric(http_text(f"{sender.http}/metrics")[1], "prospectflow_mails_total")
        sender.kill()
        assert 0 < sent_before_kill < PROSPECTS  # killed while sending
        _busiest(replicas["reminder"], "prospectflow_events_consumed_total", topic="reminder-commands").kill()
        for service in ("messaging", "reminder"):
            replicas[service].append(ns.start(service, **env))

        for service in SERVICES:
            await kafka.caught_up(ns, service, timeout_s=180)
    finally:
        done.set()
        await watching

    # Registrations: one per prospect, by one event id each.
    prospects = events(await kafka.read_to_end(ns.topic("prospects")))
    registered = {(e["data"]["prospect_id"], e["id"]) for e in prospects if e["type"] == "prospect.registered"}
    assert Counter(pid for pid, _ in registered) == Counter(pids)
    assert [e for e in prospects if e["type"] == "prospect.inquired_again"] == []  # redeliveries changed nothing
    assert await mongo_count(ns.stack, ns.database("rating"), "board", {"rating": "shortlist"}) == PROSPECTS

    # Every command answered once (one event id each); each rating change once.
    results = events(await kafka.read_to_end(ns.topic("command-results")))
    answered = Counter(e["data"]["command_id"] for e in {e["id"]: e for e in results}.values())
    assert answered == Counter({c["id"]: 1 for c in commands} | {send["id"]: 1})
    rated = {e["id"]: e for e in events(await kafka.read_to_end(ns.topic("assessments"))) if e["type"] == "prospect.rated"}
    assert Counter(e["data"]["prospect_id"] for e in rated.values()) == Counter(pids)

    # Every recipient one message.sent (one id each); mails twice at most for one chunk per kill.
    messages = {e["id"]: e for e in events(await kafka.read_to_end(ns.topic("messages")))}
    assert Counter(e["data"]["prospect_id"] for e in messages.values() if e["type"] == "message.sent") == Counter(pids)
    received = Counter(m["To"].addresses[0].addr_spec for m in mails(ns.stack.maildir, tag))
    assert set(received) == set(emails)
    duplicated = sum(n - 1 for n in received.values())
    assert duplicated <= CHUNK, f"{duplicated} mails sent twice"

    # One reminder for the recruiter and that date, whatever replica evaluated which run.
    reminders = {e["id"]: e for e in events(await kafka.read_to_end(ns.topic("reminders")))}
    assert [(e["data"]["recruiter_id"], e["data"]["date"]) for e in reminders.values()] == [(RECRUITER, "2026-11-26")]

    # /ready: only 200 or a 503 naming what is missing; every live replica ready at the end.
    assert {status for _, status, _ in answers} <= {200, 503}
    assert all(body.get("problems") for _, status, body in answers if status == 503)
    for process in [p for ps in replicas.values() for p in ps if p.popen.poll() is None]:
        assert await _ready(process) == {"status": "ready"}
    dead = [p for ps in replicas.values() for p in ps if p.popen.poll() is not None]
    assert len(dead) == 4


def _busiest(processes: list, name: str, **labels: str):
    """Of the live replicas, the one that has done the most of `name`: the one to kill."""
    live = [p for p in processes if p.popen.poll() is None]
    return max(live, key=lambda p: metric(http_text(f"{p.http}/metrics")[1], name, **labels))


async def _ready(process) -> dict:
    async def answer():
        try:
            status, body = http_get(f"{process.http}/ready")
        except urllib.error.URLError:
            return None
        return body if status == 200 else None
    return await eventually(answer, timeout_s=60)


async def _watch_ready(replicas: dict, answers: list, done: asyncio.Event) -> None:
    """Until `done`, ask every live replica's /ready twice a second; keep what each answered."""
    while not done.is_set():
        for process in [p for ps in replicas.values() for p in ps if p.popen and p.popen.poll() is None]:
            try:
                status, body = await asyncio.to_thread(http_get, f"{process.http}/ready")
            except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
                continue  # starting, or being killed
            answers.append((process.label, status, body))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=0.5)  # the sampling period, or the end
