"""What every router of the dashboard shares: its parts (settings, sessions, the rating and
messaging clients, the Kafka feed, the templates) as one dependency that tests replace, the
signed-in recruiter, the CSRF check, and rendering pages and fragments."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from shared import views
from shared.auth import InvalidToken

from services.dashboard import present
from services.dashboard.clients import (
    InsightsApi, IntakeApi, MessagingApi, NotFound, RatingApi, Refused, SequencesApi, SessionExpired, Unavailable,
    WebhooksApi,
)
from services.dashboard.errors import Forbidden, Problem, SignedOut
from services.dashboard.feed import Feed
from services.dashboard.sessions import COOKIE, Session, Sessions
from services.dashboard.store import DashboardStore, MemoryStore
from services.dashboard.settings import DashboardSettings

HERE = Path(__file__).parent
COMMAND_SIZE = 1_000  # the contract's most ids per command
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
KEY_PATTERN = r"^[0-9a-f]{32}$"  # a page's key: what its button does, it does once
ProspectId = Annotated[str, PathParam(pattern=ID_PATTERN)]
_ID = re.compile(ID_PATTERN)


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(VIEWS=present.VIEWS, RATINGS=present.RATINGS, TEMPLATES=present.TEMPLATES,
                                 TEMPLATE_NAMES=present.TEMPLATE_NAMES,
                                 REASONS=present.REASONS, CAUSES=present.CAUSES,
                                 AUTO_KINDS=present.AUTO_KINDS, STOP_REASONS=present.STOP_REASONS)
    templates.env.filters.update(waiting=present.waiting, ago=present.ago, when=present.when, number=present.number,
                                 first_line=present.first_line, filesize=present.filesize,
                                 duration=present.duration, percent=present.percent)
    return templates


@dataclass
class Parts:
    """The dashboard's dependencies, made once by `create_service` (or by a test)."""

    settings: DashboardSettings
    sessions: Sessions
    rating: RatingApi
    messaging: MessagingApi
    feed: Feed
    templates: Jinja2Templates
    intake: IntakeApi | None = None
    webhooks: WebhooksApi | None = None
    sequences: SequencesApi | None = None
    insights: InsightsApi | None = None
    store: DashboardStore | MemoryStore = field(default_factory=MemoryStore)

    def page(self, request: Request, name: str, session: Session | None, status_code: int = 200,
             **context: Any) -> HTMLResponse:
        reminder = self.feed.reminder_today(session.recruiter_id) if session else None
        return self.templates.TemplateResponse(request, name, {"session": session, "reminder": reminder, **context},
                                               status_code=status_code)

    def fragment(self, request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)

    def render(self, request: Request, name: str, **context: Any) -> str:
        return self.templates.env.get_template(name).render(request=request, **context)

    async def session_of(self, request: Request) -> Session:
        try:
            session = await self.sessions.resume(request.cookies.get(COOKIE))
        except InvalidToken:
            raise SignedOut("expired" if request.cookies.get(COOKIE) else "signed_out") from None
        request.state.session = session  # for an error page drawn later in this request
        return session


def parts(request: Request) -> Parts:
    found: Parts = request.app.state.parts
    return found


Dashboard = Annotated[Parts, Depends(parts)]


async def current(request: Request, dashboard: Dashboard) -> Session:
    return await dashboard.session_of(request)


async def checked(request: Request, session: Annotated[Session, Depends(current)]) -> Session:
    """A state-changing request: same origin, and the session's CSRF token."""
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") not in same_origins(request):
        raise Forbidden()
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        sent = str(form.get("csrf") or "")
    if sent != session.csrf:
        raise Forbidden()
    return session


def served_over_https(request: Request) -> bool:
    """https here, or at the TLS proxy in front (X-Forwarded-Proto). Trusting the header can only
    make a cookie Secure, which nobody can turn against the recruiter."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def same_origins(request: Request) -> set[str]:
    """This site's origins: as served, and as the browser sees it behind a TLS proxy."""
    origins = {f"{request.url.scheme}://{request.url.netloc}"}
    if served_over_https(request):
        origins.add(f"https://{request.url.netloc}")
    return origins


