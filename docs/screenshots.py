"""Screenshots of the Recruiter Dashboard for the README, from the sample data `make run`
publishes (`prospectflow sample`), taken in Debian's Chromium.

With `make run` going:  .venv/bin/python docs/screenshots.py
It shortlists two of the sample recruiter's prospects (as the demo does) and writes
docs/dashboard-home.png, docs/dashboard-prospects.png, docs/dashboard-send.png and
docs/dashboard-phone.png.
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
        await phone.screenshot(path=ROOT / "docs" / "dashboard-phone.png")
        await browser.close()
    print("wrote docs/dashboard-{home,prospects,send,phone}.png")


if __name__ == "__main__":
    asyncio.run(main())
