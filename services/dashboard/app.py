"""The Recruiter Dashboard: `create_service(settings)` wires the pages, the APIs it calls and the
Kafka feed.

It owns no data. It reads the board through rating's API with the recruiter's own token, asks
messaging for a template preview, acts by publishing the contract's commands and waiting for
their `command.completed`, and pushes what changes to open pages by Server-Sent Events.
"""


import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from shared import topics, views
from shared.auth import InvalidToken, TokenVerifier
from shared.contract import FlagFollowUp, RateProspects, SendMessages
from shared.http import add_metrics
from shared.telemetry import READY
from shared.logs import get_logger

from services.dashboard import present
from services.dashboard.clients import MessagingApi, NotFound, RatingApi, Refused, SessionExpired, Unavailable
from services.dashboard.feed import Feed, KafkaUnavailable, NoAnswer, Update
from services.dashboard.sessions import COOKIE, Session, Sessions
from services.dashboard.settings import DashboardSettings

HERE = Path(__file__).parent
log = get_logger("prospectflow.dashboard")
COMMAND_SIZE = 1_000  # the contract's most ids per command
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
ProspectId = Annotated[str, PathParam(pattern=ID_PATTERN)]


class SignedOut(Exception):
    def __init__(self, why: str) -> None:
        self.why = why


class Forbidden(Exception):
    """A POST without the session's CSRF token, or from another site."""


class Problem(Exception):
    """Something the recruiter can act on, said in words."""

    def __init__(self, title: str, detail: str, status_code: int = 400) -> None:
        self.title = title
        self.detail = detail
        self.status_code = status_code