Current = Annotated[Session, Depends(current)]
Checked = Annotated[Session, Depends(checked)]


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def picked(ids: str, most: int, title: str, too_many: str) -> list[str]:
    """The prospects a form names (`ids`, comma-separated), each once and sorted (the same people
    make the same command parts whatever order the page listed them in), or a Problem: none, more
    than `most` (`title` and `too_many` say what was not done), or one that is not an id."""
    chosen = sorted(set(i for i in ids.split(",", most + 1)[:most + 1] if i))
    if not chosen:
        raise Problem("No prospects selected", "Go back and select prospects.", 400)
    if len(chosen) > most or not all(_ID.match(i) for i in chosen):
        raise Problem(title, too_many, 400)
    return chosen


# --- a page that acts on the Prospects page's selection, once ---------------------------------------


def keyed(request: Request, path: str) -> RedirectResponse:
    """The page again with a key of its own in its address, kept by a reload or Back: the
    button it offers does what it does once, however often it is clicked."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "key"] + [("key", uuid.uuid4().hex)]
    return RedirectResponse(f"{path}?{urlencode(query)}", status_code=303)


@dataclass(frozen=True)
class Selection:
    """What the Prospects page's Go picked, as a page that acts on it is addressed: the ticked
    ids (`id`, repeated) or Select all (`all=1`) of a view (and job), and the page's key."""

    id: list[str] | None
    all: str
    view: str
    job: str | None
    key: str | None

    async def prospects(self, dashboard: Parts, session: Any) -> tuple[list[str], str]:
        """The prospects picked (Select all: the whole view, asked of rating) and the way back to them."""
        if self.all == "1":
            prospect_ids = await dashboard.rating.ids(session.token, self.view, self.job or None)
        else:
            prospect_ids = list(dict.fromkeys(i for i in (self.id or []) if i and re.match(ID_PATTERN, i)))
        if not prospect_ids:
            raise Problem("No prospects selected", "Tick the prospects (or Select all), choose what to do, then Go.",
                          400)
        query = {k: v for k, v in {"view": self.view, "job": self.job}.items() if v}
        return prospect_ids, f"/prospects?{urlencode(query)}"


def selection(id: Annotated[list[str] | None, Query()] = None, all: str = "",
              view: Annotated[str, Query(pattern=views.VIEW_PATTERN)] = "needs_follow_up",
              job: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
              key: Annotated[str | None, Query(pattern=KEY_PATTERN)] = None) -> Selection:
    return Selection(id, all, view, job, key)


Picked = Annotated[Selection, Depends(selection)]


# --- sequences, as the Prospects page shows them ------------------------------------------------------


async def active_sequences(dashboard: Parts, token: str) -> list[dict[str, Any]]:
    """The recruiter's sequences that take enrollments, for the Prospects page's menu; never holds
    the page up (the sequences service not answering offers none)."""
    if dashboard.sequences is None:
        return []
    try:
        return [q for q in await dashboard.sequences.sequences(token) if not q.get("archived_at")]
    except (Unavailable, SessionExpired, NotFound, Refused):
        return []


async def enrollments_of(dashboard: Parts, token: str, prospect_ids: list[str], *,
                         every: bool = False) -> dict[str, Any]:
    """Each prospect's latest enrollment, for the rows (none when the service does not answer);
    with `every`, all of them (oldest first) under "*", for a prospect's page."""
    if dashboard.sequences is None or not prospect_ids:
        return {}
    try:
        if every:
            return {"*": await dashboard.sequences.all_enrollments(token, prospect_ids[0])}
        return await dashboard.sequences.enrollments(token, prospect_ids)
    except (Unavailable, SessionExpired, NotFound, Refused):
        return {}


async def custom_templates(dashboard: Parts, token: str) -> dict[str, str]:
    """The recruiter's own templates, `custom:<id>` → name, for the template menu; never holds a
    page up (messaging not answering offers none)."""
    try:
        return {f"custom:{t['template_id']}": t["name"] for t in await dashboard.messaging.templates(token)}
    except (Unavailable, SessionExpired, NotFound, Refused):
        return {}
