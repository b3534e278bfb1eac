"""Issue 27, 12, with two real dashboard processes sharing their database: a sign-in link works
once across replicas, an API token signs nobody in, and signing out ends the session everywhere
(the cookie copied before is worth nothing after)."""

from __future__ import annotations

import httpx

from shared.auth import login_link, mint
from tests.support import Namespace, answers, eventually, http_get


async def test_sessions_live_on_the_server(ns: Namespace):
    one = ns.start("dashboard", DASHBOARD_RATING_API_URL="http://127.0.0.1:9")
    two = ns.start("dashboard", DASHBOARD_RATING_API_URL="http://127.0.0.1:9")
    for dashboard in (one, two):
        await eventually(lambda d=dashboard: answers(lambda: http_get(f"{d.http}/health")[0] == 200), timeout_s=60)
    link = login_link(ns.jwt_secret, "rec-7", one.http)
    token = link.partition("token=")[2]
    first = httpx.get(f"{one.http}/login", params={"token": token})
    assert first.status_code == 200, first.text
    cookie = first.cookies["pf_session"]
    assert token not in cookie  # an opaque session id, not a token that calls anything
    again = httpx.get(f"{two.http}/login", params={"token": token})  # the other replica knows it was used
    assert again.status_code == 401 and "used already" in again.text
    attacker = httpx.get(f"{two.http}/login", params={"token": mint(ns.jwt_secret, "mallory", ttl_s=3600)})
    assert attacker.status_code == 401 and "pf_session" not in attacker.cookies

    # Signed in on both replicas with the one cookie (rating is away: 503, not 401)
    for dashboard in (one, two):
        assert httpx.get(f"{dashboard.http}/prospects", cookies={"pf_session": cookie}).status_code == 503
    page = httpx.get(f"{one.http}/", cookies={"pf_session": cookie})
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    out = httpx.post(f"{two.http}/logout", data={"csrf": csrf}, cookies={"pf_session": cookie},
                     headers={"Origin": two.http})
    assert out.status_code == 303
    for dashboard in (one, two):
        ended = httpx.get(f"{dashboard.http}/prospects", cookies={"pf_session": cookie})
        assert ended.status_code == 401 and "Your session has expired" in ended.text
