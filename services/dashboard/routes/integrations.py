"""The Integrations page: a recruiter's webhook endpoints (the webhooks service's API, with
their own token), adding one (its secret shown once), removing one, and the last deliveries."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse

from services.dashboard.clients import NotFound, Refused
from services.dashboard.errors import Problem
from services.dashboard.web import ID_PATTERN, Checked, Current, Dashboard

router = APIRouter()
EndpointId = Annotated[str, PathParam(pattern=ID_PATTERN)]

EVENTS = {  # what a recruiter picks from, in their words
    "follow_up.reminder_due": "Daily reminder",
    "prospect.registered": "New prospect",
    "prospect.inquired_again": "Prospect inquired again",
    "prospect.rated": "Prospect rated",
    "prospect.follow_up_flag_changed": "Follow-up flag changed",
    "message.sent": "Message sent",
    "message.failed": "Message failed",
    "message.replied": "Prospect replied",
    "message.bounced": "Message bounced",
}


async def _page(request: Request, dashboard: Dashboard, session: Current, *, created: dict[str, Any] | None = None,
                error: str | None = None, status_code: int = 200) -> HTMLResponse:
    if dashboard.webhooks is None:
        raise Problem("Integrations unavailable", "No webhooks service is configured (DASHBOARD_WEBHOOKS_API_URL).", 503)
    endpoints = await dashboard.webhooks.endpoints(session.token)
    logs = await asyncio.gather(*(dashboard.webhooks.deliveries(session.token, e["id"]) for e in endpoints))
    return dashboard.page(request, "integrations.html", session, status_code=status_code, nav="integrations",
                          endpoints=list(zip(endpoints, [log[:10] for log in logs])), EVENTS=EVENTS,
                          created=created, error=error)


@router.get("/integrations", response_class=HTMLResponse)
async def integrations(request: Request, dashboard: Dashboard, session: Current) -> HTMLResponse:
    return await _page(request, dashboard, session)


@router.post("/integrations", response_class=HTMLResponse)
async def add(request: Request, dashboard: Dashboard, session: Checked,
              url: Annotated[str, Form(max_length=2_000)], event: Annotated[list[str] | None, Form()] = None) -> HTMLResponse:
    chosen = [e for e in (event or []) if e in EVENTS]
    if not chosen:
        return await _page(request, dashboard, session, error="Pick at least one event to send.", status_code=400)
    assert dashboard.webhooks is not None
    try:
        created = await dashboard.webhooks.add(session.token, url.strip(), chosen)
    except Refused as refused:
        return await _page(request, dashboard, session, error=f"Not added: {refused.detail}", status_code=400)
    return await _page(request, dashboard, session, created=created, status_code=201)


@router.post("/integrations/{endpoint_id}/delete")
async def delete(dashboard: Dashboard, session: Checked, endpoint_id: EndpointId) -> RedirectResponse:
    if dashboard.webhooks is None:
        raise Problem("No such endpoint", "That endpoint is not one of yours.", 404)
    try:
        await dashboard.webhooks.delete(session.token, endpoint_id)
    except NotFound:
        raise Problem("No such endpoint", "That endpoint is not one of yours.", 404) from None
    return RedirectResponse("/integrations", status_code=303)