def create_service(settings: DashboardSettings, *, feed: Feed | None = None) -> FastAPI:
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    if not secret and not settings.jwks_url:
        from shared.service import ConfigurationError

        raise ConfigurationError("neither DASHBOARD_JWT_SECRET nor DASHBOARD_JWKS_URL is set; one of them checks "
                                 "recruiters' tokens (the same as rating's)")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per API call is noise; failures are ours to say
    sessions = Sessions(TokenVerifier(secret=secret, jwks_url=settings.jwks_url), secret, settings.session_hours)
    rating = RatingApi(settings.rating_api_url, settings.api_timeout_s)
    messaging = MessagingApi(settings.messaging_api_url, settings.api_timeout_s)
    feed = feed or Feed(settings.kafka, command_timeout_s=settings.command_timeout_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await feed.start()
        try:
            yield
        finally:
            await feed.stop()
            await rating.close()
            await messaging.close()

    html: dict[str, Any] = {"text/html": {}}
    app = FastAPI(title="Prospectflow Recruiter Dashboard", version="0.1.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None, responses={
                      303: {"description": "not signed in, or done: to the sign-in or next page", "content": html},
                      400: {"description": "a problem with what was asked, in words", "content": html},
                      401: {"description": "a sign-in link that does not work", "content": html},
                      403: {"description": "a form without this session's CSRF token or from another origin",
                            "content": html},
                      404: {"description": "no such prospect among yours", "content": html},
                      503: {"description": "rating, messaging or Kafka cannot be reached (named)", "content": html},
                      504: {"description": "no answer to a command in time (it may still be done)", "content": html},
                  })
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    env.globals.update(VIEWS=present.VIEWS, RATINGS=present.RATINGS, TEMPLATES=present.TEMPLATES,
                       REASONS=present.REASONS, CAUSES=present.CAUSES)
    env.filters.update(waiting=present.waiting, when=present.when)

    # --- sessions and safety -----------------------------------------------------------------

    def current(request: Request) -> Session:
        try:
            return sessions.resume(request.cookies.get(COOKIE))
        except InvalidToken:
            raise SignedOut("expired" if request.cookies.get(COOKIE) else "signed_out") from None

    async def checked(request: Request, session: Annotated[Session, Depends(current)]) -> Session:
        """A state-changing request: same origin, and the session's CSRF token."""
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
            raise Forbidden()
        sent = request.headers.get("x-csrf-token")
        if sent is None:
            form = await request.form()
            sent = str(form.get("csrf") or "")
        if sent != session.csrf:
            raise Forbidden()
        return session

    Current = Annotated[Session, Depends(current)]
    Checked = Annotated[Session, Depends(checked)]

    def is_htmx(request: Request) -> bool:
        return request.headers.get("hx-request") == "true"

    def page(request: Request, name: str, session: Session | None, status_code: int = 200, **context: Any) -> HTMLResponse:
        reminder = feed.reminder_today(session.recruiter_id) if session else None
        return templates.TemplateResponse(request, name, {"session": session, "reminder": reminder, **context},
                                          status_code=status_code)

    def fragment(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    def flash(request: Request, title: str, detail: str, status_code: int, items: list[Any] | None = None) -> HTMLResponse:
        """A message in the page's alert area (htmx) or a page of its own."""
        if is_htmx(request):
            response = fragment(request, "_flash.html", status_code, title=title, detail=detail, items=items or [])
            response.headers["HX-Retarget"] = "#flash"
            response.headers["HX-Reswap"] = "innerHTML"
            return response
        try:
            session: Session | None = current(request)
        except SignedOut:
            session = None
        return page(request, "problem.html", session, status_code, title=title, detail=detail, items=items or [])

    @app.exception_handler(SignedOut)
    async def signed_out(request: Request, exc: SignedOut) -> Response:
        title = "Your session has expired" if exc.why == "expired" else "Please sign in"
        detail = ("Sign in again with a new link: ask your administrator, or on the local stack run "
                  "`prospectflow login-link --recruiter <your id>`.")
        response = flash(request, title, detail, 401)
        if exc.why == "expired":
            response.delete_cookie(COOKIE, path="/")
        return response

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return flash(request, "Not done", "The request did not come from this dashboard's own page. Reload the "
                                          "page and try again.", 403)

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> Response:
        return flash(request, f"{exc.service[0].upper()}{exc.service[1:]} is not answering",
                     f"The dashboard could not reach {exc.service} at {exc.url} ({exc.detail}). It may be starting or "
                     "down: try again in a moment; if it persists, ask whoever runs Prospectflow.", 503)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return flash(request, "This link does not work", f"{exc.detail[:300]}. Go back to Prospects and follow the "
                                                         "links on the page.", 400)

    @app.exception_handler(SessionExpired)
    async def api_refused(request: Request, exc: SessionExpired) -> Response:
        return await signed_out(request, SignedOut("expired"))

    @app.exception_handler(KafkaUnavailable)
    async def kafka_down(request: Request, exc: KafkaUnavailable) -> Response:
        return flash(request, "Could not send your request",
                     f"Kafka at {exc.bootstrap} is not reachable ({exc.detail}). Nothing was changed; try again in a "
                     "moment.", 503)

    @app.exception_handler(NoAnswer)
    async def no_answer(request: Request, exc: NoAnswer) -> Response:
        return flash(request, "No answer yet",
                     f"Your request ({exc}) was sent, but the service that carries it out has not answered within "
                     f"{settings.command_timeout_s:.0f} s. It will be carried out when the service catches up; "
                     "reload the page later to see it.", 504)

    @app.exception_handler(Problem)
    async def problem(request: Request, exc: Problem) -> Response:
        return flash(request, exc.title, exc.detail, exc.status_code)

    # --- operations --------------------------------------------------------------------------

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        if feed.reading:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready", "problems": {"kafka": "not reading updates"}}, status_code=503)

    add_metrics(app)
    # Found by looking at `make run`'s Prometheus: the gauge stayed 0 here, so the not-ready alert
    # was pending for a dashboard that was ready. It reads the feed at each scrape.
    READY.set_function(lambda: 1.0 if feed.reading else 0.0)

    # --- signing in --------------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse)
    async def login(request: Request, token: str = "") -> Response:
        try:
            session = sessions.sign_in(token)
        except InvalidToken as exc:
            detail = ("This sign-in link was used already, has expired (links last 5 minutes) or is not valid"
                      f" ({exc}). Ask for a new one: `prospectflow login-link --recruiter <your id>` on the local stack.")
            return page(request, "problem.html", None, 401, title="This sign-in link does not work", detail=detail,
                        items=[])
        # A page, not a redirect: a SameSite=Strict cookie set by a navigation from elsewhere is
        # sent from the next navigation this site starts itself.
        response = page(request, "signed_in.html", session)
        secure = settings.cookie_secure if settings.cookie_secure is not None else request.url.scheme == "https"
        response.set_cookie(COOKIE, session.token, max_age=max(1, int(session.expires_at - time.time())),
                            httponly=True, samesite="strict", secure=secure, path="/")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.post("/logout")
    async def logout(_: Checked) -> Response:
        response = RedirectResponse("/signed-out", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/signed-out", response_class=HTMLResponse)
    async def goodbye(request: Request) -> HTMLResponse:
        return page(request, "problem.html", None, title="You are signed out",
                    detail="Sign in again with a new link.", items=[])

    # --- pages -------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request, session: Current) -> HTMLResponse:
        summary = await rating.summary(session.token)
        jobs = [j for j in summary["jobs"] if j["open"]]
        jobs.sort(key=lambda j: (j.get("oldest_waiting_since") is None, j.get("oldest_waiting_since") or ""))
        name = "_home_summary.html" if is_htmx(request) else "home.html"
        return page(request, name, session, summary=summary, jobs=jobs, nav="home")

    @app.get("/prospects", response_class=HTMLResponse)
    async def prospects(
        request: Request, session: Current,
        view: Annotated[str, Query(pattern=views.VIEW_PATTERN)] = "needs_follow_up",
        job: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
        cursor: Annotated[str | None, Query(max_length=2_000)] = None,
    ) -> HTMLResponse:
        job = job or None
        try:
            result, summary = await asyncio.gather(rating.page(session.token, view, job, cursor),
                                                   rating.summary(session.token))
        except NotFound:
            raise Problem("No such job", "That job is not one of yours. Pick one from the Job filter.", 404) from None
        more = (f"/prospects?{urlencode({k: v for k, v in {'view': view, 'job': job, 'cursor': result['next_cursor']}.items() if v})}"
                if result.get("next_cursor") else None)
        context = {"view": view, "job": job, "items": result["items"], "more": more, "summary": summary,
                   "nav": "prospects", "count": _count(summary, view, job)}
        if is_htmx(request) and cursor:
            return fragment(request, "_more.html", **context)
        return page(request, "prospects.html", session, **context)

    @app.get("/prospects/{prospect_id}", response_class=HTMLResponse)
    async def one_prospect(request: Request, session: Current, prospect_id: ProspectId) -> HTMLResponse:
        if len(prospect_id) > 128:
            raise Problem("No such prospect", "That prospect is not one of yours.", 404)
        try:
            item, history = await asyncio.gather(rating.prospect(session.token, prospect_id),
                                                 rating.history(session.token, prospect_id))
        except NotFound:
            raise Problem("No such prospect", "That prospect is not one of yours, or not known yet.", 404) from None
        return page(request, "prospect.html", session, item=item, history=history, nav="prospects")

    # --- acting on one prospect --------------------------------------------------------------

    async def act(session: Session, kind: str, prospect_id: str, **fields: Any) -> dict[str, Any]:
        model = RateProspects if kind == "prospects.rate" else FlagFollowUp
        try:
            command = model(recruiter_id=session.recruiter_id, prospect_ids=[prospect_id], **fields)
        except ValidationError:
            raise Problem("Not done", "That is not a prospect id or a choice this page offers.", 400) from None
        return await feed.command(topics.RATING_COMMANDS, kind, command, session.recruiter_id)

    async def row_after(request: Request, session: Session, prospect_id: str, result: dict[str, Any],
                        verb: str, selected: bool) -> HTMLResponse:
        if result.get("rejected"):
            reason = result["rejected"][0]["reason"]
            raise Problem(f"Not {verb}", f"This prospect was not {verb}: {present.REASONS.get(reason, reason)}.", 409)
        item = await rating.prospect(session.token, prospect_id)
        return fragment(request, "_row.html", item=item, selected=selected)

    @app.post("/prospects/{prospect_id}/rate", response_class=HTMLResponse)
    async def rate(request: Request, session: Checked, prospect_id: ProspectId,
                   rating_: Annotated[str, Form(alias="rating")], id: Annotated[list[str] | None, Form()] = None) -> HTMLResponse:
        result = await act(session, "prospects.rate", prospect_id, rating=rating_)
        return await row_after(request, session, prospect_id, result, "rated", prospect_id in (id or []))

    @app.post("/prospects/{prospect_id}/flag", response_class=HTMLResponse)
    async def flag(request: Request, session: Checked, prospect_id: ProspectId,
                   flagged: Annotated[bool, Form()], id: Annotated[list[str] | None, Form()] = None) -> HTMLResponse:
        result = await act(session, "prospects.flag_follow_up", prospect_id, flagged=flagged)
        return await row_after(request, session, prospect_id, result, "flagged" if flagged else "unflagged",
                               prospect_id in (id or []))

    # --- Send a Message ----------------------------------------------------------------------

    async def preview_all(session: Session, template: str, ids: list[str], note: str | None) -> dict[str, Any]:
        chunks = [ids[i:i + COMMAND_SIZE] for i in range(0, len(ids), COMMAND_SIZE)]
        answers = await asyncio.gather(*(messaging.preview(session.token, template, c, note) for c in chunks))
        mail = next((a["mail"] for a in answers if a.get("mail")), None)
        return {"recipients": [r for a in answers for r in a["recipients"]],
                "skipped": [s for a in answers for s in a["skipped"]], "mail": mail}

    def _template(template: str) -> str:
        if template not in present.TEMPLATES:
            raise Problem("Choose a message template", "Pick Ask to apply, Arrange an interview or Not a match, "
                                                       "then Go.", 400)
        return template

    @app.get("/send", response_class=HTMLResponse)
    async def send_page(
        request: Request, session: Current, template: str = "",
        id: Annotated[list[str] | None, Query()] = None, all: str = "",
        view: Annotated[str, Query(pattern=views.VIEW_PATTERN)] = "needs_follow_up",
        job: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    ) -> HTMLResponse:
        template = _template(template)
        if all == "1":
            ids = await rating.ids(session.token, view, job or None)
        else:
            ids = list(dict.fromkeys(i for i in (id or []) if i))
        back = f"/prospects?{urlencode({k: v for k, v in {'view': view, 'job': job}.items() if v})}"
        if not ids:
            raise Problem("No prospects selected", "Tick the prospects to message (or Select all), choose a "
                                                   "template, then Go.", 400)
        preview = await preview_all(session, template, ids, None)
        # The names go with the form, so the results can name each person without asking again.
        names_json = json.dumps({r["prospect_id"]: r["name"] for r in
                                 [*preview["recipients"], *preview["skipped"]] if r.get("name")})
        return page(request, "send.html", session, template=template, ids=ids, preview=preview, back=back,
                    nav="prospects", names_json=names_json)

    @app.post("/send/preview", response_class=HTMLResponse)
    async def send_preview(request: Request, session: Checked, template: Annotated[str, Form()],
                           ids: Annotated[str, Form()], note: Annotated[str, Form()] = "") -> HTMLResponse:
        chosen = [i for i in ids.split(",") if i][:COMMAND_SIZE]
        if not chosen:
            raise Problem("No prospects selected", "Go back and select prospects.", 400)
        preview = await messaging.preview(session.token, _template(template), chosen, note.strip() or None)
        return fragment(request, "_mail_preview.html", preview=preview)

    @app.post("/send", response_class=HTMLResponse)
    async def send(request: Request, session: Checked, template: Annotated[str, Form()],
                   ids: Annotated[str, Form()], note: Annotated[str, Form()] = "",
                   names: Annotated[str, Form()] = "") -> HTMLResponse:
        template = _template(template)
        chosen = list(dict.fromkeys(i for i in ids.split(",") if i))
        if not chosen:
            raise Problem("No prospects selected", "Go back and select prospects.", 400)
        try:
            commands = [SendMessages(recruiter_id=session.recruiter_id, template=template,
                                     prospect_ids=chosen[i:i + COMMAND_SIZE], note=note.strip() or None)
                        for i in range(0, len(chosen), COMMAND_SIZE)]
        except ValidationError:
            raise Problem("Not sent", "The note is too long (2,000 characters at most) or holds control "
                                      "characters; nothing was sent.", 400) from None
        command_ids: list[str] = []
        results = await asyncio.gather(*(
            feed.command(topics.MESSAGING_COMMANDS, "messages.send", c, session.recruiter_id, track_messages=True,
                         on_published=command_ids.append) for c in commands))
        accepted = [pid for r in results for pid in r["accepted"]]
        rejected = [x for r in results for x in r["rejected"]]
        shown = _names(names)
        if shown is None:  # a client that did not send them: ask messaging (one preview per 1,000)
            shown = {r["prospect_id"]: r["name"] for r in (await preview_names(session, template, chosen))}
        arrived: dict[str, dict[str, Any]] = {}
        for command_id in command_ids:
            arrived.update(feed.send_results(command_id))
        return fragment(request, "_send_results.html", accepted=accepted, rejected=rejected, names=shown,
                        arrived=arrived, template=template)

    def _names(raw: str) -> dict[str, str] | None:
        """The names the send page carried (display only: escaped like everything else)."""
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            return None
        if not isinstance(value, dict):
            return None
        return {str(k): str(v)[:200] for k, v in value.items()}

    async def preview_names(session: Session, template: str, ids: list[str]) -> list[dict[str, Any]]:
        preview = await preview_all(session, template, ids, None)
        return [*preview["recipients"], *[s for s in preview["skipped"] if s.get("name")]]

    # --- live updates ------------------------------------------------------------------------

    @app.get("/events")
    async def events(request: Request, session: Current) -> StreamingResponse:
        queue = feed.subscribe(session.recruiter_id)
        jobs: set[str] = set()
        jobs_checked = 0.0

        async def my_jobs(job_id: str) -> bool:
            nonlocal jobs, jobs_checked
            now = asyncio.get_running_loop().time()
            if job_id not in jobs and now - jobs_checked > 1:
                jobs_checked = now
                summary = await rating.summary(session.token)
                jobs = {j["job_id"] for j in summary["jobs"]}
            return job_id in jobs

        async def stream() -> AsyncIterator[str]:
            try:
                yield ": connected\n\n"
                while True:
                    try:
                        update = await asyncio.wait_for(queue.get(), timeout=15)
                    except TimeoutError:
                        if session.expires_at < time.time():
                            return
                        yield ": keep-alive\n\n"
                        continue
                    try:
                        for payload in await render_update(request, session, update, my_jobs):
                            yield f"event: fragment\ndata: {json.dumps(payload)}\n\n"
                    except (Unavailable, SessionExpired, NotFound):
                        continue
                    except Exception:  # noqa: BLE001 - one bad update must not end the stream
                        log.exception("could not render an update", extra={"type": update.type})
            finally:
                feed.unsubscribe(session.recruiter_id, queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    def render(request: Request, name: str, **context: Any) -> str:
        return env.get_template(name).render(request=request, **context)

    async def render_update(request: Request, session: Session, update: Update, my_jobs: Any) -> list[dict[str, Any]]:
        data = update.data
        pid = str(data.get("prospect_id", ""))
        out: list[dict[str, Any]] = []
        if update.type == "follow_up.reminder_due":
            return [{"mode": "replace", "target": "reminder-banner",
                     "html": render(request, "_reminder.html", reminder=feed.reminder_today(session.recruiter_id))}]
        if update.topic == topics.PROSPECTS:
            if not await my_jobs(str(data.get("job_id"))):
                return []
            item = await appeared(session, pid)
            if item is None:
                return []
            out.append({"mode": "refresh", "target": "home-summary", "url": "/"})
        else:
            item = await rating.prospect(session.token, pid)
        if update.type in ("message.sent", "message.failed"):
            status = "sent" if update.type == "message.sent" else "failed"
            at = data.get("sent_at") or update.time
            last = item.get("last_message") or {}
            if not last or (present.parse_time(last.get("sent_at")) or 0) <= (present.parse_time(at) or 0):  # type: ignore[operator]
                item["last_message"] = {"template": data.get("template"), "sent_at": at, "status": status,
                                        "reason": data.get("reason")}
            out.append({"mode": "replace", "target": f"result-{pid}",
                        "html": render(request, "_send_status.html", pid=pid, result={"type": update.type, **data})})
        if update.type == "prospect.follow_up_flag_changed":
            out.append({"mode": "replace", "target": f"sendflag-{pid}",
                        "html": render(request, "_send_flag.html", pid=pid, flagged=bool(data.get("flagged")))})
        out.append({"mode": "row", "target": f"row-{pid}", "job_id": item["job_id"],
                    "views": present.views_holding(item), "html": render(request, "_row.html", item=item, selected=False)})
        return out

    async def appeared(session: Session, prospect_id: str) -> dict[str, Any] | None:
        """A prospect just announced by intake, once rating has it on the board (it may lag a moment)."""
        delay = 0.05
        for _ in range(12):
            try:
                return await rating.prospect(session.token, prospect_id)
            except NotFound:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
        return None

    return app


def _count(summary: dict[str, Any], view: str, job: str | None) -> int:
    if job is None:
        return int(summary["views"].get(view, 0))
    return next((int(j.get(view, 0)) for j in summary["jobs"] if j["job_id"] == job), 0)
