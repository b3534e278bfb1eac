"""Acting on one prospect from its row: Shortlist / Not for this job, the Follow-up flag. Each is
the contract's command, answered by its `command.completed`; the row comes back as it now is."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from shared import topics
from shared.contract import FlagFollowUp, RateProspects

from services.dashboard import present
from services.dashboard.errors import Problem
from services.dashboard.sessions import Session
from services.dashboard.web import Checked, Dashboard, ProspectId, Parts, enrollments_of

router = APIRouter()


async def act(dashboard: Parts, session: Session, kind: str, prospect_id: str, **fields: Any) -> dict[str, Any]:
    model = RateProspects if kind == "prospects.rate" else FlagFollowUp
    try:
        command = model(recruiter_id=session.recruiter_id, prospect_ids=[prospect_id], **fields)
    except ValidationError:
        raise Problem("Not done", "That is not a prospect id or a choice this page offers.", 400) from None
    return await dashboard.feed.command(topics.RATING_COMMANDS, kind, command, session.recruiter_id)


async def row_after(request: Request, dashboard: Parts, session: Session, prospect_id: str, result: dict[str, Any],
                    verb: str, selected: bool) -> HTMLResponse:
    if result.get("rejected"):
        reason = result["rejected"][0]["reason"]
        raise Problem(f"Not {verb}", f"This prospect was not {verb}: {present.REASONS.get(reason, reason)}.", 409)
    item, enrollments = await asyncio.gather(dashboard.rating.prospect(session.token, prospect_id),
                                             enrollments_of(dashboard, session.token, [prospect_id]))
    return dashboard.fragment(request, "_row.html", item=item, selected=selected, enrollments=enrollments)


@router.post("/prospects/{prospect_id}/rate", response_class=HTMLResponse)
async def rate(request: Request, dashboard: Dashboard, session: Checked, prospect_id: ProspectId,
               rating_: Annotated[str, Form(alias="rating")], id: Annotated[list[str] | None, Form()] = None) -> HTMLResponse:
    result = await act(dashboard, session, "prospects.rate", prospect_id, rating=rating_)
    return await row_after(request, dashboard, session, prospect_id, result, "rated", prospect_id in (id or []))


@router.post("/prospects/{prospect_id}/flag", response_class=HTMLResponse)
async def flag(request: Request, dashboard: Dashboard, session: Checked, prospect_id: ProspectId,
               flagged: Annotated[bool, Form()], id: Annotated[list[str] | None, Form()] = None) -> HTMLResponse:
    result = await act(dashboard, session, "prospects.flag_follow_up", prospect_id, flagged=flagged)
    return await row_after(request, dashboard, session, prospect_id, result, "flagged" if flagged else "unflagged",
                           prospect_id in (id or []))
