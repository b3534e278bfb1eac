"""Screenshots of the Recruiter Dashboard for the README, from the sample data `make run`
publishes (`prospectflow sample`), taken in Debian's Chromium.

With `make run` going:  .venv/bin/python docs/screenshots.py
It shortlists two of the sample recruiter's prospects (as the demo does) and writes
docs/dashboard-home.png, docs/dashboard-prospects.png, docs/dashboard-send.png and
docs/dashboard-phone.png; then, for a second recruiter (SCREENSHOT_BULK_RECRUITER, `sam`) with
2,000 prospects, a send to all of them in progress: docs/dashboard-sending.png and
docs/dashboard-sends-line.png.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from playwright.async_api import async_playwright, expect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.stack import CHROMIUM_FLAGS, chromium  # noqa: E402
from prospectflow.sample import jobs  # noqa: E402
from shared import ids  # noqa: E402

RECRUITER = os.environ.get("SCREENSHOT_RECRUITER", "dana")
BULK_RECRUITER = os.environ.get("SCREENSHOT_BULK_RECRUITER", "sam")
BULK = 2_000
DASHBOARD = os.environ.get("PROSPECTFLOW_DASHBOARD_URL", "http://127.0.0.1:8000")


def tool(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "prospectflow", *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 3):
        raise SystemExit(f"prospectflow {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


async def main() -> None:
    tool("sample", "--recruiter", RECRUITER)
    backend = str(jobs(RECRUITER, "example.com")[0]["job_id"])
    shortlist = [ids.prospect_id(backend, f"{name}@example.com") for name in ("lee.park", "alex.kim")]
    tool("rate", "shortlist", *shortlist, "--recruiter", RECRUITER)
    link = tool("login-link", "--recruiter", RECRUITER)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 820})
        await page.goto(link)
        await page.wait_for_url(f"{DASHBOARD}/")
        await page.screenshot(path=ROOT / "docs" / "dashboard-home.png")
        await page.get_by_role("link", name="Prospects", exact=True).click()
        await expect(page.get_by_role("checkbox").first).to_be_visible()
        await expect(page.locator("#count-needs_follow_up")).not_to_have_text("")  # the counts come after the list
        await page.get_by_role("checkbox", name="Lee Park").check()
        await page.get_by_role("checkbox", name="Alex Kim").check()
        await page.screenshot(path=ROOT / "docs" / "dashboard-prospects.png")
        await page.get_by_role("link", name="Shortlist").click()
        await page.get_by_role("button", name="Select all").click()
        await page.get_by_role("button", name="Go").click()
        await page.get_by_label("Note (optional)").fill("Looking forward to your application!")
        await expect(page.frame_locator("iframe.mail").get_by_text("Looking forward to your application!")).to_be_visible()
        await page.screenshot(path=ROOT / "docs" / "dashboard-send.png", full_page=True)
        phone = await browser.new_page(viewport={"width": 360, "height": 760}, storage_state=await page.context.storage_state())
        await phone.goto(f"{DASHBOARD}/prospects")
        await expect(phone.locator("#count-needs_follow_up")).not_to_have_text("")
        await phone.screenshot(path=ROOT / "docs" / "dashboard-phone.png")
        await bulk_send(browser)
        await browser.close()
    print("wrote docs/dashboard-{home,prospects,send,phone,sending,sends-line}.png")


async def publish_bulk() -> None:
    """BULK inquiries for the bulk recruiter's Backend Engineer job (once: ids derived)."""
    from datetime import datetime, timezone

    from prospectflow import ops
    from prospectflow.bus import Bus
    from shared import topics
    from shared.settings import KafkaSettings

    job = jobs(BULK_RECRUITER, "example.com")[0]
    async with Bus(KafkaSettings()) as bus:
        job_topic, inquiry_topic = await bus.require(topics.JOBS, topics.INQUIRIES)
        await bus.publish_many(job_topic, [(str(job["job_id"]), ops.envelope(
            "job.opened", job, event_id=ids.derive("screenshot-job", str(job["job_id"]))), None)])
        now = datetime.now(timezone.utc).isoformat()
        inquiries = []
        for n in range(BULK):
            email = f"person.{n}@example.com"
            inquiries.append((email, ops.envelope("inquiry.received", {
                "job_id": job["job_id"], "board": "acme-board", "board_inquiry_id": f"screenshot-{BULK_RECRUITER}-{n}",
                "prospect": {"name": f"Person {n}", "email": email}, "inquired_at": now},
                event_id=ids.derive("screenshot-inquiry", BULK_RECRUITER, email)), None))
        await bus.publish_many(inquiry_topic, inquiries)


async def bulk_send(browser) -> None:  # type: ignore[no-untyped-def]
    await publish_bulk()
    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    await page.goto(tool("login-link", "--recruiter", BULK_RECRUITER))
    await page.wait_for_url(f"{DASHBOARD}/")
    for _ in range(120):
        await page.goto(f"{DASHBOARD}/prospects")
        count = page.locator("nav.views a[aria-current=page] .count")
        await expect(count).not_to_have_text("", timeout=10_000)  # the counts come after the list
        if (await count.inner_text()).strip() == str(BULK):
            break
        await page.wait_for_timeout(1_000)
    await page.get_by_role("button", name="Select all").click()
    await page.get_by_role("button", name="Go").click()
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator("#send-counts")).to_contain_text("Sending", timeout=60_000)
    await page.wait_for_timeout(3_000)
    await page.screenshot(path=ROOT / "docs" / "dashboard-sending.png")
    await page.goto(f"{DASHBOARD}/prospects")
    await expect(page.get_by_role("list", name="Your sends")).to_be_visible()  # it comes after the list
    await page.screenshot(path=ROOT / "docs" / "dashboard-sends-line.png", clip={"x": 0, "y": 0, "width": 1280, "height": 300})


if __name__ == "__main__":
    asyncio.run(main())
