"""The Sequences page (a recruiter's follow-up sequences with what each step came to, and a form
to make one) and starting a sequence for prospects picked on the Prospects page (Select all →
"Start sequence: <name>" → Go → who will be enrolled → Start), resend-safe as sends are."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared import ids as derived
from shared import topics
from shared.contract import EnrollInSequence, StopSequences

from services.dashboard import present
from services.dashboard.clients import NotFound, Refused
from services.dashboard.errors import Problem
from services.dashboard.web import (COMMAND_SIZE, ID_PATTERN, KEY_PATTERN, Checked, Current, Dashboard, Parts,
                                    custom_templates, enrollments_of, keyed, picked, Picked)

router = APIRouter()
SequenceId = Annotated[str, PathParam(pattern=ID_PATTERN)]
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


async def _people(dashboard: Parts, token: str) -> list[dict[str, Any]]:
    """Some of the recruiter's prospects (the board's first 20), to preview a sequence's mails with."""
    try:
        return [{"prospect_id": i["prospect_id"], "name": i.get("name") or i.get("email") or i["prospect_id"]}
                for i in (await dashboard.rating.page(token, "all", None, None, limit=20))["items"]]
    except (NotFound, Refused):
        return []


async def _page(request: Request, dashboard: Dashboard, session: Current, *, error: str | None = None,
                status_code: int = 200, form: dict[str, Any] | None = None,
                previews: list[dict[str, Any]] | None = None) -> HTMLResponse:
    found, people, own = await asyncio.gather(_api(dashboard).sequences(session.token),
                                              _people(dashboard, session.token),
                                              custom_templates(dashboard, session.token))
    return dashboard.page(request, "sequences.html", session, status_code=status_code, nav="sequences",
                          sequences=found, error=error, DAYS=DAYS, STEP_TEMPLATES=STEP_TEMPLATES, people=people,
                          custom_templates=own, form=form or DEFAULT_FORM, previews=previews)


DEFAULT_FORM: dict[str, Any] = {
    "name": "", "daily_cap": 200, "preview_with": None,
    "window": {"start_hour": 9, "end_hour": 17, "days": ["mon", "tue", "wed", "thu", "fri"]},
    "steps": [{"template": "ask_to_apply", "delay_business_days": 0},
              {"template": "follow_up", "delay_business_days": 2}, {"template": "", "delay_business_days": 2}]}


@dataclass(frozen=True)
class Typed:
    """The sequence form as sent: the definition (the steps filled in), the rows as typed (to
    show again), and what is wrong with the form itself, if anything (the service judges the rest)."""

    definition: dict[str, Any]
    rows: list[dict[str, Any]]
    error: str | None

    def form(self, **more: Any) -> dict[str, Any]:
        return {**self.definition, "steps": self.rows, **more}


def typed(step_template: Annotated[list[str], Form(max_length=10)],
          step_delay: Annotated[list[str], Form(max_length=10)],
          name: Annotated[str, Form(max_length=200)] = "",
          start_hour: Annotated[int, Form(ge=0, le=23)] = 9, end_hour: Annotated[int, Form(ge=1, le=24)] = 17,
          daily_cap: Annotated[int, Form(ge=1, le=100_000)] = 200,
          day: Annotated[list[str] | None, Form(max_length=7)] = None) -> Typed:
    """The sequence form of the create, edit and preview posts (one list of its fields)."""
    rows = [{"template": t, "delay_business_days": d} for t, d in zip(step_template, step_delay)]
    steps, error = [], None
    for row in rows:
        if not row["template"]:
            continue  # an empty row of the form
        try:
            steps.append({"template": row["template"], "delay_business_days": int(row["delay_business_days"] or 0)})
        except ValueError:
            error = "Each step's delay is a number of business days."
    definition = {"name": name.strip(), "steps": steps, "daily_cap": daily_cap,
                  "window": {"start_hour": start_hour, "end_hour": end_hour,
                             "days": [d for d in (day or []) if d in DAYS]}}
    return Typed(definition, rows, error)


SequenceForm = Annotated[Typed, Depends(typed)]


@router.get("/sequences", response_class=HTMLResponse)
async def sequences_page(request: Request, dashboard: Dashboard, session: Current,
                         edit: Annotated[str | None, Query(pattern=ID_PATTERN)] = None) -> HTMLResponse:
    """The recruiter's sequences and the form: a new one, or (`edit`) a new version of one."""
    if edit is None:
        return await _page(request, dashboard, session)
    try:
        current = await _api(dashboard).sequence(session.token, edit)
    except NotFound:
        raise Problem("No such sequence", "That sequence is not one of yours.", 404) from None
    form = {**DEFAULT_FORM, **{k: current[k] for k in ("name", "steps", "window", "daily_cap")},
            "sequence_id": current["sequence_id"], "version": current["version"]}
    return await _page(request, dashboard, session, form=form)


@router.post("/sequences/{sequence_id}/version", response_class=HTMLResponse)
async def change(request: Request, dashboard: Dashboard, session: Checked, sequence_id: SequenceId,
                 sent: SequenceForm) -> Response:
    """A new version of the sequence: those enrolled go on with the version they started on."""
    form = sent.form(sequence_id=sequence_id)
    if sent.error:
        return await _page(request, dashboard, session, error=sent.error, status_code=400, form=form)
    try:
        await _api(dashboard).new_version(session.token, sequence_id, sent.definition)
    except NotFound:
        raise Problem("No such sequence", "That sequence is not one of yours.", 404) from None
    except Refused as refused:
        return await _page(request, dashboard, session, error=f"Not saved: {refused.detail}", status_code=400,
                           form=form)
    return RedirectResponse("/sequences", status_code=303)


