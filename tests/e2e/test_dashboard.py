"""The Recruiter Dashboard in a real browser (Debian's Chromium driven by Playwright), on the
real stack and all five services as processes. The recruiter's flows are done by clicks and
keys only; what they cause is checked where a user would notice it: on the page, in the mail
sink, and on the topics."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from pymongo import AsyncMongoClient

from devstack.stack import CHROMIUM_FLAGS, chromium
from services.dashboard.present import duration
from shared import ids
from shared.auth import login_link, mint
from tests.support import Kafka, Namespace, ServiceProcess, Stack, answers, cloud_event, eventually, http_get, mails

pytestmark = pytest.mark.stack

BERLIN = "Europe/Berlin"


@dataclass
class World:
    ns: Namespace
    kafka: Kafka
    dashboard: ServiceProcess
    messaging: ServiceProcess
    browser: Browser
    intake: ServiceProcess | None = None
    webhooks: ServiceProcess | None = None
    rating: ServiceProcess | None = None
    sequences: ServiceProcess | None = None
    insights: ServiceProcess | None = None
    recruiters: dict[str, str] = field(default_factory=dict)  # job -> recruiter
    inquired: dict[str, int] = field(default_factory=dict)  # job -> people who inquired so far

    def link(self, recruiter_id: str) -> str:
        return login_link(self.ns.jwt_secret, recruiter_id, self.dashboard.http)

    async def page(self, recruiter_id: str, *, width: int = 1280) -> Page:
        page = await self.browser.new_page(viewport={"width": width, "height": 900})
        await page.goto(self.link(recruiter_id))
        await page.wait_for_url(f"{self.dashboard.http}/")
        return page

    async def job(self, recruiter_id: str, *, interview: bool = True, title: str = "Backend Engineer",
                  reminder_hour: int = 8) -> str:
        job_id = f"job-{uuid.uuid4().hex[:8]}"
        data = {"job_id": job_id, "title": title, "company": "Acme", "location": "Berlin",
                "apply_url": f"https://acme.example/jobs/{job_id}/apply",
                "recruiter": {"recruiter_id": recruiter_id, "name": "Dana Smith", "email": f"{recruiter_id}@acme.example",
                              "timezone": BERLIN, "reminder_hour": reminder_hour}}
        if interview:
            data["interview_url"] = f"https://acme.example/book/{job_id}"
        self.recruiters[job_id] = recruiter_id
        await self.kafka.send_event(self.ns.topic("jobs"), cloud_event("job.opened", data), key=job_id)
        return job_id

    async def inquiries(self, job_id: str, names: list[str], *, hours_ago: float = 5,
                        registered: bool = True) -> dict[str, str]:
        """Inquiries from two boards; returns name -> e-mail. Oldest first, in the order given.
        With `registered`, once they are on the recruiter's board (rating's API): what the test
        then clicks on is there, however busy the machine is."""
        tag = uuid.uuid4().hex[:6]
        people = {n: f"{n.lower().replace(' ', '.')}+{tag}@example.com" for n in names}
        for number, (name, email) in enumerate(people.items()):
            at = time.time() - hours_ago * 3600 + number * 60
            data = {"job_id": job_id, "board": "acme-board" if number % 2 == 0 else "jobs-weekly",
                    "board_inquiry_id": f"{tag}-{number}", "prospect": {"name": name, "email": email},
                    "message": "I'd love to hear more.",
                    "inquired_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))}
            await self.kafka.send_event(self.ns.topic("inquiries"), cloud_event("inquiry.received", data), key=email)
        if registered and self.rating is not None:
            token = mint(self.ns.jwt_secret, self.recruiters[job_id], ttl_s=600)
            self.inquired[job_id] = self.inquired.get(job_id, 0) + len(people)

            def on_board() -> bool:
                status, body = http_get(f"{self.rating.http}/prospect-ids?view=all&job_id={job_id}", token)
                return status == 200 and len(body["ids"]) >= self.inquired[job_id]

            await eventually(lambda: answers(on_board), timeout_s=120, interval_s=0.2)
        return people


@pytest.fixture(scope="module")
async def world(stack: Stack) -> AsyncIterator[World]:
    ns = Namespace(stack)
    kafka = Kafka(stack.kafka)
    try:
        intake = ns.start("intake")
        ns.start("reminder", REMINDER_TICK_S="0")
        webhooks = ns.start("webhooks")
        rating = ns.start("rating")
        messaging = ns.start("messaging", SMTP_SENDER="jobs@acme.example")
        sequences = ns.start("sequences")
        insights = ns.start("insights")
        rating.wait_for_log("Uvicorn running")
        messaging.wait_for_log("Uvicorn running")
        dashboard = ns.start("dashboard", DASHBOARD_RATING_API_URL=rating.http, DASHBOARD_MESSAGING_API_URL=messaging.http,
                             DASHBOARD_INTAKE_API_URL=intake.http, DASHBOARD_WEBHOOKS_API_URL=webhooks.http,
                             DASHBOARD_SEQUENCES_API_URL=sequences.http, DASHBOARD_INSIGHTS_API_URL=insights.http,
                             DASHBOARD_COMMAND_TIMEOUT_S="60")
        dashboard.wait_for_log("reading updates")
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
            try:
                yield World(ns, kafka, dashboard, messaging, browser, intake, webhooks, rating, sequences, insights)
            finally:
                await browser.close()
    finally:
        ns.stop_all()
        await kafka.close()
        await ns.clean_up()


async def shot(page: Page, name: str) -> None:
    """With PROSPECTFLOW_SCREENSHOTS set (a folder, e.g. docs), keep what the page looks like here."""
    import os

    if os.environ.get("PROSPECTFLOW_SCREENSHOTS"):
        await page.screenshot(path=f"{os.environ['PROSPECTFLOW_SCREENSHOTS']}/{name}",
                              full_page=bool(os.environ.get("PROSPECTFLOW_FULL_PAGE")))


def row(page: Page, name: str) -> Any:
    return page.get_by_role("row").filter(has=page.get_by_role("checkbox", name=name, exact=True))


async def wait_for_mails(stack: Stack, address_part: str, count: int, timeout_s: float = 60) -> list[Any]:
    def arrived() -> list[Any]:
        found = mails(stack.maildir, address_part)
        return found if len(found) >= count else []
    return await eventually(arrived, timeout_s=timeout_s)


async def test_the_good_match_flow_by_clicks(world: World):
    recruiter = f"rec-{uuid.uuid4().hex[:6]}"
    job_id = await world.job(recruiter)
    people = await world.inquiries(job_id, ["Lee Park", "Sam Rivera", "Alex Kim"])
    page = await world.page(recruiter)

    # Home: who is waiting, per job, with the oldest waiting time.
    await expect(page.get_by_text("3 prospects are waiting for your follow-up")).to_be_visible(timeout=30_000)
    await expect(page.get_by_role("row", name="Backend Engineer")).to_contain_text("5 h")

    await page.get_by_role("link", name="Prospects", exact=True).click()
    await page.get_by_role("link", name="Needs follow-up").click()
    for name in ("Lee Park", "Sam Rivera", "Alex Kim"):
        await expect(row(page, name)).to_be_visible()
    await row(page, "Lee Park").get_by_role("button", name="Shortlist").click()
    await expect(row(page, "Lee Park").get_by_role("button", name="Shortlist")).to_have_attribute("aria-pressed", "true")
    await row(page, "Alex Kim").get_by_role("button", name="Shortlist").click()
    await expect(row(page, "Alex Kim").get_by_role("button", name="Shortlist")).to_have_attribute("aria-pressed", "true")

    await page.get_by_role("link", name="Shortlist").click()
    await expect(page.get_by_role("checkbox")).to_have_count(2)
    await page.get_by_role("button", name="Select all").click()
    await expect(page.get_by_role("status")).to_have_text("All 2 prospects in Shortlist are selected")
    await page.get_by_label("Message template").select_option(label="Ask to apply")
    await page.get_by_role("button", name="Go").click()

    await expect(page.get_by_role("heading", name="Send a Message")).to_be_visible()
    await expect(page.get_by_role("heading", name="Recipients (2)")).to_be_visible()
    await expect(page.get_by_text("Lee Park", exact=True)).to_be_visible()
    await expect(page.get_by_text("Alex Kim", exact=True)).to_be_visible()
    await expect(page.locator(".subject")).to_have_text("Next step for the Backend Engineer role at Acme")
    preview = page.frame_locator("iframe.mail")
    await expect(preview.get_by_role("link", name="Apply for Backend Engineer")).to_be_visible()
    await page.get_by_label("Note (optional)").fill("We loved your profile.")
    await expect(preview.get_by_text("We loved your profile.")).to_be_visible()
    await page.get_by_role("button", name="Send").click()

    results = page.locator(".results")
    for name in ("Lee Park", "Alex Kim"):  # each result named (the names came with the form), not an id
        await expect(results.locator(".who", has_text=name)).to_have_count(1, timeout=60_000)
    await expect(results.get_by_text("sent", exact=True)).to_have_count(2, timeout=60_000)
    await expect(results.get_by_text("Follow-up flag on")).to_have_count(2, timeout=60_000)

    received = await wait_for_mails(world.ns.stack, f"+{people['Lee Park'].split('+')[1]}", 2)
    assert sorted(str(m["To"]).split("<")[0].strip() for m in received) == ["Alex Kim", "Lee Park"]
    for mail in received:
        assert mail["Subject"] == "Next step for the Backend Engineer role at Acme"
        assert "We loved your profile." in mail.get_body(("plain",)).get_content()
        assert mail["List-Unsubscribe"].startswith(f"<{world.messaging.http}/unsubscribe/")
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # Back on the list, the flags the sent mails set are on, and the last message shows.
    await page.goto(f"{world.dashboard.http}/prospects?view=all")
    for name in ("Lee Park", "Alex Kim"):
        await expect(row(page, name).get_by_role("button", name="Follow-up flag")).to_have_attribute("aria-pressed", "true")
        await expect(row(page, name)).to_contain_text("Ask to apply · sent")
    await expect(row(page, "Sam Rivera").get_by_role("button", name="Follow-up flag")).to_have_attribute("aria-pressed", "false")

    # The prospect's page: the inquiry, the rating, the message and the flag, in time order.
    await row(page, "Lee Park").get_by_role("link", name="Lee Park").click()
    timeline = page.locator(".timeline li")
    await expect(timeline).to_have_count(4)
    await expect(timeline.nth(0)).to_contain_text("Inquired on acme-board")
    await expect(timeline.nth(1)).to_contain_text("Rated Shortlist")
    await expect(timeline.nth(2)).to_contain_text("Message Ask to apply sent")
    await expect(timeline.nth(3)).to_contain_text("Follow-up flag on when a message was sent")
    await page.close()


async def test_the_not_a_match_flow_by_clicks(world: World):
    recruiter = f"rec-{uuid.uuid4().hex[:6]}"
    job_id = await world.job(recruiter)
    people = await world.inquiries(job_id, ["Jo Chen", "Maria Lopez"])
    page = await world.page(recruiter)
    await page.get_by_role("link", name="Prospects", exact=True).click()
    await row(page, "Jo Chen").get_by_role("button", name="Not for this job").click()
    await expect(row(page, "Jo Chen").get_by_role("button", name="Not for this job")).to_have_attribute("aria-pressed", "true")

    await page.get_by_role("link", name="Not for this job").click()
    await expect(page.get_by_role("checkbox")).to_have_count(1)
    await page.get_by_role("checkbox", name="Jo Chen").check()
    await expect(page.get_by_label("Message template")).to_have_value("not_a_match")
    await page.get_by_role("button", name="Go").click()
    await expect(page.locator(".subject")).to_have_text("Your interest in the Backend Engineer role at Acme")
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator(".results").get_by_text("sent", exact=True)).to_have_count(1, timeout=60_000)

    received = await wait_for_mails(world.ns.stack, people["Jo Chen"], 1)
    assert "not to move forward" in received[0].get_body(("plain",)).get_content()
    assert mails(world.ns.stack.maildir, people["Maria Lopez"]) == []
    await page.close()


async def test_a_new_inquiry_a_sent_flag_and_todays_reminder_arrive_on_the_open_page(world: World):
    recruiter = f"rec-{uuid.uuid4().hex[:6]}"
    job_id = await world.job(recruiter, reminder_hour=0)  # due at any hour of the day the test runs
    await world.inquiries(job_id, ["Lee Park"])
    page = await world.page(recruiter)
    await page.get_by_role("link", name="Prospects", exact=True).click()
    await expect(page.get_by_role("checkbox")).to_have_count(1)
    await expect(page.locator("body[data-live-state=open]")).to_have_count(1)

    # A job board publishes an inquiry: the row appears without a reload.
    await world.inquiries(job_id, ["Noah Schmidt"], hours_ago=0)
    await expect(row(page, "Noah Schmidt")).to_be_visible(timeout=30_000)
    await expect(row(page, "Noah Schmidt")).to_contain_text("acme-board")

    # Another recruiter app (here: a command on the topic) flags Lee: the flag turns on here.
    lee = await page.get_by_role("checkbox", name="Lee Park").get_attribute("value")
    await world.kafka.send_event(world.ns.topic("rating-commands"), cloud_event(
        "prospects.flag_follow_up", {"recruiter_id": recruiter, "prospect_ids": [lee], "flagged": True}), key=recruiter)
    await expect(row(page, "Lee Park").get_by_role("button", name="Follow-up flag")).to_have_attribute(
        "aria-pressed", "true", timeout=30_000)

    # The reminder service's morning run: today's reminder shows as a banner.
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    await world.kafka.send_event(world.ns.topic("reminder-commands"), cloud_event(
        "reminders.run", {"as_of": now, "recruiter_id": recruiter}), key=recruiter)
    banner = page.get_by_role("region", name="Today's reminder")
    await expect(banner).to_contain_text("1 prospect is waiting", timeout=30_000)
    await page.reload()
    await expect(page.get_by_role("region", name="Today's reminder")).to_contain_text("1 prospect is waiting")
    await page.close()


async def test_another_recruiters_prospects_are_refused_whatever_the_ids(world: World):
    owner, intruder = f"rec-{uuid.uuid4().hex[:6]}", f"rec-{uuid.uuid4().hex[:6]}"
    job_id = await world.job(owner)
    people = await world.inquiries(job_id, ["Lee Park"])
    theirs = ids.prospect_id(job_id, people["Lee Park"])
    owner_page = await world.page(owner)
    await owner_page.get_by_role("link", name="Prospects", exact=True).click()
    await expect(row(owner_page, "Lee Park")).to_be_visible()

    page = await world.page(intruder)
    # Not in their lists, not by URL.
    await page.goto(f"{world.dashboard.http}/prospects?view=all")
    await expect(page.get_by_text("Lee Park")).to_have_count(0)
    await page.goto(f"{world.dashboard.http}/prospects/{theirs}")
    await expect(page.get_by_role("heading", name="No such prospect")).to_be_visible()
    # Not through the send page, even with the ids typed into the URL.
    await page.goto(f"{world.dashboard.http}/send?template=ask_to_apply&id={theirs}")
    await expect(page.get_by_role("heading", name="Recipients (0)")).to_be_visible()
    await expect(page.get_by_text("not one of your prospects")).to_be_visible()
    await expect(page.get_by_text("Lee Park")).to_have_count(0)
    await expect(page.get_by_role("button", name="Send")).to_be_disabled()
    # Not by forged form posts with a valid session and CSRF token of their own.
    csrf = json.loads(await page.locator("body").get_attribute("hx-headers"))["X-CSRF-Token"]
    for path, form in ((f"/prospects/{theirs}/rate", {"rating": "shortlist"}),
                       (f"/prospects/{theirs}/flag", {"flagged": "true"}),
                       ("/send", {"template": "ask_to_apply", "ids": theirs})):
        response = await page.request.post(f"{world.dashboard.http}{path}", form=form, headers={"X-CSRF-Token": csrf})
        body = await response.text()
        assert "not one of your prospects" in body, (path, response.status, body[:300])
    assert mails(world.ns.stack.maildir, people["Lee Park"]) == []
    await owner_page.reload()
    await expect(row(owner_page, "Lee Park").get_by_role("button", name="Shortlist")).to_have_attribute("aria-pressed", "false")
    await expect(row(owner_page, "Lee Park").get_by_role("button", name="Follow-up flag")).to_have_attribute("aria-pressed", "false")

    # Without the CSRF token, or from another site: refused before anything is published.
    response = await page.request.post(f"{world.dashboard.http}/prospects/{theirs}/rate", form={"rating": "shortlist"})
    assert response.status == 403
    response = await page.request.post(f"{world.dashboard.http}/prospects/{theirs}/rate", form={"rating": "shortlist"},
                                       headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"})
    assert response.status == 403
    await page.close()
    await owner_page.close()


async def test_an_expired_session_and_a_used_link_say_what_to_do(world: World):
    recruiter = f"rec-{uuid.uuid4().hex[:6]}"
    link = world.link(recruiter)
    page = await world.browser.new_page()
    await page.goto(link)
    await page.wait_for_url(f"{world.dashboard.http}/")
    cookie = next(c for c in await page.context.cookies() if c["name"] == "pf_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    # The link works once.
    other = await world.browser.new_page()
    await other.goto(link)
    await expect(other.get_by_role("heading", name="This sign-in link does not work")).to_be_visible()
    await expect(other.get_by_text("used already")).to_be_visible()
    await other.close()

    # A session whose token has expired: the page says so and how to sign in again; no trace.
    expired = mint(world.ns.jwt_secret, recruiter, ttl_s=-60, typ="session")
    await page.context.add_cookies([{**cookie, "value": expired}])
    await page.goto(f"{world.dashboard.http}/prospects")
    await expect(page.get_by_role("heading", name="Your session has expired")).to_be_visible()
    await expect(page.get_by_text("prospectflow login-link")).to_be_visible()
    assert "Traceback" not in await page.content()
    # Without any session, an action is refused the same way.
    await page.context.clear_cookies()
    response = await page.request.post(f"{world.dashboard.http}/prospects/x/rate", form={"rating": "shortlist"})
    assert response.status == 401
    await page.close()


async def test_keyboard_only(world: World):
    recruiter = f"rec-{uuid.uuid4().hex[:6]}"
    job_id = await world.job(recruiter)
    await world.inquiries(job_id, ["Lee Park", "Sam Rivera"])
    page = await world.page(recruiter)
    await page.goto(f"{world.dashboard.http}/prospects")
    await expect(page.get_by_role("checkbox")).to_have_count(2)

    await page.keyboard.press("?")
    await expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    await page.keyboard.press("Escape")
    await page.keyboard.press("j")
    await page.keyboard.press("j")  # the second row: Sam
    await page.keyboard.press("s")
    await expect(row(page, "Sam Rivera").get_by_role("button", name="Shortlist")).to_have_attribute("aria-pressed", "true")
    await page.keyboard.press("f")
    await expect(row(page, "Sam Rivera").get_by_role("button", name="Follow-up flag")).to_have_attribute("aria-pressed", "true")
    await page.keyboard.press("k")  # back to Lee
    await page.keyboard.press("n")
    await expect(row(page, "Lee Park").get_by_role("button", name="Not for this job")).to_have_attribute("aria-pressed", "true")
    await page.keyboard.press("x")
    await expect(page.get_by_role("checkbox", name="Lee Park")).to_be_checked()
    await expect(page.get_by_role("checkbox", name="Sam Rivera")).not_to_be_checked()
    await page.close()


async def test_no_serious_accessibility_violations_and_usable_at_360_px(world: World):
    from axe_playwright_python.async_playwright import Axe

    recruiter = f"rec-{uuid.uuid4().hex[:6]}"
    job_id = await world.job(recruiter)
    await world.inquiries(job_id, ["Lee Park", "Sam Rivera"])
    axe = Axe()
    for width in (1280, 360):
        page = await world.page(recruiter, width=width)
        await expect(page.get_by_text("2 prospects are waiting")).to_be_visible(timeout=30_000)
        pages = ["/", "/prospects", "/prospects?view=all", "/send?template=ask_to_apply&all=1&view=needs_follow_up",
                 "/sequences"]
        for path in pages:
            await page.goto(f"{world.dashboard.http}{path}")
            await expect(page.get_by_role("main")).to_be_visible()
            results = await axe.run(page)
            bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
            assert not bad, (width, path, [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in bad])
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, (width, path, overflow)
        # The controls are there and work at each width (the second click takes the first one back).
        await page.goto(f"{world.dashboard.http}/prospects")
        await row(page, "Lee Park").get_by_role("button", name="Shortlist").click()
        await expect(row(page, "Lee Park").get_by_role("button", name="Shortlist")).to_have_attribute(
            "aria-pressed", "false" if width == 360 else "true")
        await page.close()


async def test_one_click_unsubscribe_then_a_send_is_opted_out(world: World):
    recruiter = f"rec-{uuid.uuid4().hex[:6]}"
    job_id = await world.job(recruiter)
    people = await world.inquiries(job_id, ["Lee Park"])
    page = await world.page(recruiter)
    await page.goto(f"{world.dashboard.http}/prospects")
    await page.get_by_role("checkbox", name="Lee Park").check()
    await page.get_by_role("button", name="Go").click()
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator(".results").get_by_text("sent", exact=True)).to_have_count(1, timeout=60_000)
    mail, = await wait_for_mails(world.ns.stack, people["Lee Park"], 1)
    link = mail["List-Unsubscribe"].strip("<>")
    assert link in mail.get_body(("html",)).get_content()

    # A mail client's one-click unsubscribe (RFC 8058): a POST with List-Unsubscribe=One-Click.
    async with httpx.AsyncClient() as http:
        assert (await http.get(link)).status_code == 200  # a link scanner's GET changes nothing
        answer = await http.post(link, data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200 and "unsubscribed" in answer.text
        forged = link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB")
        assert (await http.post(forged, data={"List-Unsubscribe": "One-Click"})).status_code == 404
    opted = await world.kafka.read(world.ns.topic("opt-outs"), count=1)
    assert json.loads(opted[0].value)["data"]["email"] == people["Lee Park"]

    # The next send to that person is skipped as opted out, before and when sending.
    await page.goto(f"{world.dashboard.http}/prospects?view=all")
    await page.get_by_role("checkbox", name="Lee Park").check()
    await page.get_by_label("Message template").select_option(label="Arrange an interview")
    await page.get_by_role("button", name="Go").click()
    await expect(page.get_by_text("Lee Park: opted out of messages")).to_be_visible()
    await expect(page.get_by_role("button", name="Send")).to_be_disabled()
    await page.close()
    assert len(mails(world.ns.stack.maildir, people["Lee Park"])) == 1


async def test_rating_or_kafka_unreachable_is_said_with_the_address(world: World):
    """A dashboard whose rating API and Kafka do not answer: pages and actions say which part,
    at which address, and that nothing was changed; no stack trace."""
    from tests.support import free_port

    rating_port, kafka_port = free_port(), free_port()  # nothing listens there
    lonely = world.ns.start("dashboard", DASHBOARD_RATING_API_URL=f"http://127.0.0.1:{rating_port}",
                            DASHBOARD_MESSAGING_API_URL=world.messaging.http,
                            KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{kafka_port}")
    lonely.wait_for_log("Uvicorn running")
    page = await world.browser.new_page()
    await page.goto(login_link(world.ns.jwt_secret, "rec-lonely", lonely.http))
    await page.wait_for_url(f"{lonely.http}/")
    await expect(page.get_by_role("heading", name="The rating service is not answering")).to_be_visible()
    await expect(page.get_by_text(f"http://127.0.0.1:{rating_port}")).to_be_visible()
    csrf = json.loads(await page.locator("body").get_attribute("hx-headers"))["X-CSRF-Token"]
    response = await page.request.post(f"{lonely.http}/prospects/p1/rate", form={"rating": "shortlist"},
                                       headers={"X-CSRF-Token": csrf})
    body = await response.text()
    assert response.status == 503 and f"Kafka at 127.0.0.1:{kafka_port}" in body and "Nothing was changed" in body
    ready = await page.request.get(f"{lonely.http}/ready")
    assert ready.status == 503 and "kafka" in await ready.text()
    # what Prometheus sees (the not-ready alert), here and on the dashboard that works
    assert "prospectflow_ready 0.0" in await (await page.request.get(f"{lonely.http}/metrics")).text()
    assert "prospectflow_ready 1.0" in await (await page.request.get(f"{world.dashboard.http}/metrics")).text()
    for text in (await page.content(), body):
        assert "Traceback" not in text
    await page.close()
    lonely.stop()


async def test_a_send_to_2000_shows_its_progress_and_mails_each_person_once_whatever_is_clicked(world: World):
    """Select all over 2,000 → Ask to apply → Go → Send; the page is reloaded mid-send and the
    same form is sent twice more: the page reports 2,000 sent and no error, and the sink holds
    exactly one mail per prospect."""
    recruiter = f"rec-{uuid.uuid4().hex[:6]}"
    job_id = await world.job(recruiter)
    people = await world.inquiries(job_id, [f"Bulk Person {n}" for n in range(2_000)], hours_ago=30)
    tag = next(iter(people.values())).split("+")[1].split("@")[0]
    page = await world.page(recruiter)

    async def all_there() -> bool:
        await page.goto(f"{world.dashboard.http}/prospects")
        count = page.locator("nav.views a[aria-current=page] .count")
        await expect(count).not_to_have_text("", timeout=10_000)  # the counts come after the list
        return (await count.inner_text()).strip() == "2000"

    assert await eventually(all_there, timeout_s=180, interval_s=1)
    await page.get_by_role("button", name="Select all").click()
    await expect(page.get_by_role("status").filter(has_text="All 2000 prospects")).to_be_visible()
    await page.get_by_role("button", name="Go").click()
    await expect(page.get_by_role("heading", name="Recipients (2,000)")).to_be_visible(timeout=30_000)
    form = {name: await page.locator(f"#send-form input[name={name}]").get_attribute("value") or ""
            for name in ("csrf", "key", "template", "ids", "names")}
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator("#send-counts")).to_be_visible(timeout=30_000)
    await page.reload()  # mid-send: the same send's progress, read back
    await expect(page.locator("#send-counts")).to_be_visible()
    for _ in range(2):  # the same form sent again, as a second click or a resubmitted page would
        again = await page.request.post(f"{world.dashboard.http}/send", form=form, headers={"HX-Request": "true"})
        assert again.status == 200, await again.text()
    await page.goto(f"{world.dashboard.http}/send?template=ask_to_apply&all=1&key={form['key']}")  # Back to Send
    await expect(page.locator("#send-form")).to_have_count(0)
    await expect(page.locator("#send-counts")).to_contain_text("2,000 sent, 0 failed", timeout=180_000)
    await expect(page.get_by_text("No answer")).to_have_count(0)

    await world.kafka.caught_up(world.ns, "messaging")  # everything sent twice was handled: now count
    received = mails(world.ns.stack.maildir, tag)
    recipients = [str(m["To"]) for m in received]
    assert len(recipients) == 2_000 and len(set(recipients)) == 2_000
    # the Prospects page says how it went
    await page.goto(f"{world.dashboard.http}/prospects")
    await expect(page.get_by_role("list", name="Your sends")).to_contain_text("2,000 sent, 0 failed")
    await page.close()


async def test_a_reply_shows_up_on_the_open_page_and_a_bounce_is_skipped_on_the_send_page(world: World):
    from tests.integration.test_inbound import deliver
    from tests.mailsamples import sample

    recruiter = f"rec-{uuid.uuid4().hex[:6]}"
    job_id = await world.job(recruiter)
    people = await world.inquiries(job_id, ["Lee Park", "Ana Lima"])
    page = await world.page(recruiter)
    await page.goto(f"{world.dashboard.http}/prospects")
    await page.get_by_role("button", name="Select all").click()
    await page.get_by_role("button", name="Go").click()
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator(".results").get_by_text("sent", exact=True)).to_have_count(2, timeout=60_000)
    await page.goto(f"{world.dashboard.http}/prospects")  # both flagged by the send: Needs follow-up is empty
    # (rating flags them on message.sent, a moment after the page says sent: the open page follows)
    await expect(page.get_by_role("checkbox", name="Lee Park")).to_have_count(0, timeout=30_000)
    await expect(page.locator("body[data-live-state=open]")).to_have_count(1)

    # Lee answers from Gmail: the row comes back on the open page, with the reply's first line.
    lee_mail, = await wait_for_mails(world.ns.stack, people["Lee Park"], 1)
    reply_to = lee_mail["Reply-To"].addresses[0].addr_spec
    message_id = lee_mail["Message-ID"].strip("<>").partition("@")[0]
    reply = sample("gmail_reply", message_id=message_id, reply_to=reply_to, prospect=people["Lee Park"],
                   tag=recruiter).replace(b"yes, Tuesday works", b"<b>yes</b>, Tuesday works")
    assert deliver(world.messaging, reply, reply_to)[0] == 250
    await expect(row(page, "Lee Park")).to_contain_text("replied", timeout=30_000)
    await expect(row(page, "Lee Park")).to_contain_text("<b>yes</b>, Tuesday works for me.")  # past "Hi Dana,"
    await page.get_by_role("link", name="Replied").click()
    await expect(page.get_by_role("checkbox")).to_have_count(1)
    await shot(page, "dashboard-replied.png")
    await page.get_by_role("link", name="Lee Park").click()
    reply_line = page.locator(".timeline .reply-text")
    await expect(reply_line).to_contain_text("<b>yes</b>, Tuesday works for me")  # as text, never as HTML
    await expect(page.locator(".timeline b")).to_have_count(0)
    await shot(page, "dashboard-reply-timeline.png")

    # Ana's address bounces: her row says so on the open page, and the Send page skips her.
    await page.goto(f"{world.dashboard.http}/prospects?view=all")
    await expect(page.locator("body[data-live-state=open]")).to_have_count(1)
    ana_mail, = await wait_for_mails(world.ns.stack, people["Ana Lima"], 1)
    bounce_to = ana_mail["Return-Path"].strip("<>")
    dsn = sample("postfix_dsn", message_id=ana_mail["Message-ID"].strip("<>").partition("@")[0], bounce_to=bounce_to,
                 prospect=people["Ana Lima"], tag=recruiter)
    assert deliver(world.messaging, dsn, bounce_to, sender="")[0] == 250
    await expect(row(page, "Ana Lima")).to_contain_text("bounced", timeout=30_000)
    await shot(page, "dashboard-bounced.png")
    await page.get_by_role("checkbox", name="Ana Lima").check()
    await page.get_by_label("Message template").select_option(label="Not a match")
    await page.get_by_role("button", name="Go").click()
    await expect(page.get_by_text("Ana Lima: e-mail bounced")).to_be_visible()
    await page.close()


async def test_a_resume_from_indeed_is_an_icon_on_the_row_and_a_download_on_the_prospect_page(world: World):
    import base64
    import re

    from prospectflow.boards import load_sample
    from tests.integration.test_gateway import application, post
    from tests.support import mongo_count

    assert world.intake is not None
    recruiter = f"rec-{uuid.uuid4().hex[:6]}"
    job_id = await world.job(recruiter)
    await eventually(lambda: mongo_count(world.ns.stack, world.ns.database("intake"), "jobs", {"_id": job_id}))
    tag = uuid.uuid4().hex[:6]
    from prospectflow.boards import for_job

    payload = for_job("indeed", application("indeed", email=f"ines+{tag}@example.com", application_id=f"apply-{tag}"),
                      job_id, at_ms=int((time.time() - 3 * 3600) * 1000))
    answer = post(world.intake, "indeed", payload)
    assert answer.status_code == 200, answer.text
    page = await world.page(recruiter)
    await page.goto(f"{world.dashboard.http}/prospects")
    icon = row(page, "Ines Moreau").get_by_role("link", name=re.compile("résumé"))
    await expect(icon).to_have_count(1, timeout=30_000)
    await shot(page, "dashboard-resume-row.png")

    await page.get_by_role("link", name="Ines Moreau", exact=True).click()
    link = page.get_by_role("link", name="Ines Moreau CV.pdf")
    await expect(link).to_be_visible()
    await expect(page.locator(".timeline")).to_contain_text("with a résumé (Ines Moreau CV.pdf)")
    await shot(page, "dashboard-resume.png")
    async with page.expect_download() as downloading:
        await link.click()
    download = await downloading.value
    assert download.suggested_filename == "Ines Moreau CV.pdf"
    sent = base64.b64decode(load_sample("indeed")["applicant"]["resume"]["file"]["data"])
    assert open(await download.path(), "rb").read() == sent
    await page.close()


async def test_an_endpoint_added_on_the_integrations_page_gets_the_rating_clicked_on_the_prospects_page(world: World):
    from standardwebhooks import Webhook

    from tests.integration.test_webhooks import Receiver

    receiver = Receiver()
    try:
        recruiter = f"rec-{uuid.uuid4().hex[:6]}"
        job_id = await world.job(recruiter)
        await world.inquiries(job_id, ["Lee Park"])
        page = await world.page(recruiter)
        await page.get_by_role("link", name="Integrations").click()
        await expect(page.get_by_text("No endpoints yet.")).to_be_visible()
        await page.get_by_label("URL").fill("http://10.0.0.7/hook")
        await page.get_by_role("button", name="Add endpoint").click()
        await expect(page.locator("p.flash.error")).to_contain_text("Not added: 10.0.0.7 is a private or reserved address")
        await page.get_by_label("URL").fill(receiver.url + "/ok")
        await page.get_by_role("button", name="Add endpoint").click()
        secret = (await page.locator("[data-secret]").inner_text()).strip()
        assert secret.startswith("whsec_")
        await shot(page, "dashboard-integrations-added.png")

        await page.get_by_role("link", name="Prospects").click()
        await row(page, "Lee Park").get_by_role("button", name="Shortlist").click()
        await eventually(lambda: receiver.at("/ok"), timeout_s=60)
        got = receiver.at("/ok")[0]
        event = Webhook(secret).verify(got["body"], got["headers"])
        assert (event["type"], event["data"]["rating"]) == ("prospect.rated", "shortlist")

        await page.get_by_role("link", name="Integrations").click()
        await expect(page.locator(".deliveries")).to_contain_text("delivered")
        await expect(page.locator(".deliveries")).to_contain_text("Prospect rated")
        await expect(page.locator("[data-secret]")).to_have_count(0)  # shown once
        await shot(page, "dashboard-integrations.png")
        await page.get_by_role("button", name="Remove this endpoint").click()
        await expect(page.get_by_text("No endpoints yet.")).to_be_visible()
        await page.close()
    finally:
        receiver.close()


async def test_a_recruiter_makes_a_sequence_and_starts_it_from_the_prospects_page(world: World):
    """Sequences page → New sequence → Save; Prospects → tick two → "Start sequence: …" → Go →
    who will be enrolled → Start (twice: once) → each row says where the person is."""
    recruiter = f"rec-{uuid.uuid4().hex[:6]}"
    job_id = await world.job(recruiter)
    await world.inquiries(job_id, ["Lee Park", "Sam Rivera", "Alex Kim"])
    page = await world.page(recruiter)
    await page.get_by_role("link", name="Sequences").click()
    await expect(page.get_by_role("heading", name="Sequences", level=1)).to_be_visible()
    await page.get_by_label("Name").fill("Backend follow-up")
    # Each step's mail as Lee Park would get it, before saving (messaging may not know them yet:
    # preview again until it does); the follow-up answers step 1 in its thread.
    await page.get_by_label("Each step's mail as it would reach").select_option(label="Lee Park")
    for _ in range(120):
        await page.get_by_role("button", name="Preview the mails").click()
        await expect(page.get_by_role("heading", name="The mails, step by step, as Lee Park would get them")).to_be_visible()
        if await page.get_by_text("Would not be sent").count() == 0:
            break
    step_one, step_two = page.get_by_role("region", name="Step 1"), page.get_by_role("region", name="Step 2")
    subject = await step_one.locator("dd.subject").inner_text()
    await expect(step_one.get_by_text("Lee Park <")).to_be_visible()
    await expect(step_two.locator("dd.subject")).to_have_text(f"Re: {subject}")
    await expect(page.get_by_label("Name")).to_have_value("Backend follow-up")  # the form as it was typed
    await step_one.scroll_into_view_if_needed()
    await shot(page, "dashboard-sequence-preview.png")
    await page.get_by_role("button", name="Save sequence").click()
    card = page.get_by_role("region", name="Sequence Backend follow-up")
    await expect(card).to_be_visible()
    await expect(card.get_by_role("row")).to_have_count(3)  # the header and two steps
    await expect(card.get_by_role("cell", name="Follow-up", exact=True)).to_be_visible()
    await shot(page, "dashboard-sequences.png")

    # Edit: the form filled with it; saving makes version 2.
    await page.get_by_role("link", name="Edit Backend follow-up").click()
    await expect(page.get_by_role("heading", name="Edit Backend follow-up")).to_be_visible()
    await expect(page.get_by_label("business days after the step before").first).to_have_value("2")
    await page.get_by_label("business days after the step before").first.fill("3")
    await page.get_by_role("button", name="Save new version").click()
    await expect(card).to_contain_text("Version 2")
    await expect(card.get_by_role("cell", name="3 business days")).to_be_visible()

    # A bad one is refused in words.
    await page.get_by_label("Name").fill("Night owl")
    await page.get_by_label("From").fill("17")
    await page.get_by_label("to", exact=True).fill("9")
    await page.get_by_role("button", name="Save sequence").click()
    await expect(page.get_by_text("Not saved: the window must start before it ends")).to_be_visible()

    await page.get_by_role("link", name="Prospects").click()
    await page.get_by_role("checkbox", name="Lee Park", exact=True).check()
    await page.get_by_role("checkbox", name="Sam Rivera", exact=True).check()
    await page.get_by_label("Message template").select_option(label="Start sequence: Backend follow-up")
    await page.get_by_role("button", name="Go").click()
    await expect(page.get_by_role("heading", name="Start a Sequence")).to_be_visible()
    await expect(page.get_by_role("heading", name="Will be enrolled (2)")).to_be_visible()
    form = await page.eval_on_selector("form[action='/sequences/start']",
                                       "f => Object.fromEntries(new FormData(f).entries())")
    await page.get_by_role("button", name="Start").click()
    await expect(page.get_by_role("status")).to_contain_text("Enrolled: 2")
    # The same form sent again (a resubmitted page, a second click): the same commands, which
    # enroll nobody twice, and the same answer; then the page says they are in it already.
    again = await page.request.post(f"{world.dashboard.http}/sequences/start", form=form)
    assert again.ok and "Enrolled: <strong>2</strong>" in await again.text()
    await page.go_back()
    await page.reload()
    await expect(page.get_by_role("heading", name="Will not be enrolled (2)")).to_be_visible()
    await expect(page.get_by_role("button", name="Start")).to_be_disabled()
    await page.get_by_role("link", name="Back to Prospects").click()

    for name in ("Lee Park", "Sam Rivera"):
        await expect(row(page, name)).to_contain_text("Backend follow-up step 1 of 2")
    await expect(row(page, "Alex Kim")).not_to_contain_text("Backend follow-up")
    await shot(page, "dashboard-sequence-rows.png")

    # Starting it again for all three: the two already in it are named, not enrolled again.
    for name in ("Lee Park", "Sam Rivera", "Alex Kim"):
        await page.get_by_role("checkbox", name=name, exact=True).check()
    await page.get_by_label("Message template").select_option(label="Start sequence: Backend follow-up")
    await page.get_by_role("button", name="Go").click()
    await expect(page.get_by_role("heading", name="Will not be enrolled (2)")).to_be_visible()
    await expect(page.get_by_text("Lee Park: already in a sequence")).to_be_visible()
    await page.get_by_role("button", name="Start").click()
    await expect(page.get_by_role("status")).to_contain_text("Enrolled: 1")
    await expect(page.get_by_text("Sam Rivera: already in a sequence")).to_be_visible()

    # Stop for many: tick two → "Stop their sequences" → Go → who will stop → Stop.
    await page.get_by_role("link", name="Back to Prospects").click()
    for name in ("Lee Park", "Sam Rivera"):
        await page.get_by_role("checkbox", name=name, exact=True).check()
    await page.get_by_label("Message template").select_option(label="Stop their sequences")
    await page.get_by_role("button", name="Go").click()
    await expect(page.get_by_role("heading", name="Will stop (2)")).to_be_visible()
    await page.get_by_role("button", name="Stop").click()
    await expect(page.get_by_role("status")).to_contain_text("Stopped: 2")
    await page.get_by_role("link", name="Back to Prospects").click()
    for name in ("Lee Park", "Sam Rivera"):
        await expect(row(page, name)).to_contain_text("stopped · stopped by you")
    await expect(row(page, "Alex Kim")).to_contain_text("step 1 of 2")

    # Stop for one, from the prospect's page; its timeline has each sequence event.
    await page.get_by_role("link", name="Alex Kim").click()
    await page.get_by_role("button", name="Stop sequence").click()
    await expect(page.get_by_role("status")).to_contain_text("Stopped: 1")
    await page.go_back()
    await page.reload()
    history = page.get_by_role("region", name="History")
    await expect(history.get_by_text("Sequence started")).to_be_visible()
    await expect(history.get_by_text("Sequence stopped: stopped by you")).to_be_visible()
    await expect(page.get_by_role("button", name="Stop sequence")).to_have_count(0)
    await shot(page, "dashboard-sequence-timeline.png")
    await page.close()


async def test_a_recruiters_own_template_is_offered_and_sent(world: World):
    """A template the recruiter wrote (messaging's API) is in the Prospects page's menu under
    Your templates; chosen, previewed and sent, the person gets it."""
    import httpx

    recruiter = f"rec-{uuid.uuid4().hex[:6]}"
    job_id = await world.job(recruiter)
    people = await world.inquiries(job_id, ["Lee Park"])
    headers = {"Authorization": f"Bearer {mint(world.ns.jwt_secret, recruiter, ttl_s=600)}"}
    created = httpx.post(f"{world.messaging.http}/v1/templates", headers=headers, json={
        "name": "Still keen?", "subject": "Still keen on {{ job.title }}?",
        "text": "Hi {{ prospect.first_name }},\n\nshall we talk about {{ job.title }} this week?"})
    assert created.status_code == 201, created.text
    page = await world.page(recruiter)
    await page.goto(f"{world.dashboard.http}/prospects")
    await page.get_by_role("checkbox", name="Lee Park", exact=True).check()
    await page.get_by_label("Message template").select_option(label="Still keen?")
    await page.get_by_role("button", name="Go").click()
    await expect(page.get_by_role("heading", name="Send a Message")).to_be_visible()
    await expect(page.get_by_text("Template: Still keen?")).to_be_visible()
    await expect(page.locator(".subject")).to_have_text("Still keen on Backend Engineer?")
    await page.get_by_role("button", name="Send").click()
    [mail] = await wait_for_mails(world.ns.stack, people["Lee Park"], 1)
    assert mail["Subject"] == "Still keen on Backend Engineer?"
    assert "shall we talk about Backend Engineer this week?" in mail.get_body(("plain",)).get_content()
    await page.close()


async def test_not_a_match_is_not_the_end_another_job_and_a_referral(world: World):
    """Not for this job → Select all → "Consider for: Data Engineer" → Go → Consider: both are in
    Data Engineer's Needs follow-up, "from Backend Engineer". The not-a-match mail's link → the
    referral form → the referred person in Needs follow-up, "referred by Jo Chen"; what they typed
    never runs as script; a sixth referral and a forged link are refused."""
    recruiter = f"rec-{uuid.uuid4().hex[:6]}"
    job_a = await world.job(recruiter)
    job_b = await world.job(recruiter, title="Data Engineer")
    people = await world.inquiries(job_a, ["Jo Chen", "Maria Lopez"])
    page = await world.page(recruiter)
    scripts: list[str] = []
    page.on("dialog", lambda dialog: (scripts.append(dialog.message), dialog.dismiss()))
    await page.get_by_role("link", name="Prospects", exact=True).click()
    for name in people:
        await row(page, name).get_by_role("button", name="Not for this job").click()
        await expect(row(page, name).get_by_role("button", name="Not for this job")).to_have_attribute("aria-pressed", "true")

    await page.get_by_role("link", name="Not for this job").click()
    await expect(page.get_by_role("checkbox")).to_have_count(2)
    await page.get_by_role("button", name="Select all").click()
    await page.get_by_label("Message template").select_option(label="Consider for: Data Engineer")
    await page.get_by_role("button", name="Go").click()
    await expect(page.get_by_role("heading", name="Will be considered (2)")).to_be_visible()
    await page.get_by_role("button", name="Consider").click()
    await expect(page.get_by_role("status")).to_contain_text("Considered: 2")
    await page.get_by_role("link", name="See Data Engineer's Needs follow-up").click()
    for _ in range(120):  # intake and rating register them: the page shows them once they have
        if await row(page, "Maria Lopez").count():
            break
        await page.wait_for_timeout(250)
        await page.reload()
    for name in people:
        await expect(row(page, name)).to_contain_text("from Backend Engineer")
    await shot(page, "dashboard-considered.png")
    # From a prospect's page, for one: Maria is on Data Engineer already, so nothing changes.
    await page.goto(f"{world.dashboard.http}/prospects/{ids.prospect_id(job_a, people['Maria Lopez'])}")
    await page.get_by_label("Job", exact=True).select_option(label="Data Engineer")
    await page.get_by_role("button", name="Consider", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Considered: 0")
    await expect(page.get_by_text("Maria Lopez: already on that job")).to_be_visible()
    status, on_b = http_get(f"{world.rating.http}/prospect-ids?view=all&job_id={job_b}",  # type: ignore[union-attr]
                            mint(world.ns.jwt_secret, recruiter, ttl_s=600))
    assert status == 200 and len(on_b["ids"]) == 2

    # The not-a-match mail to Jo Chen carries a personal referral link.
    await page.goto(f"{world.dashboard.http}/prospects?view=not_a_fit&job={job_a}")
    await page.get_by_role("checkbox", name="Jo Chen").check()
    await page.get_by_role("button", name="Go").click()
    await page.get_by_role("button", name="Send").click()
    [mail] = await wait_for_mails(world.ns.stack, people["Jo Chen"], 1)
    text = mail.get_body(("plain",)).get_content()
    link = next(word for word in text.split() if "/refer/" in word)
    assert link in mail.get_body(("html",)).get_content()

    referrer = await world.browser.new_page()
    referrer.on("dialog", lambda dialog: (scripts.append(dialog.message), dialog.dismiss()))
    await referrer.goto(link)
    await expect(referrer.get_by_role("heading", name="Refer someone")).to_be_visible()
    await expect(referrer.get_by_text("Backend Engineer")).to_be_visible()
    await referrer.get_by_label("Their name").fill("Ana Ruiz")
    await referrer.get_by_label("Their e-mail address").fill(f"ana.ruiz+{recruiter}@example.com")
    await referrer.get_by_label("Why they may fit").fill("<script>alert('x')</script> Ana ran our Kafka cluster.")
    await shot(referrer, "referral-page.png")
    await referrer.get_by_role("button", name="Refer them").click()
    await expect(referrer.get_by_role("heading", name="Thank you")).to_be_visible()
    await expect(referrer.get_by_text("We passed Ana Ruiz on to Dana Smith")).to_be_visible()

    await page.goto(f"{world.dashboard.http}/prospects?view=needs_follow_up&job={job_a}")
    for _ in range(120):
        if await row(page, "Ana Ruiz").count():
            break
        await page.wait_for_timeout(250)
        await page.reload()
    await expect(row(page, "Ana Ruiz")).to_contain_text("referred by Jo Chen")
    await shot(page, "dashboard-referred.png")
    await row(page, "Ana Ruiz").get_by_role("link", name="Ana Ruiz").click()
    await expect(page.get_by_text("Referred by Jo Chen").first).to_be_visible()
    await expect(page.get_by_text("<script>alert('x')</script> Ana ran our Kafka cluster.")).to_be_visible()
    assert mails(world.ns.stack.maildir, "ana.ruiz") == []  # not written to until the recruiter decides

    # Four more take the link's five; a sixth is refused, and a forged link is nothing.
    async with httpx.AsyncClient() as http:
        for n in range(4):
            more = await http.post(link, data={"name": f"Friend {n}", "email": f"friend{n}+{recruiter}@example.com"})
            assert more.status_code == 200, more.text
        sixth = await http.post(link, data={"name": "One Too Many", "email": f"six+{recruiter}@example.com"})
        assert sixth.status_code == 429 and "5 people already" in sixth.text
        forged = link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB")
        assert (await http.get(forged)).status_code == 404
        assert (await http.post(forged, data={"name": "X", "email": "x@example.com"})).status_code == 404
    assert scripts == []
    await referrer.close()
    await page.close()


async def test_insights_shows_the_apis_figures_and_home_this_weeks_with_the_change(world: World):
    """A recruiter's week by clicks (four inquiries from two boards, two shortlisted and asked to
    apply); the Insights page shows what the insights API answers, as charts and tables, and its
    CSV is the API's; Home shows this week's figures against last week's."""
    assert world.insights is not None
    recruiter = f"rec-{uuid.uuid4().hex[:6]}"
    job_id = await world.job(recruiter, title="Data Engineer")
    await world.inquiries(job_id, ["Ana Lima", "Ben Ode", "Cy Moss", "Dee Park"])
    page = await world.page(recruiter)
    await page.get_by_role("link", name="Prospects", exact=True).click()
    for name in ("Ana Lima", "Cy Moss"):
        await row(page, name).get_by_role("button", name="Shortlist").click()
        await expect(row(page, name).get_by_role("button", name="Shortlist")).to_have_attribute("aria-pressed", "true")
    await page.get_by_role("link", name="Shortlist").click()
    await expect(page.get_by_role("checkbox")).to_have_count(2)
    await page.get_by_role("button", name="Select all").click()
    await page.get_by_label("Message template").select_option(label="Ask to apply")
    await page.get_by_role("button", name="Go").click()
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator(".results").get_by_text("sent", exact=True)).to_have_count(2, timeout=60_000)

    token = mint(world.ns.jwt_secret, recruiter, ttl_s=600)
    today = datetime.now(timezone.utc).astimezone(ZoneInfo(BERLIN)).date()  # the recruiter's days, not UTC's
    url = f"{world.insights.http}/v1/insights?from={today - timedelta(days=6)}&to={today}"

    def counted() -> dict[str, Any] | None:
        status, body = http_get(url, token)
        return body if status == 200 and body["contacted"] == 2 and body["shortlisted"] == 2 else None
    api = await eventually(lambda: answers(counted), timeout_s=60, interval_s=0.3)
    assert (api["inquiries"], api["prospects"], api["rated"], api["replied"]) == (4, 4, 2, 0)

    # Last week 5 were waiting (as Home saw it then); now 2 are (the two asked to apply are flagged).
    database = AsyncMongoClient(world.ns.stack.mongodb_uri)
    last_week = today - timedelta(days=7)
    await database[world.ns.database("dashboard")]["waiting"].insert_one({"_id": f"{recruiter}|{last_week}", "n": 5})
    await database.close()

    await page.get_by_role("link", name="Insights").click()
    await expect(page.get_by_role("heading", name="Insights", exact=True)).to_be_visible()
    median = api["time_to_first_contact_s"]["median"]
    assert 4 * 3600 < median < 6 * 3600  # they inquired about 5 hours ago
    await expect(page.locator("#fig-ttfc")).to_have_text(duration(median))
    await expect(page.locator("#fig-reply-rate")).to_have_text("0%")
    await expect(page.locator("#fig-inquiries")).to_have_text("4")
    funnel = page.locator("#funnel tr")
    await expect(funnel).to_have_text([f"{label}{api[name]}" for name, label in (
        ("inquiries", "Inquired"), ("rated", "Rated"), ("shortlisted", "Shortlisted"), ("contacted", "Contacted"),
        ("replied", "Replied"))])
    boards = page.locator("#table-boards tbody tr")
    await expect(boards).to_have_count(len(api["by_board"]))
    for board, figures in api["by_board"].items():
        await expect(boards.filter(has_text=board)).to_contain_text(
            f"{figures['inquiries']}\t{figures['contacted']}\t{figures['replied']}", use_inner_text=True)
    assert api["by_template"] == {"ask_to_apply": {"sent": 2, "replied": 0, "reply_rate": 0.0}}
    await expect(page.get_by_role("row", name="Ask to apply")).to_contain_text("2\t0\t0%", use_inner_text=True)
    for chart in ("chart-ttfc", "chart-templates", "chart-boards"):  # drawn by the charting library
        await expect(page.locator(f"#{chart}")).to_have_attribute("style", re.compile("height"))
    await shot(page, "dashboard-insights.png")

    async with page.expect_download() as download:
        await page.get_by_role("link", name="Download CSV").click()
    path = await (await download.value).path()
    status, _ = http_get(url, token)
    with httpx.Client() as client:
        expected = client.get(url + "&format=csv", headers={"Authorization": f"Bearer {token}"}).text
    assert status == 200 and open(path, encoding="utf-8").read() == expected

    # One job, by cohort: the same people (they all inquired this week).
    await page.get_by_label("Job").select_option(label="Data Engineer")
    await page.get_by_label("the people who inquired in it").check()
    await page.get_by_role("button", name="Show").click()
    await expect(page).to_have_url(re.compile(f"job={job_id}.*reading=cohort"))
    await expect(page.locator("#fig-inquiries")).to_have_text("4")

    await page.get_by_role("link", name="Home").click()
    await expect(page.locator("#week-ttfc")).to_contain_text(duration(median))
    await expect(page.locator("#week-reply-rate")).to_contain_text("0%")
    await expect(page.locator("#week-waiting")).to_contain_text("2")
    await expect(page.locator("#week-waiting")).to_contain_text("▼ 3 fewer than last week (better)")
    await shot(page, "dashboard-home-week.png")
    await page.close()
