"""Send a Message: the recipients and the mail as the first will receive it, then Send, then the
send's progress until every recipient has an outcome.

A send is sent once, whatever is clicked. Go opens the Send page under a send key made for it (a
redirect adds `key=` to its address, so a reload or Back keeps it). Send publishes the
`messages.send` commands, at most 1,000 prospects each, under ids derived from that key and the
part's number, with the key as their `correlationid`: clicking again, or sending the same page
again, publishes the same commands, which messaging carries out once (per command and
prospect). A Send page whose key messaging already knows shows that send's progress instead of
the form. Progress is read back from messaging (`GET /sends/{key}`), so it survives a reload.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from shared import ids as derived, topics, views
from shared.contract import SendMessages

from services.dashboard import present
from services.dashboard.errors import Problem
from services.dashboard.sessions import Session
from services.dashboard.web import (COMMAND_SIZE, ID_PATTERN, KEY_PATTERN, Checked, Current, Dashboard, Parts, custom_templates,
                                    is_htmx, picked)

router = APIRouter()
SendKey = Annotated[str, PathParam(pattern=ID_PATTERN)]  # any send: the dashboard's keys, or a command id
RESULTS_WAIT_S = 5.0  # how long Send waits for the commands' results before showing progress
NOT_TAKEN_AFTER_S = 60.0  # a part messaging has not taken by then is said, with what to do
EACH_LISTED = 50  # a send of at most this many recipients lists each one
SEND_MAX = 10_000  # the most recipients of one send: ten commands (a bigger view is sent in several)


def command_ids(key: str, parts: int) -> list[str]:
    """The ids of a send's commands: derived from its key and each part's number."""
    return [derived.derive("dashboard-send", key, str(n)) for n in range(parts)]


CUSTOM = re.compile(r"^custom:[A-Za-z0-9._:-]{1,128}$")
STOP_SEQUENCES = "sequence-stop"  # "Stop their sequences" in the template menu


def _template(template: str) -> str:
    """A built-in template, or one of the recruiter's own (`custom:<id>`: messaging checks it is theirs)."""
    if template not in present.TEMPLATES and not CUSTOM.match(template):
        raise Problem("Choose a message template", "Pick Ask to apply, Arrange an interview, Not a match or one of "
                                                   "your templates, then Go.", 400)
    return template


async def preview_all(dashboard: Parts, session: Session, template: str, ids: list[str],
                      note: str | None) -> dict[str, Any]:
    chunks = [ids[i:i + COMMAND_SIZE] for i in range(0, len(ids), COMMAND_SIZE)]
    answers = await asyncio.gather(*(dashboard.messaging.preview(session.token, template, c, note) for c in chunks))
    mail = next((a["mail"] for a in answers if a.get("mail")), None)
    return {"recipients": [r for a in answers for r in a["recipients"]],
            "skipped": [s for a in answers for s in a["skipped"]], "mail": mail}


@router.get("/send", response_class=HTMLResponse)
async def send_page(
    request: Request, dashboard: Dashboard, session: Current, template: str = "",
    id: Annotated[list[str] | None, Query()] = None, all: str = "",
    view: Annotated[str, Query(pattern=views.VIEW_PATTERN)] = "needs_follow_up",
    job: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    key: Annotated[str | None, Query(pattern=KEY_PATTERN)] = None,
) -> Response:
    if template.startswith(("sequence:", "consider:")) or template == STOP_SEQUENCES:  # the same menu's other choices
        query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("template", "key")]
        if template.startswith("consider:"):
            return RedirectResponse(f"/consider?{urlencode([('target', template[9:]), *query])}", status_code=303)
        if template == STOP_SEQUENCES:
            return RedirectResponse(f"/sequences/stop?{urlencode(query)}", status_code=303)
        return RedirectResponse(f"/sequences/start?{urlencode([('sequence', template[9:]), *query])}", status_code=303)
    template = _template(template)
    if key is None:  # this page's send key, kept in its address by a reload or Back
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "key"] + [("key", uuid.uuid4().hex)]
        return RedirectResponse(f"/send?{urlencode(query)}", status_code=303)
    progress = await dashboard.messaging.progress(session.token, key)
    if progress is not None:  # sent already: its progress, not a second send
        # Its size as noted when sent: messaging may not have taken every part yet.
        noted = await dashboard.store.send(key) or {}
        return await _progress_page(request, dashboard, session, key, progress,
                                    parts=max(progress["commands"], int(noted.get("parts", 0))),
                                    template=template, started=None, total=noted.get("total"))
    if all == "1":
        ids = await dashboard.rating.ids(session.token, view, job or None)
    else:
        ids = list(dict.fromkeys(i for i in (id or []) if i))
    back = f"/prospects?{urlencode({k: v for k, v in {'view': view, 'job': job}.items() if v})}"
    if not ids:
        raise Problem("No prospects selected", "Tick the prospects to message (or Select all), choose a "
                                               "template, then Go.", 400)
    preview = await preview_all(dashboard, session, template, ids, None)
    # The names go with the form (a small send lists each recipient's result by name).
    names = {r["prospect_id"]: r["name"] for r in [*preview["recipients"], *preview["skipped"]] if r.get("name")}
    names_json = json.dumps(names) if len(preview["recipients"]) <= EACH_LISTED else "{}"
    label = present.TEMPLATES.get(template) or (await custom_templates(dashboard, session.token)).get(template)
    if label is None:
        raise Problem("No such template", "That template is not one of yours (any more). Pick one on the Prospects "
                                          "page.", 404)
    return dashboard.page(request, "send.html", session, template=template, ids=ids, preview=preview, back=back,
                          nav="prospects", names_json=names_json, key=key, template_label=label)