@router.post("/sequences", response_class=HTMLResponse)
async def create(request: Request, dashboard: Dashboard, session: Checked, sent: SequenceForm) -> Response:
    form = sent.form()
    if sent.error:
        return await _page(request, dashboard, session, error=sent.error, status_code=400, form=form)
    try:
        await _api(dashboard).create(session.token, sent.definition)
    except Refused as refused:
        return await _page(request, dashboard, session, error=f"Not saved: {refused.detail}", status_code=400,
                           form=form)
    return RedirectResponse("/sequences", status_code=303)


@router.post("/sequences/preview", response_class=HTMLResponse)
async def preview(request: Request, dashboard: Dashboard, session: Checked, sent: SequenceForm,
                  preview_with: Annotated[str, Form(pattern=ID_PATTERN)],
                  sequence_id: Annotated[str | None, Form(pattern=ID_PATTERN)] = None) -> HTMLResponse:
    """Each step's mail as this prospect would get it (messaging renders it, as it would send
    it; a follow-up answers step 1's mail, so its subject is `Re:` step 1's). The form stays
    as it was typed; nothing is saved."""
    definition, form = sent.definition, sent.form(preview_with=preview_with, sequence_id=sequence_id)
    if sent.error:
        return await _page(request, dashboard, session, error=sent.error, status_code=400, form=form)
    answers = await asyncio.gather(*(dashboard.messaging.preview(session.token, step["template"], [preview_with], None)
                                     for step in definition["steps"]), return_exceptions=True)
    previews: list[dict[str, Any]] = []
    for n, (step, answer) in enumerate(zip(definition["steps"], answers), 1):
        if isinstance(answer, Refused):
            previews.append({"step": n, "step_template": step["template"], "error": answer.detail})
            continue
        if isinstance(answer, BaseException):
            raise answer
        mail = answer.get("mail")
        first = previews[0].get("mail") if previews else None
        if mail and first and step["template"] == "follow_up" and n > 1:
            mail = {**mail, "subject": f"Re: {first['subject']}"}
        skipped = answer.get("skipped") or []
        previews.append({"step": n, "step_template": step["template"], "mail": mail,
                         "skipped": present.REASONS.get(skipped[0]["reason"], skipped[0]["reason"]) if skipped else None})
    return await _page(request, dashboard, session, form=form, previews=previews)


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
async def start_page(request: Request, dashboard: Dashboard, session: Current, selection: Picked,
                     sequence: Annotated[str, Query(pattern=ID_PATTERN)]) -> Response:
    """Who will be enrolled and who will not (already in a sequence), before Start."""
    if selection.key is None:
        return keyed(request, "/sequences/start")
    try:
        chosen = await _api(dashboard).sequence(session.token, sequence)
    except NotFound:
        raise Problem("No such sequence", "That sequence is not one of yours. Pick one on the Prospects page.",
                      404) from None
    prospect_ids, back = await selection.prospects(dashboard, session)
    enrolled = await enrollments_of(dashboard, session.token, prospect_ids)
    busy = [pid for pid in prospect_ids if enrolled.get(pid, {}).get("state") in ACTIVE]
    return dashboard.page(request, "sequence_start.html", session, nav="prospects", sequence=chosen,
                          ids=prospect_ids, busy=busy, busy_names=await _names(dashboard, session.token, busy),
                          key=selection.key, back=back, STEP_TEMPLATES=STEP_TEMPLATES)


@router.get("/sequences/stop", response_class=HTMLResponse)
async def stop_page(request: Request, dashboard: Dashboard, session: Current, selection: Picked) -> Response:
    """Whose sequences will stop (those in one now), before Stop."""
    if selection.key is None:
        return keyed(request, "/sequences/stop")
    _api(dashboard)
    prospect_ids, back = await selection.prospects(dashboard, session)
    enrolled = await enrollments_of(dashboard, session.token, prospect_ids)
    running = [pid for pid in prospect_ids if enrolled.get(pid, {}).get("state") in ACTIVE]
    return dashboard.page(request, "sequence_stop.html", session, nav="prospects", ids=running,
                          idle=len(prospect_ids) - len(running), enrolled=enrolled,
                          names=await _names(dashboard, session.token, running), key=selection.key, back=back)


@router.post("/sequences/stop", response_class=HTMLResponse)
async def stop(request: Request, dashboard: Dashboard, session: Checked, ids: Annotated[str, Form()],
               key: Annotated[str, Form(pattern=KEY_PATTERN)]) -> HTMLResponse:
    """One `sequences.stop` per 1,000, ids derived from the page's key (a reload or a second
    click is the same commands): each stops with reason `recruiter`; no further step is sent."""
    chosen = picked(ids, ENROLL_MAX, "Not stopped", f"Sequences stop for at most {ENROLL_MAX:,} prospects at once, "
                                                    "each named by its id; none was stopped.")
    parts = [chosen[i:i + COMMAND_SIZE] for i in range(0, len(chosen), COMMAND_SIZE)]
    commands = [(derived.derive("dashboard-stop", key, str(n)),
                 StopSequences(recruiter_id=session.recruiter_id, prospect_ids=part)) for n, part in enumerate(parts)]
    results = await dashboard.feed.commands(topics.SEQUENCE_COMMANDS, "sequences.stop", commands,
                                            session.recruiter_id, wait_s=dashboard.settings.command_timeout_s)
    stopped = [pid for r in results.values() for pid in r.get("accepted", [])]
    return dashboard.page(request, "sequence_stopped.html", session, nav="prospects", stopped=stopped,
                          names=await _names(dashboard, session.token, stopped), answered=len(results),
                          commands=len(commands), asked=len(chosen))


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
