"""The pages: Home, Prospects (a view, a job, oldest waiting first), one prospect."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from shared import ids, topics, views
from shared.contract import ProspectViewed

from services.dashboard import present
from services.dashboard.clients import NotFound, SessionExpired, Unavailable
from services.dashboard.errors import Problem
from services.dashboard.routes.consider import open_jobs
from services.dashboard.routes.insights import headline
from services.dashboard.web import ID_PATTERN, Current, Dashboard, ProspectId, active_sequences, custom_templates, enrollments_of, is_htmx

router = APIRouter()
FINISHED_SHOWN = timedelta(minutes=15)  # a finished send stays on the Prospects page this long


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, dashboard: Dashboard, session: Current) -> HTMLResponse:
    # The jobs' time zones (the recruiter's "this week") come with rating's job list, read beside the summary.
    summary, zones_of = await asyncio.gather(dashboard.rating.summary(session.token), open_jobs(dashboard, session.token))
    jobs = [j for j in summary["jobs"] if j["open"]]
    jobs.sort(key=lambda j: (j.get("oldest_waiting_since") is None, j.get("oldest_waiting_since") or ""))
    week = await headline(dashboard, session.token, session.recruiter_id, int(summary["views"]["needs_follow_up"]),
                          zones_of)
    name = "_home_summary.html" if is_htmx(request) else "home.html"
    return dashboard.page(request, name, session, summary=summary, jobs=jobs, week=week, nav="home")


async def sends_to_show(dashboard: Dashboard, token: str) -> list[dict[str, Any]]:
    """The recruiter's sends in progress, and those finished a moment ago: a line each. Never
    holds up the page: messaging not answering shows no line."""
    try:
        recent = await dashboard.messaging.recent_sends(token)
    except (Unavailable, SessionExpired, NotFound):
        return []
    now = datetime.now(timezone.utc)
    shown = []
    for send in recent:
        started = datetime.fromisoformat(str(send["started_at"]).replace("Z", "+00:00"))
        if started.tzinfo is None:
            started = started.replace(tzinfo=timezone.utc)
        if send["pending"] or now - started < FINISHED_SHOWN:
            shown.append(send)
    return shown


@router.get("/prospects", response_class=HTMLResponse)
async def prospects(
    request: Request, dashboard: Dashboard, session: Current,
    view: Annotated[str, Query(pattern=views.VIEW_PATTERN)] = "needs_follow_up",
    job: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    cursor: Annotated[str | None, Query(max_length=2_000)] = None,
) -> HTMLResponse:
    """The list first: the counts, the job filter and the sends come after it (`/prospects/counts`),
    so they never hold it up."""
    job = job or None
    try:
        result = await dashboard.rating.page(session.token, view, job, cursor)
    except NotFound:
        raise Problem("No such job", "That job is not one of yours. Pick one from the Job filter.", 404) from None
    query = {k: v for k, v in {"view": view, "job": job}.items() if v}
    more = f"/prospects?{urlencode({**query, 'cursor': result['next_cursor']})}" if result.get("next_cursor") else None
    offered, enrollments, own, jobs = await asyncio.gather(
        active_sequences(dashboard, session.token) if not cursor else asyncio.sleep(0, []),
        enrollments_of(dashboard, session.token, [i["prospect_id"] for i in result["items"]]),
        custom_templates(dashboard, session.token) if not cursor else asyncio.sleep(0, {}),
        open_jobs(dashboard, session.token) if not cursor else asyncio.sleep(0, []))
    context = {"view": view, "job": job, "items": result["items"], "more": more, "summary": None,
               "nav": "prospects", "count": 0, "sends": [], "counts_query": urlencode(query),
               "sequences": offered, "enrollments": enrollments, "custom_templates": own,
               "other_jobs": [j for j in jobs if j["job_id"] != job]}
    if is_htmx(request) and cursor:
        return dashboard.fragment(request, "_more.html", **context)
    return dashboard.page(request, "prospects.html", session, **context)


@router.get("/prospects/counts", response_class=HTMLResponse)
async def prospect_counts(
    request: Request, dashboard: Dashboard, session: Current,
    view: Annotated[str, Query(pattern=views.VIEW_PATTERN)] = "needs_follow_up",
    job: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> HTMLResponse:
    """The Prospects page's counts per view, its job filter and the sends line, as out-of-band
    fragments for the page that asked."""
    summary, sends = await asyncio.gather(dashboard.rating.summary(session.token), sends_to_show(dashboard, session.token))
    return dashboard.fragment(request, "_counts.html", view=view, job=job or None, summary=summary, sends=sends,
                              count=_count(summary, view, job or None))


@router.get("/prospects/{prospect_id}", response_class=HTMLResponse)
async def one_prospect(request: Request, dashboard: Dashboard, session: Current, prospect_id: ProspectId) -> HTMLResponse:
    try:
        item, history = await asyncio.gather(dashboard.rating.prospect(session.token, prospect_id),
                                             dashboard.rating.history(session.token, prospect_id))
    except NotFound:
        raise Problem("No such prospect", "That prospect is not one of yours, or not known yet.", 404) from None
    # The recruiter has seen this application (the boards that ask hear it, once): the same event
    # id for every later view. A Kafka outage does not hold up the page.
    viewed = ProspectViewed(prospect_id=prospect_id, job_id=item["job_id"], recruiter_id=session.recruiter_id,
                            viewed_at=datetime.now(timezone.utc))
    await dashboard.feed.publish(topics.PROSPECT_VIEWS, "prospect.viewed",
                                 ids.derive("prospect-viewed", session.recruiter_id, prospect_id), viewed, prospect_id)
    enrolled, jobs = await asyncio.gather(enrollments_of(dashboard, session.token, [prospect_id], every=True),
                                          open_jobs(dashboard, session.token))
    enrolled = enrolled.get("*", [])
    return dashboard.page(request, "prospect.html", session, item=item, history=present.timeline(history, enrolled),
                          nav="prospects", enrollment_history=enrolled, stop_key=uuid.uuid4().hex,
                          other_jobs=[j for j in jobs if j["job_id"] != item["job_id"]], consider_key=uuid.uuid4().hex)


@router.get("/prospects/{prospect_id}/resume")
async def resume(dashboard: Dashboard, session: Current, prospect_id: ProspectId) -> Response:
    """The prospect's résumé, fetched from intake with the recruiter's own token, as a download."""
    try:
        item = await dashboard.rating.prospect(session.token, prospect_id)
    except NotFound:
        raise Problem("No such prospect", "That prospect is not one of yours, or not known yet.", 404) from None
    if not item.get("resume") or dashboard.intake is None:
        raise Problem("No résumé", "No job board sent a résumé with this prospect's inquiries.", 404)
    try:
        file = await dashboard.intake.resume(session.token, item["resume"]["resume_id"])
    except NotFound:
        raise Problem("No résumé", "Intake does not have this résumé (any more).", 404) from None
    headers = {k: v for k, v in file.headers.items() if k.lower() in ("content-disposition", "content-type")}
    return Response(file.content, headers={**headers, "X-Content-Type-Options": "nosniff",
                                           "Cache-Control": "private, no-store"})


def _count(summary: dict[str, Any], view: str, job: str | None) -> int:
    if job is None:
        return int(summary["views"].get(view, 0))
    return next((int(j.get(view, 0)) for j in summary["jobs"] if j["job_id"] == job), 0)
