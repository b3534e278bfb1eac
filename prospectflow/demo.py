"""`prospectflow demo`: the recruiter's day, played step by step against the running services.

Everything the demo makes carries a run id (job, recruiter, board inquiry ids, e-mail
addresses), so it can run again on the same stack and each run stands on its own. It asserts
what it shows: if a service does not do its part, the demo stops with what it waited for.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from prospectflow import ops
from prospectflow.api import RatingApi
from prospectflow.bus import Bus, Watch
from prospectflow.config import CliSettings
from prospectflow.errors import CliError
from prospectflow.mailbox import read_mails
from shared import topics

T = TypeVar("T")
TIMEZONE = "Europe/Berlin"
REMINDER_HOUR = 8


class Demo:
    def __init__(self, settings: CliSettings, *, pause: bool = False) -> None:
        self.settings = settings
        self.pause = pause
        self.run_id = uuid.uuid4().hex[:6]
        self.recruiter_id = f"demo-{self.run_id}-dana"
        self.job_id = f"demo-{self.run_id}-backend"
        self.step_no = 0
        self.people = {  # name -> e-mail, unique to this run
            name: f"{name.lower().replace(' ', '.')}+{self.run_id}@example.com"
            for name in ("Lee Park", "Sam Rivera", "Alex Kim", "Jo Chen")
        }

    # --- output ----------------------------------------------------------------------------------

    def step(self, title: str) -> None:
        if self.pause and self.step_no:
            click.prompt(click.style("  (Enter for the next step)", dim=True), default="", show_default=False,
                         prompt_suffix="")
        self.step_no += 1
        click.echo()
        click.echo(click.style(f"{self.step_no}. {title}", bold=True))

    @staticmethod
    def say(text: str = "", *, dim: bool = False) -> None:
        click.echo(click.style(f"   {text}", dim=dim) if text else "")

    def command(self, text: str) -> None:
        self.say(f"$ prospectflow {text}", dim=True)

    def people_table(self, items: list[dict[str, Any]]) -> None:
        for p in items:
            flag = "followed up" if p["flagged"] else "waiting"
            self.say(f"{p['name']:<11} {p['email']:<34} {p['rating']:<10} {flag}")

    async def until(self, what: str, check: Callable[[], Awaitable[T | None]], timeout_s: float | None = None) -> T:
        """Poll `check` until it returns something; a timeout says what never happened."""
        deadline = time.monotonic() + (timeout_s or self.settings.timeout_s)
        while True:
            result = await check()
            if result is not None:
                return result
            if time.monotonic() > deadline:
                raise CliError(f"demo: {what} did not happen within {timeout_s or self.settings.timeout_s:.0f} s. "
                               "Are all four services running (`make run`)? `prospectflow lag` shows who is behind.")
            await asyncio.sleep(0.2)

    # --- the walkthrough ---------------------------------------------------------------------------

    async def play(self) -> None:
        kafka = self.settings.kafka
        self.api = RatingApi(self.settings.api_url, self.settings.bearer_token(self.recruiter_id))
        click.echo(click.style("Prospectflow demo", bold=True) + f"  run {self.run_id} · Kafka {kafka.bootstrap_servers}"
                   + (f" (prefix {kafka.topic_prefix})" if kafka.topic_prefix else "") + f" · API {self.settings.api_url}")
        await self.ready()
        async with Bus(kafka) as bus:
            self.bus = bus
            prospects_watch = await bus.watch(bus.topic(topics.PROSPECTS))
            try:
                await self.job_opens()
                registered = await self.inquiries_arrive(prospects_watch)
                await self.dead_letter_fixed(prospects_watch, registered)
            finally:
                await prospects_watch.close()
            await self.needs_follow_up()
            await self.rate()
            await self.shortlist()
            sent = await self.send_messages()
            self.mails(sent)
            await self.flags_set()
            await self.next_morning()
            await self.none_when_followed_up()
        click.echo()
        click.echo(click.style("Done.", bold=True) + " Everything above went through Kafka and the four services. "
                   f"Try: prospectflow prospects --recruiter {self.recruiter_id} --view all")
        try:
            from shared.auth import login_link

            secret = self.settings.jwt_secret(("DASHBOARD_JWT_SECRET", "RATING_JWT_SECRET"))
        except CliError:
            return
        click.echo(f"See the same day in the Recruiter Dashboard (this link works once, for 5 minutes):\n  "
                   f"{login_link(secret, self.recruiter_id, self.settings.dashboard_url)}")

    async def ready(self) -> None:
        """Right after `make run` the services may still be starting: wait for them (rating's API
        answering, every topic created); past the timeout, say what was still missing."""
        deadline = time.monotonic() + self.settings.timeout_s
        while True:
            try:
                await self.api.get("/ready")
                async with Bus(self.settings.kafka) as bus:
                    # the four services' topics (prospect-views belongs to recruiter apps and webhooks)
                    await bus.require(*(t for t in topics.ALL
                                        if t not in (topics.PROSPECT_VIEWS, topics.SEQUENCE_COMMANDS, topics.SEQUENCES)))
                return
            except CliError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.5)

    async def job_opens(self) -> None:
        self.step("A job opens")
        job = {"job_id": self.job_id, "title": "Backend Engineer", "company": "Acme", "location": "Berlin",
               "apply_url": "https://acme.example/jobs/42/apply", "interview_url": "https://acme.example/book/42",
               "recruiter": {"recruiter_id": self.recruiter_id, "name": "Dana Smith",
                             "email": f"dana+{self.run_id}@acme.example", "timezone": TIMEZONE,
                             "reminder_hour": REMINDER_HOUR}}
        await ops.publish_jobs(self.bus, [job])
        self.command("publish job backend-engineer.json")
        self.say(f"Dana Smith (recruiter {self.recruiter_id}, {TIMEZONE}, reminders at {REMINDER_HOUR:02d}:00) "
                 f"opens \"Backend Engineer\" at Acme: job {self.job_id}")

    def inquiry(self, name: str, board: str, number: int, message: str, email: str | None = None) -> dict[str, Any]:
        return {"job_id": self.job_id, "board": board, "board_inquiry_id": f"{board}-{self.run_id}-{number}",
                "prospect": {"name": name, "email": email or self.people[name], "location": "Berlin"},
                "message": message}

    async def inquiries_arrive(self, watch: Watch) -> dict[str, str]:
        self.step("Inquiries arrive from two job boards")
        good = [
            self.inquiry("Lee Park", "acme-board", 1, "I'd love to hear more about this role."),
            self.inquiry("Sam Rivera", "acme-board", 2, "Is the role open to remote work?"),
            self.inquiry("Alex Kim", "jobs-united", 3, "Eight years of Python and Kafka here."),
            self.inquiry("Lee Park", "jobs-united", 4, "Applying through this board too."),
        ]
        self.malformed = self.inquiry("Jo Chen", "jobs-united", 5, "Happy to talk any time.",
                                      email=self.people["Jo Chen"].replace("@", " (at) "))
        for i in good:
            self.say(f"{i['board']:<12} {i['prospect']['name']:<11} {i['prospect']['email']}")
        self.say(f"{'jobs-united':<12} {'Jo Chen':<11} {self.malformed['prospect']['email']}   <- not an e-mail address")
        await ops.publish_inquiries(self.bus, good)
        # A board's bad message, as it would arrive: published raw, bypassing the tool's own check.
        bad = ops.new_event_unchecked("inquiry.received", self.malformed, source="jobboard/jobs-united")
        await self.bus.publish(self.bus.topic(topics.INQUIRIES), self.malformed["prospect"]["email"], bad)
        self.command("publish inquiries inquiries.jsonl")

        seen: dict[str, str] = {}
        names = {v: k for k, v in self.people.items()}
        again = []
        async for event in watch.events(timeout_s=self.settings.timeout_s):
            data = event.data
            if data.get("job_id") != self.job_id:
                continue
            name = names.get(data.get("profile", {}).get("email", ""), "?")
            if event.type == "prospect.registered":
                seen[name] = data["prospect_id"]
            elif event.type == "prospect.inquired_again":
                again.append(name)
            if len(seen) == 3 and again:
                break
        else:
            raise CliError("demo: intake did not register the 3 prospects in time. Is it running (`make run`)?")
        self.say(f"intake registered {', '.join(seen)}: {len(seen)} prospects from 4 good inquiries; "
                 f"{again[0]}'s second inquiry (another board, same job) merged as prospect.inquired_again")
        return seen

    async def dead_letter_fixed(self, watch: Watch, registered: dict[str, str]) -> None:
        self.step("The malformed inquiry is on the dead-letter queue; fix it and replay it")

        async def on_dlq() -> ops.DeadLetter | None:
            for letter in await ops.dead_letters(self.bus, topics.INQUIRIES):
                if letter.value and self.malformed["board_inquiry_id"].encode() in letter.value:
                    return letter
            return None

        letter = await self.until("the malformed inquiry landing on inquiries.dlq", on_dlq)
        self.command("dlq list inquiries")
        self.say(f"inquiries.dlq {letter.ref}  reason {letter.header('x-dlq-reason')}: "
                 f"{letter.header('x-dlq-error')[:90]}")
        fixed = json.loads(letter.value or b"{}")
        fixed["data"]["prospect"]["email"] = self.people["Jo Chen"]
        await ops.replay(self.bus, [letter], value=json.dumps(fixed).encode(), by="demo")
        self.command(f"dlq replay inquiries {letter.ref} --fixed-value fixed.json")
        async for event in watch.events(timeout_s=self.settings.timeout_s):
            if event.type == "prospect.registered" and event.data.get("profile", {}).get("email") == self.people["Jo Chen"]:
                registered["Jo Chen"] = event.data["prospect_id"]
                break
        else:
            raise CliError("demo: the replayed inquiry was not registered in time. Is intake running?")
        self.say(f"replayed with the e-mail corrected: Jo Chen registered ({len(registered)} prospects now)")
        self.ids = registered

    async def view(self, view: str) -> list[dict[str, Any]]:
        return [p async for p in self.api.prospects(view, job_id=self.job_id)]

    async def view_with(self, view: str, names: set[str], what: str) -> list[dict[str, Any]]:
        async def check() -> list[dict[str, Any]] | None:
            items = await self.view(view)
            return items if {p["name"] for p in items} == names else None

        return await self.until(what, check)

    async def needs_follow_up(self) -> None:
        self.step('Dashboard -> Prospects -> "Needs follow-up"')
        items = await self.view_with("needs_follow_up", set(self.people), "all 4 prospects showing in needs_follow_up")
        self.command(f"prospects --recruiter {self.recruiter_id} --view needs_follow_up")
        self.people_table(items)

    async def act(self, type_: str, names: list[str], **fields: Any) -> ops.Outcome:
        outcome = await ops.command(self.bus, type_, self.recruiter_id, [self.ids[n] for n in names],
                                    timeout_s=self.settings.timeout_s, deliveries=type_ == "messages.send", **fields)
        if outcome.rejected or outcome.failed:
            raise CliError(f"demo: {type_} was not carried out for all: rejected {outcome.rejected}, "
                           f"failed {outcome.failed}")
        return outcome

    async def rate(self) -> None:
        self.step("Rate: shortlist Lee and Alex, Sam is not for this job")
        await self.act("prospects.rate", ["Lee Park", "Alex Kim"], rating="shortlist")
        self.command(f"rate shortlist <Lee> <Alex> --recruiter {self.recruiter_id}")
        await self.act("prospects.rate", ["Sam Rivera"], rating="not_a_fit")
        self.command(f"rate not_a_fit <Sam> --recruiter {self.recruiter_id}")
        self.say("rating: 3 accepted (command.completed), prospect.rated x3 on assessments; Jo stays unrated")

    async def shortlist(self) -> None:
        self.step("Filter by the shortlist icon")
        items = await self.view_with("shortlist", {"Lee Park", "Alex Kim"}, "the shortlist showing Lee and Alex")
        self.command(f"prospects --recruiter {self.recruiter_id} --view shortlist")
        self.people_table(items)

    async def send_messages(self) -> list[dict[str, Any]]:
        self.step('Select all -> "ask to apply"; the not-a-fit list -> "not a match"')
        # Messaging keeps its own copy of prospects and jobs: let it catch up with what was published.
        await self.bus.caught_up(self.settings.group_id("messaging"),
                                 [self.bus.topic(topics.PROSPECTS), self.bus.topic(topics.JOBS)],
                                 timeout_s=self.settings.timeout_s, what="the messaging service")
        shortlisted = await ops.select(self.api, "shortlist", self.job_id)
        asked = await ops.command(self.bus, "messages.send", self.recruiter_id, shortlisted, template="ask_to_apply",
                                  timeout_s=self.settings.timeout_s, deliveries=True)
        self.command(f"send ask_to_apply --view shortlist --job {self.job_id} --recruiter {self.recruiter_id}")
        self.say(f"queued {len(asked.accepted)}, sent {len(asked.sent)}")
        declined = await self.act("messages.send", ["Sam Rivera"], template="not_a_match",
                                  note="Your Go experience stood out; we may have a better fit soon.")
        self.command(f"send not_a_match --view not_a_fit --job {self.job_id} --recruiter {self.recruiter_id} --note …")
        self.say(f"queued {len(declined.accepted)}, sent {len(declined.sent)}")
        if asked.rejected or asked.failed or len(asked.sent) != 2:
            raise CliError(f"demo: ask_to_apply was not sent to both: {asked.as_json()}")
        return asked.sent + declined.sent

    def mails(self, sent: list[dict[str, Any]]) -> None:
        self.step("The mails, as the prospects received them")
        self.command("mails --body")
        try:
            ids = {f"<{m['message_id']}@" for m in sent}
            found = [m for person in sent for m in read_mails(self.settings.mail_folder(), to=person["to"])
                     if any(m.header("Message-ID").startswith(i) for i in ids)]
        except CliError:
            self.say("(the mails went to an SMTP server that is not the local sink; not shown)")
            return
        for mail in found:
            self.say(f"From: {mail.header('From')}")
            self.say(f"To: {mail.to}    Reply-To: {mail.header('Reply-To')}")
            self.say(f"Subject: {mail.header('Subject')}")
            for line in [line for line in mail.text().splitlines() if line.strip()][:4]:
                self.say(f"  | {line if len(line) <= 96 else line[:95] + '…'}")
            self.say()
        if len(found) != len(sent):
            raise CliError(f"demo: {len(sent)} messages were reported sent but {len(found)} mails are in the sink")

    async def flags_set(self) -> None:
        self.step("Follow-up flags: set by the messages sent")
        items = await self.view_with("needs_follow_up", {"Jo Chen"}, "the flags set on Lee, Alex and Sam")
        self.command(f"prospects --recruiter {self.recruiter_id} --view all")
        self.people_table(await self.view("all"))
        self.say(f"needs follow-up now: {', '.join(p['name'] for p in items)}")

    async def reminder_caught_up(self) -> None:
        consumed = [self.bus.topic(t) for t in (topics.PROSPECTS, topics.ASSESSMENTS, topics.JOBS)]
        await self.bus.caught_up(self.settings.group_id("reminder"), consumed, timeout_s=self.settings.timeout_s,
                                 what="the reminder service")

    def morning(self, days: int) -> datetime:
        local = datetime.now(ZoneInfo(TIMEZONE)) + timedelta(days=days)
        return local.replace(hour=REMINDER_HOUR, minute=0, second=0, microsecond=0).astimezone(timezone.utc)

    async def reminders_at(self, days: int) -> list[dict[str, Any]]:
        as_of = self.morning(days)
        found = await ops.run_reminders(self.bus, as_of=as_of, recruiter_id=self.recruiter_id,
                                        group_id=self.settings.group_id("reminder"), timeout_s=self.settings.timeout_s)
        self.command(f"reminders run --as-of {as_of.isoformat(timespec='minutes')} --recruiter {self.recruiter_id}")
        return [r for r in found if r["date"] == as_of.astimezone(ZoneInfo(TIMEZONE)).date().isoformat()]

    async def next_morning(self) -> None:
        self.step(f"The next morning, {REMINDER_HOUR:02d}:00 in {TIMEZONE}: the follow-up reminder")
        await self.reminder_caught_up()
        found = await self.reminders_at(1)
        if len(found) != 1:
            raise CliError(f"demo: expected one reminder for the next morning, got {len(found)}")
        r = found[0]
        self.say(f"follow_up.reminder_due for {r['date']}: {r['pending_total']} waiting "
                 f"({', '.join(f'{k} {v}' for k, v in r['counts'].items() if v)}): "
                 + ", ".join(p["name"] for p in r["prospects"]))
        digest = await self.until("the daily digest mail", self.digest, timeout_s=min(15.0, self.settings.timeout_s)) \
            if self.settings.mail_folder().exists() else None
        if digest:
            self.say(f"and Dana's digest mail: \"{digest}\"")

    async def digest(self) -> str | None:
        found = read_mails(self.settings.mail_folder(), to=f"dana+{self.run_id}@", last=1)
        return found[0].header("Subject") if found else None

    async def none_when_followed_up(self) -> None:
        self.step("Jo is followed up too; the morning after, no reminder")
        await self.act("prospects.flag_follow_up", ["Jo Chen"], flagged=True)
        self.command(f"flag <Jo> --recruiter {self.recruiter_id}")
        await self.view_with("needs_follow_up", set(), "Jo leaving needs_follow_up")
        await self.reminder_caught_up()
        found = await self.reminders_at(2)
        if found:
            raise CliError(f"demo: expected no reminder once everyone is followed up, got {found}")
        self.say(f"nobody waiting: no reminder for {self.morning(2).astimezone(ZoneInfo(TIMEZONE)).date()}")
