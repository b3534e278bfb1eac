"""Sequences on the real stack: a recruiter defines a sequence over HTTP, enrolls prospects by
command, and the steps go out through messaging inside the window, once however often the run
is repeated; a reply stops a person's sequence, an out-of-office pauses it to its return date,
the last step completes it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from shared import ids
from tests.support import Kafka, Namespace, cloud_event, eventually, events, http_get, mails, token

RECRUITER = "rec-7"
WINDOW = {"start_hour": 9, "end_hour": 17, "days": ["mon", "tue", "wed", "thu", "fri"]}


def job(job_id: str = "job-42") -> dict:
    return cloud_event("job.opened", {
        "job_id": job_id, "title": "Backend Engineer", "company": "Acme", "location": "Berlin",
        "apply_url": "https://acme.example/jobs/42/apply", "interview_url": "https://acme.example/book/42",
        "recruiter": {"recruiter_id": RECRUITER, "name": "Dana Smith", "email": "dana@acme.example",
                      "timezone": "Europe/Berlin", "country": "DE"}}, source="tests/ats")


def prospect(email: str, name: str, job_id: str = "job-42") -> dict:
    return cloud_event("prospect.registered", {
        "prospect_id": ids.prospect_id(job_id, email), "person_id": ids.person_id(email), "job_id": job_id,
        "profile": {"name": name, "email": email}, "inquiry": {"board": "b", "inquired_at": "2026-11-20T09:00:00Z"}},
        source="prospectflow/intake")


class World:
    def __init__(self, ns: Namespace, kafka: Kafka) -> None:
        self.ns, self.kafka = ns, kafka
        ns.start("messaging")
        self.sequences = ns.start("sequences")
        self.token = token(ns.jwt_secret, RECRUITER)

    def api(self, method: str, path: str, body: Any = None, recruiter_token: str | None = None) -> httpx.Response:
        return httpx.request(method, f"{self.sequences.http}{path}", json=body,
                             headers={"Authorization": f"Bearer {recruiter_token or self.token}"}, timeout=10)

    async def people(self, emails: list[str]) -> list[str]:
        await self.kafka.send_event(self.ns.topic("jobs"), job(), key="job-42")
        registered = [prospect(e, f"Person {n}") for n, e in enumerate(emails)]
        await self.kafka.send_many(self.ns.topic("prospects"), [(e["data"]["prospect_id"], e) for e in registered])
        for service in ("messaging", "sequences"):
            await self.kafka.caught_up(self.ns, service)
        return [e["data"]["prospect_id"] for e in registered]

    async def command(self, kind: str, data: dict, *, time: str | None = "2026-12-07T07:00:00Z") -> dict:
        """A command on `sequence-commands`, and its `command.completed`."""
        command = cloud_event(kind, data, source="tests/app", time=time)
        await self.kafka.send_event(self.ns.topic("sequence-commands"), command, key=RECRUITER)
        [done] = [e for e in events(await self.kafka.read(
            self.ns.topic("command-results"), until=lambda rs: any(command["id"] in r.value.decode() for r in rs),
            timeout_s=90)) if e["data"]["command_id"] == command["id"]]
        return done["data"]

    async def steps(self, count: int) -> list[dict]:
        """The first `count` `messages.send` the sequences service published."""
        return events(await self.kafka.read(self.ns.topic("messaging-commands"), count=count, timeout_s=90))

    async def sequence_events(self, until: Any) -> list[dict]:
        return events(await self.kafka.read(self.ns.topic("sequences"),
                                            until=lambda rs: until([e for e in events(rs)]), timeout_s=90))

    def enrollment(self, prospect_id: str) -> dict:
        status, found = http_get(f"{self.sequences.http}/v1/enrollments?prospect_id={prospect_id}", self.token)
        assert status == 200, found
        return found[-1]


async def test_a_sequence_runs_by_itself_and_stops_when_the_person_answers(ns: Namespace, kafka: Kafka):
    world = World(ns, kafka)
    tag = ns.name
    a, b = await world.people([f"{tag}-a@example.com", f"{tag}-b@example.com"])

    # Bad definitions are refused with the reason; a good one is created.
    refused = world.api("POST", "/v1/sequences", {"name": "x", "steps": [
        {"template": "ask_to_apply", "delay_business_days": 0}, {"template": "not_a_match", "delay_business_days": 0}],
        "window": WINDOW})
    assert refused.status_code == 422 and "only the first step" in refused.json()["detail"]
    assert world.api("POST", "/v1/sequences", {"name": "x", "steps": []}).status_code == 422
    created = world.api("POST", "/v1/sequences", {"name": "Backend follow-up", "window": WINDOW, "daily_cap": 50,
                                                  "steps": [{"template": "ask_to_apply", "delay_business_days": 0},
                                                            {"template": "follow_up", "delay_business_days": 2}]})
    assert created.status_code == 201, created.text
    sequence_id = created.json()["sequence_id"]
    other = world.api("GET", f"/v1/sequences/{sequence_id}", recruiter_token=token(ns.jwt_secret, "rec-8"))
    assert other.status_code == 404

    # Enrolled (an unknown prospect refused), and not twice.
    done = await world.command("sequences.enroll", {"recruiter_id": RECRUITER, "sequence_id": sequence_id,
                                                    "prospect_ids": [a, b, "nobody"]})
    assert sorted(done["accepted"]) == sorted([a, b])
    assert done["rejected"] == [{"prospect_id": "nobody", "reason": "unknown_prospect"}]
    again = await world.command("sequences.enroll", {"recruiter_id": RECRUITER, "sequence_id": sequence_id,
                                                     "prospect_ids": [a]})
    assert again["rejected"] == [{"prospect_id": a, "reason": "already_enrolled"}]
    # Enrolled on Monday 08:00 Berlin (07:00 UTC): step 1 is due at 09:00, not before.
    assert world.enrollment(a)["next_at"].startswith("2026-12-07T08:00:00")
    early = await world.command("sequences.run", {"as_of": "2026-12-07T07:30:00Z"})
    assert early["command_type"] == "sequences.run"
    assert await kafka.read_to_end(ns.topic("messaging-commands")) == []  # its result came after any step

    # Tuesday 16:30 Berlin: inside the window, most of the day's cap allowed: both step 1s go,
    # once, however often the run is repeated.
    for _ in range(3):
        await world.command("sequences.run", {"as_of": "2026-12-08T15:30:00Z"})
    first = await world.steps(2)
    assert {c["data"]["prospect_ids"][0] for c in first} == {a, b}
    assert all(c["data"]["template"] == "ask_to_apply" and c["data"]["sequence"]["step"] == 1 for c in first)
    sent = events(await kafka.read(ns.topic("messages"), count=2, timeout_s=90))
    assert all(e["type"] == "message.sent" and e["data"]["sequence"]["sequence_id"] == sequence_id for e in sent)
    assert len(mails(ns.stack.maildir, tag)) == 2

    # Step 2 is scheduled two business days after step 1 was sent, in the window.
    await eventually(lambda: world.enrollment(b)["steps_sent"] == 1, timeout_s=60)
    b_next = datetime.fromisoformat(world.enrollment(b)["next_at"])
    sent_at = datetime.fromisoformat(next(e for e in sent if e["data"]["prospect_id"] == b)["data"]["sent_at"])
    # (next_at is kept to the millisecond, as the database keeps times: compare at that precision)
    assert b_next - sent_at.replace(microsecond=sent_at.microsecond - sent_at.microsecond % 1000) >= timedelta(days=2)

    # A answers: their sequence stops (replied); B's goes on to its last step and completes.
    replied = next(e for e in sent if e["data"]["prospect_id"] == a)["data"]
    await kafka.send_event(ns.topic("messages"), cloud_event("message.replied", {
        "message_id": replied["message_id"], "prospect_id": a, "job_id": "job-42", "recruiter_id": RECRUITER,
        "received_at": "2026-12-08T16:00:00Z", "from": replied["to"], "subject": "Re: hi", "text": "Yes, gladly!"},
        source="prospectflow/messaging/inbound"), key=a)
    stopped = await world.sequence_events(lambda es: any(e["type"] == "sequence.stopped" for e in es))
    assert [(e["data"]["prospect_id"], e["data"]["reason"]) for e in stopped if e["type"] == "sequence.stopped"] == \
        [(a, "replied")]
    await world.command("sequences.run", {"as_of": (b_next + timedelta(minutes=30)).isoformat()})
    second = await world.steps(3)
    assert [(c["data"]["prospect_ids"], c["data"]["template"], c["data"]["sequence"]["step"]) for c in second[2:]] == \
        [([b], "follow_up", 2)]
    completed = await world.sequence_events(lambda es: any(e["type"] == "sequence.completed" for e in es))
    assert [e["data"]["prospect_id"] for e in completed if e["type"] == "sequence.completed"] == [b]
    assert world.enrollment(a)["state"] == "stopped" and world.enrollment(b)["state"] == "completed"
    # The follow-up answers B's first mail: `Re:` its subject, in its thread.
    to_b = [m for m in mails(ns.stack.maildir, tag) if m["To"].addresses[0].addr_spec == f"{tag}-b@example.com"]
    first_mail, follow_up = sorted(to_b, key=lambda m: m["Subject"].startswith("Re: "))
    assert follow_up["Subject"] == f"Re: {first_mail['Subject']}"
    assert follow_up["In-Reply-To"] == follow_up["References"] == first_mail["Message-ID"]
    assert "follow up on my message" in follow_up.get_body(("plain",)).get_content()

    # Nothing more, however often it runs; the figures say what happened.
    await world.command("sequences.run", {"as_of": "2027-01-05T12:00:00Z"})
    await kafka.caught_up(ns, "sequences")
    assert len(await kafka.read_to_end(ns.topic("messaging-commands"))) == 3
    [listed] = world.api("GET", "/v1/sequences").json()
    assert [(f["step"], f["sent"], f["replied"]) for f in listed["figures"]] == [(1, 2, 1), (2, 1, 0)]


async def test_an_out_of_office_pauses_to_the_return_date_and_a_recruiter_stops(ns: Namespace, kafka: Kafka):
    world = World(ns, kafka)
    a, b = await world.people([f"{ns.name}-a@example.com", f"{ns.name}-b@example.com"])
    sequence_id = world.api("POST", "/v1/sequences", {
        "name": "Two steps", "window": WINDOW,
        "steps": [{"template": "ask_to_apply", "delay_business_days": 0},
                  {"template": "arrange_interview", "delay_business_days": 1}]}).json()["sequence_id"]
    await world.command("sequences.enroll", {"recruiter_id": RECRUITER, "sequence_id": sequence_id,
                                             "prospect_ids": [a, b]})
    await world.command("sequences.run", {"as_of": "2026-12-08T15:30:00Z"})
    sent = events(await kafka.read(ns.topic("messages"), count=2, timeout_s=90))
    await eventually(lambda: world.enrollment(a)["steps_sent"] == 1, timeout_s=60)

    # A is away until 14 December (in German): paused to the first window moment that day.
    message = next(e for e in sent if e["data"]["prospect_id"] == a)["data"]
    await kafka.send_event(ns.topic("messages"), cloud_event("message.auto_replied", {
        "message_id": message["message_id"], "prospect_id": a, "job_id": "job-42", "recruiter_id": RECRUITER,
        "received_at": "2026-12-08T16:00:00Z", "kind": "out_of_office",
        "text": "Vielen Dank für Ihre Nachricht. Ich bin zurück am 14.12. und antworte dann."},
        source="prospectflow/messaging/inbound", time="2026-12-08T16:00:00Z"), key=a)
    paused = await world.sequence_events(lambda es: any(e["type"] == "sequence.paused" for e in es))
    [pause] = [e["data"] for e in paused if e["type"] == "sequence.paused"]
    assert (pause["prospect_id"], pause["until"]) == (a, "2026-12-14T08:00:00Z")
    assert world.enrollment(a)["state"] == "paused"

    # The recruiter stops B.
    stop = await world.command("sequences.stop", {"recruiter_id": RECRUITER, "prospect_ids": [b, "nobody"]})
    assert stop["accepted"] == [b]
    assert world.enrollment(b)["state"] == "stopped" and world.enrollment(b)["reason"] == "recruiter"

    # Before the 14th nothing goes to A; on the 14th at 10:00 Berlin it resumes with step 2.
    await world.command("sequences.run", {"as_of": "2026-12-11T10:00:00Z"})
    await kafka.caught_up(ns, "sequences")
    assert len(await kafka.read_to_end(ns.topic("messaging-commands"))) == 2
    await world.command("sequences.run", {"as_of": "2026-12-14T09:00:00Z"})
    commands = await world.steps(3)
    assert (commands[2]["data"]["prospect_ids"], commands[2]["data"]["sequence"]["step"]) == ([a], 2)
    resumed = await world.sequence_events(lambda es: any(e["type"] == "sequence.resumed" for e in es))
    assert [e["data"]["prospect_id"] for e in resumed if e["type"] == "sequence.resumed"] == [a]


async def test_a_replica_killed_mid_run_and_a_run_repeated_send_each_step_once(ns: Namespace, kafka: Kafka):
    """Two replicas; one is killed (SIGKILL) while the steps of 150 enrollments go out; the run is
    repeated on the survivor and a new replica: each person gets their first mail exactly once."""
    world = World(ns, kafka)
    world.sequences.wait_for_log("Uvicorn running")
    doomed = ns.start("sequences")
    emails = [f"{ns.name}-{n}@example.com" for n in range(150)]
    people = await world.people(emails)
    sequence_id = world.api("POST", "/v1/sequences", {
        "name": "One step", "window": WINDOW, "daily_cap": 1000,
        "steps": [{"template": "ask_to_apply", "delay_business_days": 0}]}).json()["sequence_id"]
    done = await world.command("sequences.enroll", {"recruiter_id": RECRUITER, "sequence_id": sequence_id,
                                                    "prospect_ids": people})
    assert len(done["accepted"]) == 150
    run = cloud_event("sequences.run", {"as_of": "2026-12-08T15:30:00Z"}, source="tests/ops")
    await kafka.send_event(ns.topic("sequence-commands"), run, key=RECRUITER)
    await kafka.read(ns.topic("messaging-commands"), count=1, timeout_s=60)  # under way
    doomed.kill()
    ns.start("sequences")  # a replica comes back
    for _ in range(2):
        await world.command("sequences.run", {"as_of": "2026-12-08T15:40:00Z"})
    await kafka.caught_up(ns, "sequences")

    def delivered() -> list[Any]:
        found = mails(ns.stack.maildir, ns.name)
        return found if len(found) >= 150 else []
    received = await eventually(delivered, timeout_s=120)
    await kafka.caught_up(ns, "messaging")
    addresses = [m["To"].addresses[0].addr_spec for m in mails(ns.stack.maildir, ns.name)]
    assert sorted(addresses) == sorted(emails), f"{len(received)} mails for {len(set(addresses))} people"
    steps = events(await kafka.read_to_end(ns.topic("messaging-commands")))
    assert len({s["id"] for s in steps}) == 150  # one command per step, however often published


async def test_the_cap_spills_to_the_next_business_day_oldest_first(ns: Namespace, kafka: Kafka):
    """One step a day: of two due on Tuesday, the one enrolled first goes; the other goes on
    Wednesday when the window opens, however often Tuesday's run is repeated."""
    world = World(ns, kafka)
    a, b = await world.people([f"{ns.name}-a@example.com", f"{ns.name}-b@example.com"])
    sequence_id = world.api("POST", "/v1/sequences", {
        "name": "One a day", "window": WINDOW, "daily_cap": 1,
        "steps": [{"template": "ask_to_apply", "delay_business_days": 0}]}).json()["sequence_id"]
    # B first (Monday 08:00 Berlin: due at 09:00), then A (Monday 11:00 Berlin: due at once).
    await world.command("sequences.enroll", {"recruiter_id": RECRUITER, "sequence_id": sequence_id,
                                             "prospect_ids": [b]}, time="2026-12-07T07:00:00Z")
    await world.command("sequences.enroll", {"recruiter_id": RECRUITER, "sequence_id": sequence_id,
                                             "prospect_ids": [a]}, time="2026-12-07T10:00:00Z")
    for _ in range(2):
        await world.command("sequences.run", {"as_of": "2026-12-08T15:30:00Z"})
    await kafka.caught_up(ns, "sequences")
    tuesday = events(await kafka.read_to_end(ns.topic("messaging-commands")))
    assert [c["data"]["prospect_ids"] for c in tuesday] == [[b]]
    assert world.enrollment(a)["state"] == "running"  # waiting for tomorrow's allowance
    await world.command("sequences.run", {"as_of": "2026-12-09T08:05:00Z"})  # Wednesday 09:05 Berlin
    both = await world.steps(2)
    assert [c["data"]["prospect_ids"] for c in both] == [[b], [a]]


