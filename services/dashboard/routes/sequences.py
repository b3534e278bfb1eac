"""The Sequences page (a recruiter's follow-up sequences with what each step came to, and a form
to make one) and starting a sequence for prospects picked on the Prospects page (Select all →
"Start sequence: <name>" → Go → who will be enrolled → Start), resend-safe as sends are."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared import ids as derived
from shared import topics, views
from shared.contract import EnrollInSequence

from services.dashboard import present
from services.dashboard.clients import NotFound, Refused
from services.dashboard.errors import Problem
from services.dashboard.web import COMMAND_SIZE, ID_PATTERN, Checked, Current, Dashboard, Parts, enrollments_of, picked

router = APIRouter()
SequenceId = Annotated[str, PathParam(pattern=ID_PATTERN)]
KEY_PATTERN = r"^[0-9a-f]{32}$"
ENROLL_MAX = 10_000
DAYS = {"mon": "Mon", "tue": "Tue", "wed": "Wed", "thu": "Thu", "fri": "Fri", "sat": "Sat", "sun": "Sun"}
STEP_TEMPLATES = {**present.TEMPLATES, "follow_up": "Follow-up"}
ACTIVE = ("running", "awaiting", "paused")
REASONS = {"already_enrolled": "already in a sequence", "unknown_prospect": "not known yet",
           "forbidden": "not yours", "job_closed": "the job is closed", "unknown_sequence": "the sequence is archived"}


def _api(dashboard: Parts) -> Any:
    if dashboard.sequences is None:
        raise Problem("Sequences unavailable", "No sequences service is configured (DASHBOARD_SEQUENCES_API_URL).", 503)
    return dashboard.sequences


async def _page(request: Request, dashboard: Dashboard, session: Current, *, error: str | None = None,
                status_code: int = 200) -> HTMLResponse:
    found = await _api(dashboard).sequences(session.token)
    return dashboard.page(request, "sequences.html", session, status_code=status_code, nav="sequences",
                          sequences=found, error=error, DAYS=DAYS, STEP_TEMPLATES=STEP_TEMPLATES)


@router.get("/sequences", response_class=HTMLResponse)
async def sequences_page(request: Request, dashboard: Dashboard, session: Current) -> HTMLResponse:
    return await _page(request, dashboard, session)


@router.post("/sequences", response_class=HTMLResponse)
async def create(request: Request, dashboard: Dashboard, session: Checked,
                 name: Annotated[str, Form(max_length=200)],
                 step_template: Annotated[list[str], Form(max_length=10)],
                 step_delay: Annotated[list[str], Form(max_length=10)],
                 start_hour: Annotated[int, Form(ge=0, le=23)] = 9, end_hour: Annotated[int, Form(ge=1, le=24)] = 17,
                 daily_cap: Annotated[int, Form(ge=1, le=100_000)] = 200,
                 day: Annotated[list[str] | None, Form(max_length=7)] = None) -> Response:
    steps = []
    for template, delay in zip(step_template, step_delay):
        if not template:
            continue  # an empty row of the form
        try:
            steps.append({"template": template, "delay_business_days": int(delay or 0)})
        except ValueError:
            return await _page(request, dashboard, session, error="Each step's delay is a number of business days.",
                               status_code=400)
    definition = {"name": name.strip(), "steps": steps, "daily_cap": daily_cap,
                  "window": {"start_hour": start_hour, "end_hour": end_hour,
                             "days": [d for d in (day or []) if d in DAYS]}}
    try:
        await _api(dashboard).create(session.token, definition)
    except Refused as refused:
        return await _page(request, dashboard, session, error=f"Not saved: {refused.detail}", status_code=400)
    return RedirectResponse("/sequences", status_code=303)


@router.post("/sequences/{sequence_id}/archive")
async def archive(dashboard: Dashboard, session: Checked, sequence_id: SequenceId) -> RedirectResponse:
    try:
        await _api(dashboard).archive(session.token, sequence_id)
    except NotFound:
        raise Problem("No such sequence", "That sequence is not one of yours.", 404) from None
    return RedirectResponse("/sequences", status_code=303)


async def _names(dashboard: Parts, token: str, prospect_ids: list[str]) -> dict[str, str]:
    """The names of the first few, for a page that lists them."""
    async def one(pid: str) -> tuple[str, str]:
        try:
            item = await dashboard.rating.prospect(token, pid)
            return pid, str(item.get("name") or item.get("email") or pid)
        except NotFound:
            return pid, pid
    return dict(await asyncio.gather(*(one(p) for p in prospect_ids[:20])))


@router.get("/sequences/start", response_class=HTMLResponse)
async def start_page(
    request: Request, dashboard: Dashboard, session: Current,
    sequence: Annotated[str, Query(pattern=ID_PATTERN)],
    id: Annotated[list[str] | None, Query()] = None, all: str = "",
    view: Annotated[str, Query(pattern=views.VIEW_PATTERN)] = "needs_follow_up",
    job: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    key: Annotated[str | None, Query(pattern=KEY_PATTERN)] = None,
) -> Response:
    """Who will be enrolled and who will not (already in a sequence), before Start."""
    if key is None:  # this page's key, kept in its address by a reload or Back: Start twice is one start
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "key"] + [("key", uuid.uuid4().hex)]
        return RedirectResponse(f"/sequences/start?{urlencode(query)}", status_code=303)
    try:
        chosen = await _api(dashboard).sequence(session.token, sequence)
    except NotFound:
        raise Problem("No such sequence", "That sequence is not one of yours. Pick one on the Prospects page.",
                      404) from None
    if all == "1":
        prospect_ids = await dashboard.rating.ids(session.token, view, job or None)
    else:
        prospect_ids = list(dict.fromkeys(i for i in (id or []) if i and re.match(ID_PATTERN, i)))
    if not prospect_ids:
        raise Problem("No prospects selected", "Tick the prospects (or Select all), choose a sequence, then Go.", 400)
    enrolled = await enrollments_of(dashboard, session.token, prospect_ids)
    busy = [pid for pid in prospect_ids if enrolled.get(pid, {}).get("state") in ACTIVE]
    back = f"/prospects?{urlencode({k: v for k, v in {'view': view, 'job': job}.items() if v})}"
    return dashboard.page(request, "sequence_start.html", session, nav="prospects", sequence=chosen,
                          ids=prospect_ids, busy=busy, busy_names=await _names(dashboard, session.token, busy),
                          key=key, back=back, STEP_TEMPLATES=STEP_TEMPLATES)


@router.post("/sequences/start", response_class=HTMLResponse)
async def start(request: Request, dashboard: Dashboard, session: Checked,
                sequence: Annotated[str, Form(pattern=ID_PATTERN)], ids: Annotated[str, Form()],
                key: Annotated[str, Form(pattern=KEY_PATTERN)]) -> HTMLResponse:
    """One `sequences.enroll` per 1,000, with ids derived from the page's key: a reload or a
    second click is the same commands, which enroll nobody twice."""
    chosen = picked(ids, ENROLL_MAX, "Not started", f"A sequence starts for at most {ENROLL_MAX:,} prospects at "
                                                    "once, each named by its id; nobody was enrolled.")
    parts = [chosen[i:i + COMMAND_SIZE] for i in range(0, len(chosen), COMMAND_SIZE)]
    commands = [(derived.derive("dashboard-enroll", key, str(n)),
                 EnrollInSequence(recruiter_id=session.recruiter_id, sequence_id=sequence, prospect_ids=part))
                for n, part in enumerate(parts)]
    results = await dashboard.feed.commands(topics.SEQUENCE_COMMANDS, "sequences.enroll", commands,
                                            session.recruiter_id, wait_s=dashboard.settings.command_timeout_s)
    accepted = [pid for r in results.values() for pid in r.get("accepted", [])]
    rejected = [r2 for r in results.values() for r2 in r.get("rejected", [])]
    names = await _names(dashboard, session.token, [r["prospect_id"] for r in rejected])
    return dashboard.page(request, "sequence_started.html", session, nav="prospects", accepted=accepted,
                          rejected=rejected, names=names, REASONS=REASONS, answered=len(results),
                          commands=len(commands), sequence=sequence)
