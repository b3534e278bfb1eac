"""Live updates: a Server-Sent Events stream per open page, of rendered fragments for what the
recruiter's events change (a row, a send's result, a flag, today's reminder)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from shared import topics
from shared.auth import InvalidToken
from shared.logs import get_logger

from services.dashboard import present
from services.dashboard.clients import NotFound, SessionExpired, Unavailable
from services.dashboard.feed import Update
from services.dashboard.sessions import Session
from services.dashboard.web import Current, Dashboard, Parts, enrollments_of

router = APIRouter()
log = get_logger("prospectflow.dashboard")
SESSION_CHECK_S = 60.0  # how often an open stream reads its session again


@router.get("/events")
async def events(request: Request, dashboard: Dashboard, session: Current) -> StreamingResponse:
    feed = dashboard.feed
    queue = feed.subscribe(session.recruiter_id)
    jobs: set[str] = set()
    jobs_checked = 0.0

    async def my_jobs(job_id: str) -> bool:
        nonlocal jobs, jobs_checked
        now = asyncio.get_running_loop().time()
        if job_id not in jobs and now - jobs_checked > 1:
            jobs_checked = now
            summary = await dashboard.rating.summary(session.token)
            jobs = {j["job_id"] for j in summary["jobs"]}
        return job_id in jobs

    async def stream() -> AsyncIterator[str]:
        nonlocal session
        checked = time.time()
        try:
            yield ": connected\n\n"
            while True:
                try:
                    update = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    update = None
                if time.time() - checked > SESSION_CHECK_S:
                    # The session, read again: signed out (on any replica) ends the stream, and
                    # its API token, which lasts minutes, is renewed for a page open for hours.
                    checked = time.time()
                    try:
                        session = await dashboard.sessions.resume(session.session_id)
                    except InvalidToken:
                        return
                    except Exception:  # noqa: BLE001 - the database is away: keep the token until it works
                        pass
                if update is None:
                    if session.expires_at < time.time():
                        return
                    yield ": keep-alive\n\n"
                    continue
                try:
                    for payload in await render_update(request, dashboard, session, update, my_jobs):
                        yield f"event: fragment\ndata: {json.dumps(payload)}\n\n"
                except (Unavailable, SessionExpired, NotFound):
                    continue
                except Exception:  # noqa: BLE001 - one bad update must not end the stream
                    log.exception("could not render an update", extra={"type": update.type})
        finally:
            feed.unsubscribe(session.recruiter_id, queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def render_update(request: Request, dashboard: Parts, session: Session, update: Update,
                        my_jobs: Callable[[str], Awaitable[bool]]) -> list[dict[str, Any]]:
    data = update.data
    pid = str(data.get("prospect_id", ""))
    render = dashboard.render
    out: list[dict[str, Any]] = []
    if update.type == "follow_up.reminder_due":
        return [{"mode": "replace", "target": "reminder-banner",
                 "html": render(request, "_reminder.html", reminder=dashboard.feed.reminder_today(session.recruiter_id))}]
    if not pid:  # a command's result names no one prospect: nothing on the page is its row
        return []
    if update.topic == topics.PROSPECTS:
        if not await my_jobs(str(data.get("job_id"))):
            return []
        item = await appeared(dashboard, session, pid)
        if item is None:
            return []
        out.append({"mode": "refresh", "target": "home-summary", "url": "/"})
    else:
        item = await dashboard.rating.prospect(session.token, pid)
    if update.type in ("message.sent", "message.failed"):
        status = "sent" if update.type == "message.sent" else "failed"
        at = data.get("sent_at") or update.time
        last = item.get("last_message") or {}
        previous, this = present.parse_time(last.get("sent_at")), present.parse_time(at)
        if not last or previous is None or (this is not None and previous <= this):
            item["last_message"] = {"message_id": data.get("message_id"), "template": data.get("template"),
                                    "sent_at": at, "status": status,
                                    "reason": data.get("reason")}
        out.append({"mode": "replace", "target": f"result-{pid}",
                    "html": render(request, "_send_status.html", pid=pid, result={"type": update.type, **data})})
    if update.type == "message.bounced":  # rating may not have it yet: the row says so from the event
        item["bounced"] = {k: data.get(k) for k in ("message_id", "permanent", "status", "diagnostic")}
        item["bounced"]["at"] = data.get("received_at")
    if update.type == "prospect.follow_up_flag_changed":
        out.append({"mode": "replace", "target": f"sendflag-{pid}",
                    "html": render(request, "_send_flag.html", pid=pid, flagged=bool(data.get("flagged")))})
    enrollments = await enrollments_of(dashboard, session.token, [pid])
    out.append({"mode": "row", "target": f"row-{pid}", "job_id": item["job_id"], "views": present.views_holding(item),
                "html": render(request, "_row.html", item=item, selected=False, enrollments=enrollments)})
    return out


async def appeared(dashboard: Parts, session: Session, prospect_id: str) -> dict[str, Any] | None:
    """A prospect just announced by intake, once rating has it on the board (it may lag a moment)."""
    delay = 0.05
    for _ in range(12):
        try:
            return await dashboard.rating.prospect(session.token, prospect_id)
        except NotFound:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
    return None
