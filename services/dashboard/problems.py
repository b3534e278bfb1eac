"""How each of the dashboard's errors reads to the recruiter: a message in the page's alert area
(htmx) or a page of its own, in words, never a trace."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from services.dashboard.clients import Refused, SessionExpired, Unavailable
from services.dashboard.errors import Forbidden, Problem, SignedOut
from services.dashboard.feed import KafkaUnavailable, NoAnswer
from services.dashboard.sessions import COOKIE
from services.dashboard.web import is_htmx, parts


def flash(request: Request, title: str, detail: str, status_code: int, items: list[Any] | None = None) -> HTMLResponse:
    """A message in the page's alert area (htmx) or a page of its own."""
    dashboard = parts(request)
    if is_htmx(request):
        response = dashboard.fragment(request, "_flash.html", status_code, title=title, detail=detail, items=items or [])
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    session = getattr(request.state, "session", None)  # known once the route's dependency resumed it
    return dashboard.page(request, "problem.html", session, status_code, title=title, detail=detail, items=items or [])


def install(app: FastAPI, *, command_timeout_s: float) -> None:
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
                     f"{command_timeout_s:.0f} s. It will be carried out when the service catches up; "
                     "reload the page later to see it.", 504)

    @app.exception_handler(Problem)
    async def problem(request: Request, exc: Problem) -> Response:
        return flash(request, exc.title, exc.detail, exc.status_code)
