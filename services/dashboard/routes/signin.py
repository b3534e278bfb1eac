"""Signing in by a link (a token exchanged for a session cookie), and out."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared.auth import InvalidToken

from services.dashboard.sessions import COOKIE
from services.dashboard.web import Checked, Dashboard, served_over_https

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
async def login(request: Request, dashboard: Dashboard, token: str = "") -> Response:
    try:
        session = await dashboard.sessions.sign_in(token)
    except InvalidToken as exc:
        detail = ("This sign-in link was used already, has expired (links last 5 minutes) or is not valid"
                  f" ({exc}). Ask for a new one: `prospectflow login-link --recruiter <your id>` on the local stack.")
        return dashboard.page(request, "problem.html", None, 401, title="This sign-in link does not work",
                              detail=detail, items=[])
    # A page, not a redirect: a SameSite=Strict cookie set by a navigation from elsewhere is
    # sent from the next navigation this site starts itself.
    response = dashboard.page(request, "signed_in.html", session)
    settings = dashboard.settings
    secure = settings.cookie_secure if settings.cookie_secure is not None else served_over_https(request)
    response.set_cookie(COOKIE, session.session_id, max_age=max(1, int(session.expires_at - time.time())),
                        httponly=True, samesite="strict", secure=secure, path="/")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.post("/logout")
async def logout(session: Checked, dashboard: Dashboard) -> Response:
    await dashboard.sessions.sign_out(session.session_id)  # the cookie is worth nothing from now on
    response = RedirectResponse("/signed-out", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/signed-out", response_class=HTMLResponse)
async def goodbye(request: Request, dashboard: Dashboard) -> HTMLResponse:
    return dashboard.page(request, "problem.html", None, title="You are signed out",
                          detail="Sign in again with a new link.", items=[])