async def test_not_a_fit_a_closed_job_and_a_bounce_stop_and_a_new_version_leaves_running_ones_alone(
        ns: Namespace, kafka: Kafka):
    world = World(ns, kafka)
    a, b, c, d = await world.people([f"{ns.name}-{x}@example.com" for x in "abcd"])
    await kafka.send_event(ns.topic("jobs"), job("job-43"), key="job-43")
    closing = prospect(f"{ns.name}-e@example.com", "Person E", "job-43")
    await kafka.send_event(ns.topic("prospects"), closing, key=closing["data"]["prospect_id"])
    e = closing["data"]["prospect_id"]
    await kafka.caught_up(ns, "sequences")
    first = {"name": "Versioned", "window": WINDOW, "steps": [{"template": "ask_to_apply", "delay_business_days": 0},
                                                              {"template": "follow_up", "delay_business_days": 1}]}
    sequence_id = world.api("POST", "/v1/sequences", first).json()["sequence_id"]
    await world.command("sequences.enroll", {"recruiter_id": RECRUITER, "sequence_id": sequence_id,
                                             "prospect_ids": [a, b, c, e]})

    # Version 2 changes step 1: those enrolled before keep version 1; D, enrolled after, gets 2.
    second = {**first, "steps": [{"template": "arrange_interview", "delay_business_days": 0}]}
    changed = world.api("PUT", f"/v1/sequences/{sequence_id}", second)
    assert changed.status_code == 200 and changed.json()["version"] == 2
    await world.command("sequences.enroll", {"recruiter_id": RECRUITER, "sequence_id": sequence_id,
                                             "prospect_ids": [d]})
    assert [world.enrollment(p)["version"] for p in (a, d)] == [1, 2]

    # A rated not for this job, E's job closed, then the run: neither gets step 1.
    await kafka.send_event(ns.topic("assessments"), cloud_event("prospect.rated", {
        "prospect_id": a, "job_id": "job-42", "recruiter_id": RECRUITER, "rating": "not_a_fit",
        "previous_rating": "unrated", "command_id": "rate-1"}, source="prospectflow/rating"), key=a)
    await kafka.send_event(ns.topic("jobs"), cloud_event("job.closed", {"job_id": "job-43"}, source="tests/ats"),
                           key="job-43")
    stopped = await world.sequence_events(lambda es: sum(x["type"] == "sequence.stopped" for x in es) >= 2)
    assert sorted((x["data"]["prospect_id"], x["data"]["reason"]) for x in stopped if x["type"] == "sequence.stopped") \
        == sorted([(a, "not_a_fit"), (e, "job_closed")])
    await world.command("sequences.run", {"as_of": "2026-12-08T15:30:00Z"})
    steps = await world.steps(3)
    assert sorted((s["data"]["prospect_ids"][0], s["data"]["template"]) for s in steps) == \
        sorted([(b, "ask_to_apply"), (c, "ask_to_apply"), (d, "arrange_interview")])

    # C's mail bounces for good: their sequence stops; B's goes on to version 1's step 2.
    sent = events(await kafka.read(ns.topic("messages"), count=3, timeout_s=90))
    to_c = next(x for x in sent if x["data"]["prospect_id"] == c)["data"]
    await kafka.send_event(ns.topic("messages"), cloud_event("message.bounced", {
        "message_id": to_c["message_id"], "prospect_id": c, "job_id": "job-42", "recruiter_id": RECRUITER,
        "received_at": "2026-12-08T16:00:00Z", "permanent": True, "status": "5.1.1", "diagnostic": "no such user"},
        source="prospectflow/messaging/inbound"), key=c)
    await eventually(lambda: world.enrollment(c)["state"] == "stopped", timeout_s=60)
    assert world.enrollment(c)["reason"] == "bounced"
    await eventually(lambda: world.enrollment(b)["steps_sent"] == 1, timeout_s=60)
    await world.command("sequences.run", {"as_of": "2026-12-11T12:00:00Z"})
    later = (await world.steps(4))[3:]
    assert [(s["data"]["prospect_ids"], s["data"]["template"]) for s in later] == [([b], "follow_up")]
    await eventually(lambda: world.enrollment(d)["state"] == "completed", timeout_s=60)  # version 2: one step