@router.post("/send/preview", response_class=HTMLResponse)
async def send_preview(request: Request, dashboard: Dashboard, session: Checked, template: Annotated[str, Form()],
                       ids: Annotated[str, Form()], note: Annotated[str, Form()] = "") -> HTMLResponse:
    chosen = [i for i in ids.split(",") if i][:COMMAND_SIZE]
    if not chosen:
        raise Problem("No prospects selected", "Go back and select prospects.", 400)
    preview = await dashboard.messaging.preview(session.token, _template(template), chosen, note.strip() or None)
    return dashboard.fragment(request, "_mail_preview.html", preview=preview)


@router.post("/send", response_class=HTMLResponse)
async def send(request: Request, dashboard: Dashboard, session: Checked, template: Annotated[str, Form()],
               ids: Annotated[str, Form()], key: Annotated[str | None, Form(pattern=KEY_PATTERN)] = None,
               note: Annotated[str, Form()] = "", names: Annotated[str, Form()] = "") -> Response:
    template = _template(template)
    key = key or uuid.uuid4().hex  # a form of its own (another app's): a send of its own
    chosen = picked(ids, SEND_MAX, "Not sent", f"One send goes to at most {SEND_MAX:,} prospects, each named by "
                                                "its id; nothing was sent. Narrow the view (a job) and send in parts.")
    parts = [chosen[i:i + COMMAND_SIZE] for i in range(0, len(chosen), COMMAND_SIZE)]
    try:
        commands = [(command_id, SendMessages(recruiter_id=session.recruiter_id, template=template,
                                              prospect_ids=part, note=note.strip() or None))
                    for command_id, part in zip(command_ids(key, len(parts)), parts, strict=True)]
    except ValidationError:
        raise Problem("Not sent", "The note is too long (2,000 characters at most) or holds control "
                                  "characters; nothing was sent.", 400) from None
    await dashboard.store.note_send(key, len(parts), len(chosen))  # before any part can be taken
    started = time.time()
    small = len(chosen) <= EACH_LISTED
    results = await dashboard.feed.commands(topics.MESSAGING_COMMANDS, "messages.send", commands,
                                            session.recruiter_id, correlationid=key, track_messages=small,
                                            wait_s=RESULTS_WAIT_S)
    address = f"/sends/{key}?{urlencode({'parts': len(parts), 'total': len(chosen), 'template': template, 'started': int(started)})}"
    if not is_htmx(request):  # the results came, or the wait is over: the progress page reads them back
        return RedirectResponse(address, status_code=303)
    progress = await dashboard.messaging.progress(session.token, key)
    each = None
    if small and len(results) == len(commands):  # each recipient, named as the page showed them
        shown = _names(names) or {}
        arrived: dict[str, dict[str, Any]] = {}
        for command_id, _ in commands:
            arrived.update(dashboard.feed.send_results(command_id))
        accepted = [pid for r in results.values() for pid in r["accepted"]]
        each = [{"prospect_id": pid, "name": shown.get(pid, pid), "result": arrived.get(pid), "flagged": False}
                for pid in accepted]
        rejected = [x for r in results.values() for x in r["rejected"]]
        for x in rejected:
            x.setdefault("name", shown.get(x["prospect_id"]))
        if progress is not None:
            progress["skipped"] = rejected
    response = dashboard.fragment(request, "_send_progress.html", **_progress_context(
        key, progress, parts=len(parts), template=template, started=started, each=each, total=len(chosen)))
    response.headers["HX-Push-Url"] = address  # a reload shows this send's progress
    return response


