"""Not a match is not the end: consider people for another of the recruiter's open jobs (the
Prospects page's menu, "Consider for: <job>", for those ticked or Select all; a prospect's page for
one). Go → who will be considered → Consider: one `prospects.suggest` per 1,000, ids derived
from the page's key, so a reload or a second click registers nobody twice."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from shared import ids as derived
from shared import topics
from shared.contract import SuggestProspects

from services.dashboard.clients import NotFound, Refused, SessionExpired, Unavailable
from services.dashboard.errors import Problem
from services.dashboard.web import (COMMAND_SIZE, ID_PATTERN, KEY_PATTERN, Checked, Current, Dashboard, Parts, Picked,
                                    keyed, picked)

router = APIRouter()
MOST = 10_000
REASONS = {"same_job": "already on that job", "forbidden": "not yours", "unknown_prospect": "not known yet",
           "job_closed": "that job is closed"}


async def open_jobs(dashboard: Parts, token: str) -> list[dict[str, Any]]:
    """The recruiter's open jobs, for the menus; never holds a page up (rating not answering offers none)."""
    try:
        return [j for j in await dashboard.rating.jobs(token) if j.get("open")]
    except (Unavailable, SessionExpired, NotFound, Refused):
        return []


async def _target(dashboard: Parts, token: str, job_id: str) -> dict[str, Any]:
    for job in await dashboard.rating.jobs(token):
        if job["job_id"] == job_id:
            if not job.get("open"):
                raise Problem("That job is closed", "Choose one of your open jobs.", 409)
            return job
    raise Problem("No such job", "That job is not one of yours. Pick one from the menu.", 404)


@router.get("/consider", response_class=HTMLResponse)
async def consider_page(request: Request, dashboard: Dashboard, session: Current, selection: Picked,
                        target: Annotated[str, Query(pattern=ID_PATTERN)]) -> Response:
    """Who will be considered for the other job, before Consider."""
    if selection.key is None:
        return keyed(request, "/consider")
    chosen = await _target(dashboard, session.token, target)
    prospect_ids, back = await selection.prospects(dashboard, session)
    return dashboard.page(request, "consider.html", session, nav="prospects", target=chosen, ids=prospect_ids,
                          key=selection.key, back=back)


@router.post("/consider", response_class=HTMLResponse)
async def consider(request: Request, dashboard: Dashboard, session: Checked,
                   target: Annotated[str, Form(pattern=ID_PATTERN)], ids: Annotated[str, Form()],
                   key: Annotated[str, Form(pattern=KEY_PATTERN)]) -> HTMLResponse:
    chosen = picked(ids, MOST, "Nobody was considered", f"At most {MOST:,} prospects at once, each named by its id; "
                                                       "nobody was considered.")
    job = await _target(dashboard, session.token, target)
    parts = [chosen[i:i + COMMAND_SIZE] for i in range(0, len(chosen), COMMAND_SIZE)]
    commands = [(derived.derive("dashboard-suggest", key, str(n)),
                 SuggestProspects(recruiter_id=session.recruiter_id, prospect_ids=part, job_id=target))
                for n, part in enumerate(parts)]
    results = await dashboard.feed.commands(topics.RATING_COMMANDS, "prospects.suggest", commands,
                                            session.recruiter_id, wait_s=dashboard.settings.command_timeout_s)
    accepted = [pid for r in results.values() for pid in r.get("accepted", [])]
    rejected = [x for r in results.values() for x in r.get("rejected", [])]
    names = await _names(dashboard, session.token, [x["prospect_id"] for x in rejected[:20]])
    return dashboard.page(request, "considered.html", session, nav="prospects", target=job, accepted=accepted,
                          rejected=rejected, names=names, REASONS=REASONS, answered=len(results),
                          commands=len(commands))


async def _names(dashboard: Parts, token: str, prospect_ids: list[str]) -> dict[str, str]:
    out = {}
    for pid in prospect_ids:
        try:
            item = await dashboard.rating.prospect(token, pid)
            out[pid] = str(item.get("name") or pid)
        except NotFound:
            out[pid] = pid
    return out
