"""The chaos campaign.

On a private stack of its own (Kafka, the database, the SMTP sink, on free ports under
`.devstack/chaos/`), two replicas of every service run a mixed workload: inquiries with
redeliveries, merges and bad ones; rate and flag commands, some on another recruiter's
prospects; sends of every template, also to recipients the sink refuses for good (`reject*`) or
for now (`tempfail*`); opt-outs; `reminders.run` for recruiters in many time zones, on every
partition. Meanwhile, on a seeded schedule, one fault at a time: a replica SIGKILLed (and
restarted), a replica stopped (SIGSTOP, sometimes past its session timeout) and continued, Kafka
killed and restarted, the database killed and restarted, the SMTP sink down, the SMTP sink slow.

Then the faults stop, every replica runs, and the campaign waits until every consumer group has
committed everything (lag 0), reads every topic and the sink, and checks the invariants of the
promise "at least once in, effectively once out; bad input never stops a partition; outages
stall, they do not drop". It prints a table (faults by kind, events, each invariant with its
expected and observed count) and fails on any violation.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devstack.stack import ROOT, StackConfig, down, kill_part, remove, restart_part, up
from prospectflow.bus import Bus
from shared import ids, topics
from shared.settings import KafkaSettings

SERVICES = ("intake", "rating", "messaging", "reminder")
TIME_ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", "Pacific/Auckland", "America/Los_Angeles",
              "Asia/Kolkata", "Australia/Sydney"]
TEMPLATES = ["ask_to_apply", "arrange_interview", "not_a_match"]
CHUNK = 50  # services.messaging.handlers.CHUNK: a crash mid-send resends at most one chunk


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(span: int) -> tuple[int, int]:
    """Two bases with `span` free ports above each (Kafka nodes take every other port)."""
    import socket

    rnd = random.Random()
    while True:
        base = rnd.randrange(20_000, 32_000, 2)  # below the kernel's ephemeral range: no client takes them
        wanted = range(base, base + 2 * span)
        try:
            for port in wanted:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base, base + 1


def event(type_: str, data: dict[str, Any], event_id: str, source: str = "chaos/workload") -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": source, "type": type_,
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "datacontenttype": "application/json",
            "data": data}


@dataclass
class Replica:
    service: str
    index: int
    env: dict[str, str]
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0
    paused: bool = False

    @property
    def name(self) -> str:
        return f"{self.service}{self.index}"

    def start(self) -> None:
        self.runs += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{self.name}-run{self.runs}.log", "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", f"services.{self.service}"], cwd=ROOT, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.paused = False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(sig)
            if sig == signal.SIGKILL:
                self.process.wait()
            self.paused = sig == signal.SIGSTOP

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            if self.paused:
                self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Sent:
    """What the workload published, to check what came out against."""

    valid_inquiries: dict[str, tuple[str, str]] = field(default_factory=dict)  # event id -> (job, email)
    invalid_inquiries: set[str] = field(default_factory=set)  # markers in their bytes
    commands: dict[str, str] = field(default_factory=dict)  # command id -> type
    other_valid: set[str] = field(default_factory=set)  # ids of other valid events (jobs, opt-outs, runs)
    messages: int = 0
    redeliveries: int = 0


class Campaign:
    def __init__(self, *, seed: int, duration_s: float, brokers: int = 1, only: list[str] | None = None) -> None:
        if brokers not in (1, 3):
            raise SystemExit("chaos: KAFKA_BROKERS is 1 (an outage of the one broker) or 3 (its leaders killed)")
        self.brokers = brokers
        self.only = only or []
        self.seed = seed
        self.duration_s = duration_s
        self.rnd = random.Random(seed)  # the workload's
        self.fault_rnd = random.Random(seed + 1_000_003)  # the faults', apart: the same seed, the same schedule
        self.home = ROOT / ".devstack" / f"chaos-{seed}-{os.getpid()}"
        base, _ = free_ports(5)  # Kafka's six (brokers on even, controllers on odd), then the others
        self.config = StackConfig(state_dir=self.home / "stack", kafka_port=base, controller_port=base + 1,
                                  mongo_port=base + 6, pg_port=base + 7, smtp_port=base + 8, kafka_heap_mb=384,
                                  kafka_brokers=brokers, external_kafka=None, external_mongo=None, external_smtp=None)
        self.replicas: list[Replica] = []
        self.faults: Counter[str] = Counter()
        self.sent = Sent()
        self.recruiters = [(f"rec-{n}", TIME_ZONES[n % len(TIME_ZONES)], self.rnd.randrange(24)) for n in range(12)]
        self.jobs = {f"job-{r}-{k}": r for r, _, _ in self.recruiters for k in range(2)}
        self.prospects: dict[str, list[str]] = defaultdict(list)  # recruiter -> prospect ids sent
        self.report = ""
        self.held = False
        self._started = False

    # --- the stack and the services ----------------------------------------------------------

    def _say(self, message: str) -> None:
        print(f"chaos: {message}", flush=True)

    def start(self) -> None:
        self._say(f"seed {self.seed}, {self.duration_s:.0f} s; a private stack in {self.home}")
        up(self.config, quiet=True)
        self._started = True
        addresses = self.config.addresses()
        for service in SERVICES:
            for index in (1, 2):
                env = {**os.environ, **addresses, "PYTHONUNBUFFERED": "1", "KAFKA_TOPIC_PREFIX": "",
                       f"{service.upper()}_HTTP_PORT": str(free_port()),
                       f"{service.upper()}_RETRY_MAX_BACKOFF_S": "1",
                       "RATING_JWT_SECRET": "chaos-secret-long-enough-for-hs256",
                       "MESSAGING_UNSUBSCRIBE_SECRET": "chaos-unsubscribe", "MESSAGING_SMTP_MAX_ATTEMPTS": "3",
                       "REMINDER_TICK_S": "5"}
                for variable in [k for k in env if k.endswith(("_DATABASE", "_GROUP_ID"))]:
                    env.pop(variable)  # the services' own defaults: one group per service
                replica = Replica(service, index, env, self.home / "logs")
                replica.start()
                self.replicas.append(replica)

    def tear_down(self) -> None:
        for replica in self.replicas:
            replica.stop()
        if self.held:  # nothing to look into: the private stack's data and logs go
            remove(self.config)
            shutil.rmtree(self.home, ignore_errors=True)
        elif self._started:
            down(self.config)
        self._started = False

    # --- the run -------------------------------------------------------------------------------

    async def run(self) -> bool:
        await asyncio.to_thread(self.start)
        settings = KafkaSettings(bootstrap_servers=self.config.addresses()["KAFKA_BOOTSTRAP_SERVERS"])
        async with Bus(settings) as bus:
            await self._wait_topics(bus)
            await self._open_jobs(bus)
            stop = asyncio.Event()
            workload = asyncio.create_task(self._workload(bus, stop))
            faults = asyncio.create_task(self._faults(stop))
            await asyncio.sleep(self.duration_s)
            stop.set()
            await asyncio.gather(workload, faults)
            self._say("faults stopped; every replica running; waiting for every group to catch up")
            caught_up = await self._settle(bus)
            observed = await self._observe(bus)
        return self._check(observed, caught_up)

    async def _wait_topics(self, bus: Bus) -> None:
        deadline = time.monotonic() + 120
        wanted = {t for s in SERVICES for t in topics.CONSUMED_BY[s]}
        while not wanted <= await bus.existing_topics(refresh=True):
            if time.monotonic() > deadline:
                raise SystemExit("chaos: the services did not create their topics within 2 minutes")
            await asyncio.sleep(0.5)

    async def _publish(self, bus: Bus, topic: str, key: str | None, value: dict[str, Any] | bytes) -> None:
        """Until Kafka takes it (a retry re-sends the same event: a redelivery, as producers do)."""
        while True:
            try:
                await asyncio.wait_for(bus.publish(topic, key, value), timeout=20)
                self.sent.messages += 1
                return
            except Exception:  # noqa: BLE001 - Kafka away: try again, same bytes
                self.sent.redeliveries += 1
                await asyncio.sleep(1)

    async def _open_jobs(self, bus: Bus) -> None:
        by_id = {r: (tz, hour) for r, tz, hour in self.recruiters}
        for job_id, recruiter in self.jobs.items():
            tz, hour = by_id[recruiter]
            opened = event("job.opened", {
                "job_id": job_id, "title": f"Engineer {job_id}", "company": "Acme",
                "apply_url": f"https://acme.example/{job_id}/apply", "interview_url": f"https://acme.example/{job_id}/book",
                "recruiter": {"recruiter_id": recruiter, "name": f"Recruiter {recruiter}",
                              "email": f"{recruiter}@acme.example", "timezone": tz, "reminder_hour": hour}},
                f"open-{job_id}-{self.seed}")
            self.sent.other_valid.add(opened["id"])
            await self._publish(bus, "jobs", job_id, opened)

    async def _workload(self, bus: Bus, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            for _ in range(8):
                await self._inquiry(bus)
            if n % 2 == 0:
                await self._command(bus, self.rnd.choice(["prospects.rate", "prospects.flag_follow_up"]))
            if n % 4 == 0:
                await self._command(bus, "messages.send")
            if n % 3 == 0:
                await self._reminders_run(bus)
            if n % 10 == 0:
                await self._opt_out(bus)
            await asyncio.sleep(0.5)

    async def _inquiry(self, bus: Bus) -> None:
        roll = self.rnd.random()
        job_id = self.rnd.choice(list(self.jobs))
        if roll < 0.05:  # not JSON at all
            marker = f"chaos-junk-{len(self.sent.invalid_inquiries)}-{self.seed}"
            self.sent.invalid_inquiries.add(marker)
            await self._publish(bus, "inquiries", None, f"not json {marker}".encode())
            return
        if roll < 0.10:  # a CloudEvent whose e-mail is not one
            marker = f"chaos-bad-{len(self.sent.invalid_inquiries)}-{self.seed}"
            self.sent.invalid_inquiries.add(marker)
            bad = event("inquiry.received", {"job_id": job_id, "board": "b",
                                             "prospect": {"name": "Bad", "email": f"not-an-email-{marker}"}}, marker)
            await self._publish(bus, "inquiries", None, bad)
            return
        if roll < 0.20 and self.sent.valid_inquiries:  # the same inquiry again (same id): a redelivery
            event_id = self.rnd.choice(list(self.sent.valid_inquiries))
            job_id, address = self.sent.valid_inquiries[event_id]
        else:
            number = self.rnd.randrange(2_000)
            kind = self.rnd.choices(["p", "reject", "tempfail"], weights=[90, 5, 5])[0]
            address = f"{kind}-{number}@example.com"
            event_id = f"inq-{len(self.sent.valid_inquiries)}-{self.seed}"
            self.sent.valid_inquiries[event_id] = (job_id, address)
            self.prospects[self.jobs[job_id]].append(ids.prospect_id(job_id, address))
        inquiry = event("inquiry.received", {"job_id": job_id, "board": self.rnd.choice(["acme-board", "other-board"]),
                                             "prospect": {"name": f"Person {address.split('@')[0]}", "email": address},
                                             "message": "I am interested"}, event_id)
        await self._publish(bus, "inquiries", address, inquiry)

    async def _command(self, bus: Bus, kind: str) -> None:
        recruiter = self.rnd.choice([r for r, _, _ in self.recruiters])
        mine = self.prospects.get(recruiter) or []
        if not mine:
            return
        chosen = self.rnd.sample(mine, min(len(mine), self.rnd.randint(1, 15)))
        if self.rnd.random() < 0.1:  # someone else's prospect slipped in: refused as forbidden
            others = [p for r, ps in self.prospects.items() if r != recruiter for p in ps]
            chosen += self.rnd.sample(others, min(2, len(others)))
        command_id = f"cmd-{len(self.sent.commands)}-{self.seed}"
        data: dict[str, Any] = {"recruiter_id": recruiter, "prospect_ids": chosen}
        topic = "rating-commands"
        if kind == "prospects.rate":
            data["rating"] = self.rnd.choice(["shortlist", "not_a_fit", "unrated"])
        elif kind == "prospects.flag_follow_up":
            data["flagged"] = self.rnd.random() < 0.7
        else:
            data["template"] = self.rnd.choice(TEMPLATES)
            if self.rnd.random() < 0.3:
                data["note"] = "Looking forward to hearing from you."
            topic = "messaging-commands"
        self.sent.commands[command_id] = kind
        await self._publish(bus, topic, recruiter, event(kind, data, command_id, "chaos/app"))

    async def _reminders_run(self, bus: Bus) -> None:
        recruiter = self.rnd.choice([r for r, _, _ in self.recruiters])
        as_of = datetime.now(UTC) - timedelta(hours=self.rnd.randrange(0, 72), minutes=self.rnd.randrange(60))
        run = event("reminders.run", {"as_of": as_of.isoformat(), "recruiter_id": recruiter},
                    f"run-{len(self.sent.other_valid)}-{self.seed}", "chaos/operator")
        self.sent.other_valid.add(run["id"])
        await self._publish(bus, "reminder-commands", f"k{self.rnd.randrange(1000)}", run)  # any partition

    async def _opt_out(self, bus: Bus) -> None:
        if not self.sent.valid_inquiries:
            return
        _, address = self.rnd.choice(list(self.sent.valid_inquiries.values()))
        opt_out = event("prospect.opted_out", {"email": address}, f"optout-{len(self.sent.other_valid)}-{self.seed}")
        self.sent.other_valid.add(opt_out["id"])
        await self._publish(bus, "opt-outs", address, opt_out)

    # --- faults --------------------------------------------------------------------------------

    async def _faults(self, stop: asyncio.Event) -> None:
        kinds = ["kill replica", "pause replica", "kill kafka" if self.brokers == 1 else "kill kafka leader",
                 "kill database", "smtp down", "slow smtp"]
        weights = [30, 20, 12, 12, 13, 13]
        if self.only:
            unknown = set(self.only) - set(kinds)
            if unknown:
                raise SystemExit(f"chaos: no fault kind {', '.join(sorted(unknown))}; the kinds: {', '.join(kinds)}")
            weights = [w if k in self.only else 0 for k, w in zip(kinds, weights)]
        await asyncio.sleep(self.fault_rnd.uniform(3, 6))
        while not stop.is_set():
            kind = self.fault_rnd.choices(kinds, weights)[0]
            if kind.endswith("replica") and not any(r.alive() for r in self.replicas):
                raise SystemExit(f"chaos: every replica has exited; see the logs in {self.home / 'logs'}")
            self.faults[kind] += 1
            await getattr(self, "_" + kind.replace(" ", "_"))()
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.fault_rnd.uniform(4, 10))
            except TimeoutError:
                pass

    async def _kill_replica(self) -> None:
        replica = self.fault_rnd.choice([r for r in self.replicas if r.alive()])
        self._say(f"SIGKILL {replica.name}")
        replica.signal(signal.SIGKILL)
        if replica.service == "messaging":
            self.faults["kill messaging (mid-send window)"] += 1
        await asyncio.sleep(self.fault_rnd.uniform(1, 4))
        replica.start()

    async def _pause_replica(self) -> None:
        replica = self.fault_rnd.choice([r for r in self.replicas if r.alive()])
        seconds = self.fault_rnd.choice([self.fault_rnd.uniform(2, 6), self.fault_rnd.uniform(12, 16)])  # past the session timeout too
        self._say(f"SIGSTOP {replica.name} for {seconds:.0f} s")
        replica.signal(signal.SIGSTOP)
        await asyncio.sleep(seconds)
        replica.signal(signal.SIGCONT)

    async def _kill_kafka(self) -> None:
        self._say("SIGKILL kafka")
        await asyncio.to_thread(kill_part, self.config, "kafka")
        await asyncio.sleep(self.fault_rnd.uniform(3, 8))
        await asyncio.to_thread(restart_part, self.config, "kafka")

    async def _kill_kafka_leader(self) -> None:
        """Of three brokers, the one leading most partitions of the busiest topics, killed."""
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=self.config.addresses()["KAFKA_BOOTSTRAP_SERVERS"])
        try:
            await admin.start()
            described = await admin.describe_topics(["inquiries", "prospects", "messaging-commands"])
            leaders = Counter(p["leader"] for t in described for p in t["partitions"] if p["leader"] >= 0)
        except Exception as exc:  # noqa: BLE001 - the cluster is still recovering from the last one
            self._say(f"no leader to kill now ({type(exc).__name__})")
            self.faults["kill kafka leader"] -= 1  # not injected
            return
        finally:
            await admin.close()
        node = leaders.most_common(1)[0][0]
        name = "kafka" if node == 1 else f"kafka{node}"
        self._say(f"SIGKILL {name}, leader of {leaders[node]} of the busiest partitions")
        await asyncio.to_thread(kill_part, self.config, name)
        await asyncio.sleep(self.fault_rnd.uniform(3, 10))
        await asyncio.to_thread(restart_part, self.config, name)

    async def _kill_database(self) -> None:
        self._say("SIGKILL the database (FerretDB)")
        await asyncio.to_thread(kill_part, self.config, "ferretdb")
        await asyncio.sleep(self.fault_rnd.uniform(2, 6))
        await asyncio.to_thread(restart_part, self.config, "ferretdb")

    async def _smtp_down(self) -> None:
        self._say("SIGKILL the SMTP sink")
        await asyncio.to_thread(kill_part, self.config, "smtp")
        self.faults["kill smtp (mid-send window)"] += 1
        await asyncio.sleep(self.fault_rnd.uniform(3, 10))
        await asyncio.to_thread(restart_part, self.config, "smtp")

    async def _slow_smtp(self) -> None:
        self._say("the SMTP sink slow (1 s a mail) for a while")
        await asyncio.to_thread(kill_part, self.config, "smtp", signal.SIGTERM)
        self.config.smtp_delay_ms = 1000
        await asyncio.to_thread(restart_part, self.config, "smtp")
        await asyncio.sleep(self.fault_rnd.uniform(5, 12))
        await asyncio.to_thread(kill_part, self.config, "smtp", signal.SIGTERM)
        self.config.smtp_delay_ms = 0
        await asyncio.to_thread(restart_part, self.config, "smtp")

    # --- after ---------------------------------------------------------------------------------

    async def _settle(self, bus: Bus, timeout_s: float = 600) -> bool:
        for replica in self.replicas:
            if replica.paused:
                replica.signal(signal.SIGCONT)
            if not replica.alive():
                replica.start()
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while time.monotonic() < deadline:
            try:
                lags = [await bus.lag(f"prospectflow-{s}", list(topics.CONSUMED_BY[s])) for s in SERVICES]
            except Exception:  # noqa: BLE001 - Kafka just restarted: ask again
                lags = [{"?": 1}]
            quiet = quiet + 1 if not any(n for lag in lags for n in lag.values()) else 0
            if quiet >= 3:  # three rounds in a row: nothing new is coming from anyone either
                return True
            await asyncio.sleep(1)
        return False

    async def _observe(self, bus: Bus) -> dict[str, Any]:
        read = {name: [r for r in await bus.read(name)] for name in
                ("prospects", "command-results", "messages", "reminders", "assessments")}
        dead = {name: await bus.read(topics.dlq(name)) for name in topics.ALL if topics.dlq(name) in
                await bus.existing_topics(refresh=True)}
        mails = []
        for path in sorted((self.config.maildir / "new").glob("*.eml")):
            mails.append(email.message_from_bytes(path.read_bytes(), policy=email.policy.default))
        return {"topics": {k: [json.loads(r.value) for r in v] for k, v in read.items()}, "dead": dead, "mails": mails}

    def _check(self, observed: dict[str, Any], caught_up: bool) -> bool:
        out = observed["topics"]
        rows: list[tuple[str, str, str, bool]] = []

        def row(name: str, expected: Any, got: Any, ok: bool) -> None:
            rows.append((name, str(expected), str(got), ok))

        row("every consumer group caught up (lag 0)", "yes", "yes" if caught_up else "no", caught_up)

        # every valid inquiry registered once: one registering event id per prospect
        expected_prospects = {ids.prospect_id(j, a) for j, a in self.sent.valid_inquiries.values()}
        registered: dict[str, set[str]] = defaultdict(set)
        for e in out["prospects"]:
            if e["type"] == "prospect.registered":
                registered[e["data"]["prospect_id"]].add(e["id"])
        twice = [p for p, events in registered.items() if len(events) > 1]
        row("prospects registered (one event id each)", len(expected_prospects),
            f"{len(registered)} ({len(twice)} by two ids)", set(registered) == expected_prospects and not twice)

        # every command answered by exactly one command.completed
        answers: dict[str, set[str]] = defaultdict(set)
        accepted: dict[str, list[str]] = {}
        for e in out["command-results"]:
            answers[e["data"]["command_id"]].add(e["id"])
            accepted[e["data"]["command_id"]] = e["data"]["accepted"]
        unanswered = [c for c in self.sent.commands if not answers.get(c)]
        double = [c for c, a in answers.items() if len(a) > 1]
        row("commands answered exactly once", len(self.sent.commands),
            f"{len(self.sent.commands) - len(unanswered)} ({len(double)} twice)", not unanswered and not double)

        # every accepted recipient exactly one message.sent or message.failed
        outcomes: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
        for e in out["messages"]:
            outcomes[(e["data"]["command_id"], e["data"]["prospect_id"])].add((e["type"], e["id"]))
        wanted = {(c, p) for c, kind in self.sent.commands.items() if kind == "messages.send"
                  for p in accepted.get(c, [])}
        missing = wanted - set(outcomes)
        conflicting = [k for k, v in outcomes.items() if len(v) > 1]
        row("accepted recipients with one message.sent or .failed", len(wanted),
            f"{len(wanted) - len(missing)} ({len(conflicting)} with two)", not missing and not conflicting)

        # mails: each Message-ID once, but for the documented window (one chunk per crash mid-send)
        per_id = Counter(str(m["Message-ID"]) for m in observed["mails"])
        duplicated = sum(n - 1 for n in per_id.values())
        window = CHUNK * (self.faults["kill messaging (mid-send window)"] + self.faults["kill smtp (mid-send window)"])
        sent_ids = {e["data"]["message_id"] for e in out["messages"] if e["type"] == "message.sent"}
        row("mails sent twice (at most one chunk per crash mid-send)", f"<= {window}", duplicated, duplicated <= window)
        row("prospect mails in the sink for every message.sent", len(sent_ids),
            len({i for i in per_id if any(s in i for s in sent_ids)}),
            all(any(s in i for i in per_id) for s in sent_ids))

        # one reminder per recruiter and local date
        reminders: dict[tuple[str, str], set[str]] = defaultdict(set)
        for e in out["reminders"]:
            reminders[(e["data"]["recruiter_id"], e["data"]["date"])].add(e["id"])
        row("reminders, one per recruiter and date", f"{len(reminders)} pairs",
            f"{sum(len(v) for v in reminders.values())} reminders", all(len(v) == 1 for v in reminders.values()))

        # no valid input on a DLQ; every invalid input on one
        valid = set(self.sent.valid_inquiries) | set(self.sent.commands) | self.sent.other_valid
        on_dlq_valid, found_invalid = [], set()
        for name, records in observed["dead"].items():
            for r in records:
                raw = r.value or b""
                for marker in self.sent.invalid_inquiries:
                    if marker.encode() in raw:
                        found_invalid.add(marker)
                try:
                    value = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(value, dict) and value.get("id") in valid:
                    on_dlq_valid.append((name, value.get("id")))
        row("valid inputs on a DLQ", 0, len(on_dlq_valid), not on_dlq_valid)
        row("invalid inquiries on inquiries.dlq", len(self.sent.invalid_inquiries), len(found_invalid),
            found_invalid == self.sent.invalid_inquiries)

        ok = self.held = all(r[3] for r in rows)
        lines = [f"# Chaos campaign, seed {self.seed}, {self.duration_s:.0f} s, {len(self.replicas)} replicas, "
                 f"{self.brokers} Kafka broker{'s' if self.brokers > 1 else ''}",
                 "", "| fault | injected |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(self.faults.items())]
        lines += ["", "| workload | count |", "|---|---|",
                  f"| messages published | {self.sent.messages} |",
                  f"| publishes retried while Kafka was away | {self.sent.redeliveries} |",
                  f"| distinct valid inquiries | {len(self.sent.valid_inquiries)} |",
                  f"| invalid inquiries | {len(self.sent.invalid_inquiries)} |",
                  f"| commands | {len(self.sent.commands)} ({', '.join(f'{k} {v}' for k, v in sorted(Counter(self.sent.commands.values()).items()))}) |",
                  f"| events out: prospects / command results / messages / reminders | {len(out['prospects'])} / "
                  f"{len(out['command-results'])} / {len(out['messages'])} / {len(out['reminders'])} |",
                  f"| mails in the sink | {len(observed['mails'])} |",
                  "", "| invariant | expected | observed | held |", "|---|---|---|---|"]
        lines += [f"| {name} | {expected} | {got} | {'yes' if held else '**NO**'} |" for name, expected, got, held in rows]
        lines += ["", "All invariants held." if ok else "VIOLATED: see the rows marked NO; logs in " + str(self.home)]
        self.report = "\n".join(lines) + "\n"
        print(self.report, flush=True)
        return ok