@dataclass(frozen=True)
class SendAddress:
    """What a progress page's address says of its send: how many parts and prospects it was
    for, its template, and when it was sent (for saying parts that are late)."""

    parts: Annotated[int, Query(ge=1, le=1_000)] = 1
    template: str = ""
    started: Annotated[float | None, Query(ge=0)] = None
    total: Annotated[int | None, Query(ge=1, le=1_000_000)] = None


Address = Annotated[SendAddress, Depends()]


@router.get("/sends/{key}", response_class=HTMLResponse)
async def send_progress_page(request: Request, dashboard: Dashboard, session: Current, key: SendKey,
                             address: Address) -> HTMLResponse:
    progress = await dashboard.messaging.progress(session.token, key)
    return await _progress_page(request, dashboard, session, key, progress, parts=address.parts,
                                template=address.template, started=address.started, total=address.total)


@router.get("/sends/{key}/progress", response_class=HTMLResponse)
async def send_progress_counts(request: Request, dashboard: Dashboard, session: Current, key: SendKey,
                               address: Address) -> HTMLResponse:
    """The counts of a send, polled by its page until every recipient has an outcome."""
    progress = await dashboard.messaging.progress(session.token, key)
    return dashboard.fragment(request, "_send_counts.html", **_progress_context(
        key, progress, parts=address.parts, template=address.template, started=address.started, each=None,
        total=address.total))


async def _progress_page(request: Request, dashboard: Parts, session: Session, key: str,
                         progress: dict[str, Any] | None, *, parts: int, template: str,
                         started: float | None, total: int | None = None) -> HTMLResponse:
    each = None
    if progress is not None and progress.get("messages"):
        flags = await asyncio.gather(*(_flagged(dashboard, session, m["prospect_id"]) for m in progress["messages"]))
        each = [{"prospect_id": m["prospect_id"], "name": m.get("name") or m["prospect_id"], "flagged": flag,
                 "result": ({"type": f"message.{m['outcome']}", "reason": m.get("reason")} if m.get("outcome") else None)}
                for m, flag in zip(progress["messages"], flags, strict=True)]
    return dashboard.page(request, "send_progress.html", session, nav="prospects", **_progress_context(
        key, progress, parts=parts, template=template or (progress or {}).get("template") or "", started=started,
        each=each, total=total))


async def _flagged(dashboard: Parts, session: Session, prospect_id: str) -> bool:
    try:
        return bool((await dashboard.rating.prospect(session.token, prospect_id)).get("flagged"))
    except Exception:  # noqa: BLE001 - the flag is a detail of the page; the send's outcome is not
        return False


def _progress_context(key: str, progress: dict[str, Any] | None, *, parts: int, template: str,
                      started: float | None, each: list[dict[str, Any]] | None,
                      total: int | None = None) -> dict[str, Any]:
    """`total`: how many the send was for (all parts), so the count reads "of 2,000" before
    messaging has taken every part; without it, what messaging has taken."""
    taken = progress["commands"] if progress else 0
    late = started is not None and taken < parts and time.time() - started > NOT_TAKEN_AFTER_S
    skipped_reasons: dict[str, int] = {}
    for x in (progress or {}).get("skipped", []):
        skipped_reasons[x["reason"]] = skipped_reasons.get(x["reason"], 0) + 1
    query = urlencode({k: v for k, v in {"parts": parts, "total": total, "template": template,
                                         "started": int(started) if started else None}.items() if v})
    skipped = len((progress or {}).get("skipped", []))
    expected = max(0, total - skipped) if total and taken < parts else (progress or {}).get("accepted", 0)
    return {"key": key, "progress": progress, "parts": parts, "taken": taken, "template": template, "late": late,
            "done": present.send_done(progress, parts), "skipped_reasons": skipped_reasons, "each": each,
            "expected": expected,
            "poll_url": f"/sends/{key}/progress?{query}"}


def _names(raw: str) -> dict[str, str] | None:
    """The names the send page carried (display only: escaped like everything else)."""
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {str(k): str(v)[:200] for k, v in value.items() if re.fullmatch(ID_PATTERN[1:-1], str(k))}
