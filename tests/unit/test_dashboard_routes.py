"""The dashboard's routes with fake rating and messaging clients and a fake Kafka feed, in
milliseconds: an API down, a rejected id, a send that is published once however often it is
sent, and its progress read back after a reload. The same pages run in Chromium against the real
stack in tests/e2e/test_dashboard.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.dashboard.app import create_service
from services.dashboard.clients import NotFound, Unavailable
from services.dashboard.sessions import COOKIE, Sessions, csrf_token, login_verifier
from services.dashboard.settings import DashboardSettings
from services.dashboard.web import Parts, make_templates
from shared.auth import InvalidToken, TokenVerifier, login_link, mint

SECRET = "a-test-secret-long-enough-for-hs256-tokens"
RECRUITER = "rec-7"


class FakeRating:
    def __init__(self) -> None:
        self.down = False
        self.board = {f"p{n}": {"prospect_id": f"p{n}", "job_id": "job-42", "recruiter_id": RECRUITER,
                                "name": f"Person {n}", "profile": {"name": f"Person {n}"}, "rating": "unrated",
                                "flagged": False, "job_open": True, "waiting_since": "2026-11-20T09:29:00Z"}
                      for n in range(3)}

    def _check(self) -> None:
        if self.down:
            raise Unavailable("the rating service", "http://127.0.0.1:1", "ConnectError")

    async def page(self, token: str, view: str, job_id: str | None, cursor: str | None, limit: int = 50) -> Any:
        self._check()
        return {"items": list(self.board.values()), "next_cursor": None}

    async def summary(self, token: str) -> dict[str, Any]:
        self._check()
        return {"recruiter_id": RECRUITER, "views": {"needs_follow_up": 3, "shortlist": 0, "not_a_fit": 0, "all": 3},
                "jobs": [{"job_id": "job-42", "title": "Backend Engineer", "open": True, "needs_follow_up": 3,
                          "shortlist": 0, "not_a_fit": 0, "all": 3, "oldest_waiting_since": None}]}

    async def ids(self, token: str, view: str, job_id: str | None) -> list[str]:
        self._check()
        return list(self.board)

    async def jobs(self, token: str) -> list[dict[str, Any]]:
        self._check()
        return [{"job_id": "job-42", "title": "Backend Engineer", "open": True},
                {"job_id": "job-43", "title": "Data Engineer", "open": True}]

    async def prospect(self, token: str, prospect_id: str) -> dict[str, Any]:
        self._check()
        if prospect_id not in self.board:
            raise NotFound()
        return dict(self.board[prospect_id])

    async def history(self, token: str, prospect_id: str) -> list[dict[str, Any]]:
        return []

    async def close(self) -> None:
        pass


class FakeMessaging:
    """Messaging's preview and progress; `taken` is what messaging has recorded of each send."""

    def __init__(self) -> None:
        self.taken: dict[str, dict[str, Any]] = {}

    async def templates(self, token: str) -> list[dict[str, Any]]:
        return []  # the recruiter has no templates of their own

    async def preview(self, token: str, template: str, prospect_ids: list[str], note: str | None) -> dict[str, Any]:
        recipients = [{"prospect_id": p, "name": f"Person {p[1:]}", "email": f"{p}@example.com"}
                      for p in prospect_ids if p != "theirs"]
        skipped = [{"prospect_id": p, "reason": "forbidden"} for p in prospect_ids if p == "theirs"]
        mail = {"to": "p0@example.com", "to_name": "Person 0", "subject": "Next step", "text": "Hi", "html": "<p>Hi</p>"}
        return {"recipients": recipients, "skipped": skipped, "mail": mail if recipients else None}

    async def progress(self, token: str, send_id: str) -> dict[str, Any] | None:
        return self.taken.get(send_id)

    async def recent_sends(self, token: str) -> list[dict[str, Any]]:
        return [{"send_id": k, "template": v["template"], "started_at": "2026-12-02T06:00:00Z",
                 "accepted": v["accepted"], "sent": v["sent"], "failed": v["failed"], "pending": v["pending"]}
                for k, v in self.taken.items()]

    async def close(self) -> None:
        pass


class FakeFeed:
    """Publishing commands without Kafka: keeps each published command once per id, as Kafka
    plus messaging's idempotency would (`published`), and answers them at once (`answer`)."""

    reading = True

    def __init__(self) -> None:
        self.published: list[tuple[str, str, dict[str, Any], str | None]] = []
        self.answer = True

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def reminder_today(self, recruiter_id: str) -> None:
        return None

    def send_results(self, command_id: str) -> dict[str, Any]:
        return {}

    async def publish(self, topic: str, kind: str, event_id: str, data: Any, key: str) -> bool:
        self.published.append((kind, event_id, data.model_dump(mode="json"), None))
        return True

    async def command(self, topic: str, kind: str, data: Any, recruiter_id: str) -> dict[str, Any]:
        self.published.append((kind, "one", data.model_dump(mode="json"), None))
        return {"accepted": data.prospect_ids, "rejected": []}

    async def commands(self, topic: str, kind: str, commands: list[tuple[str, Any]], recruiter_id: str, *,
                       wait_s: float, correlationid: str | None = None, track_messages: bool = False
                       ) -> dict[str, dict[str, Any]]:
        for command_id, data in commands:
            self.published.append((kind, command_id, data.model_dump(mode="json"), correlationid))
        if not self.answer:
            return {}
        return {command_id: {"accepted": data.prospect_ids, "rejected": []} for command_id, data in commands}

    def distinct_commands(self) -> set[str]:
        return {command_id for _, command_id, _, _ in self.published}


@pytest.fixture
def dashboard():
    settings = DashboardSettings(jwt_secret=SECRET)  # type: ignore[call-arg]
    rating, messaging, feed = FakeRating(), FakeMessaging(), FakeFeed()
    parts = Parts(settings=settings, sessions=Sessions(login_verifier(SECRET), SECRET, 8),
                  rating=rating, messaging=messaging, feed=feed, templates=make_templates())  # type: ignore[arg-type]
    with TestClient(create_service(settings, parts=parts), base_url="http://dashboard.test") as client:
        assert client.get("/login", params={"token": _link()}).status_code == 200
        yield client, rating, messaging, feed, csrf_token(client.cookies[COOKIE])


def _link(recruiter: str = RECRUITER) -> str:
    return login_link(SECRET, recruiter, "http://dashboard.test").partition("token=")[2]


# --- sessions (issue 27, 12) ------------------------------------------------------------------------

def test_only_a_sign_in_link_signs_in_and_only_once(dashboard):
    client, *_ = dashboard
    client.cookies.clear()
    api_token = mint(SECRET, "mallory", ttl_s=3600)  # login CSRF: an attacker's own valid token
    assert client.get("/login", params={"token": api_token}).status_code == 401
    assert COOKIE not in client.cookies
    link = _link()
    assert client.get("/login", params={"token": link}).status_code == 200
    client.cookies.clear()
    assert client.get("/login", params={"token": link}).status_code == 401  # used already


def test_a_sign_in_link_is_no_api_token_and_an_api_token_no_link():
    link = _link()
    with pytest.raises(InvalidToken):
        TokenVerifier(secret=SECRET).recruiter(link)  # what rating, messaging, intake, webhooks check
    assert TokenVerifier(secret=SECRET).recruiter(mint(SECRET, RECRUITER, ttl_s=60)) == RECRUITER
    with pytest.raises(InvalidToken):
        login_verifier(SECRET).claims(mint(SECRET, RECRUITER, ttl_s=60, typ="login", jti="x"))


def test_signing_out_ends_the_session_on_the_server(dashboard):
    client, _, _, _, csrf = dashboard
    cookie = client.cookies[COOKIE]
    assert client.get("/prospects").status_code == 200
    out = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    client.cookies.set(COOKIE, cookie)  # the cookie kept by whoever copied it
    again = client.get("/prospects", follow_redirects=False)
    assert again.status_code == 401 and "Your session has expired" in again.text


def test_the_cookie_is_secure_behind_a_tls_proxy(dashboard):
    client, *_ = dashboard
    plain = client.get("/login", params={"token": _link()})
    assert "secure" not in plain.headers["set-cookie"].lower()
    proxied = client.get("/login", params={"token": _link()}, headers={"X-Forwarded-Proto": "https"})
    assert "secure" in proxied.headers["set-cookie"].lower()
    assert "httponly" in proxied.headers["set-cookie"].lower() and "samesite=strict" in proxied.headers["set-cookie"].lower()


def test_rating_down_is_said_with_its_address_and_nothing_else(dashboard):
    client, rating, _, _, _ = dashboard
    rating.down = True
    page = client.get("/prospects")
    assert page.status_code == 503
    assert "The rating service is not answering" in page.text and "http://127.0.0.1:1" in page.text
    page = client.get("/prospects/counts")
    assert page.status_code == 503
    assert "The rating service is not answering" in page.text and "http://127.0.0.1:1" in page.text
    assert "Traceback" not in page.text


def test_a_prospect_that_is_not_yours_is_a_404_in_words(dashboard):
    client, *_ = dashboard
    page = client.get("/prospects/someone-else")
    assert page.status_code == 404 and "not one of yours" in page.text


def test_go_gives_the_send_page_a_key_that_a_reload_keeps(dashboard):
    client, *_ = dashboard
    go = client.get("/send", params={"template": "ask_to_apply", "all": "1"}, follow_redirects=False)
    assert go.status_code == 303
    key = re.search(r"key=([0-9a-f]{32})", go.headers["location"]).group(1)  # type: ignore[union-attr]
    page = client.get(go.headers["location"])
    assert page.status_code == 200 and f'name="key" value="{key}"' in page.text
    assert "Recipients (3)" in page.text


def test_sending_twice_publishes_the_same_commands_and_a_reload_shows_the_progress(dashboard):
    client, _, messaging, feed, csrf = dashboard
    key = "0123456789abcdef0123456789abcdef"
    ids = ",".join(f"p{n}" for n in range(3))
    form = {"csrf": csrf, "key": key, "template": "ask_to_apply", "ids": ids}
    for _ in range(2):  # a second click, or the same page sent again
        sent = client.post("/send", data=form, headers={"HX-Request": "true"})
        assert sent.status_code == 200, sent.text
    assert len(feed.distinct_commands()) == 1 and {c for _, _, _, c in feed.published} == {key}
    assert "waiting for it to take the send" in sent.text and "No answer" not in sent.text
    assert sent.headers["HX-Push-Url"].startswith(f"/sends/{key}")

    # messaging has taken it and sent two of three: the page after a reload says so
    messaging.taken[key] = {"send_id": key, "template": "ask_to_apply", "commands": 1, "accepted": 3, "sent": 2,
                            "failed": 0, "pending": 1, "failed_reasons": {}, "skipped": [], "messages": [
                                {"prospect_id": f"p{n}", "name": f"Person {n}", "outcome": "sent" if n < 2 else None}
                                for n in range(3)], "started_at": "2026-12-02T06:00:00Z"}
    page = client.get(sent.headers["HX-Push-Url"])
    assert "2 of 3 sent" in page.text and page.text.count('class="status sent"') == 2
    assert 'hx-trigger="every 1s"' in page.text  # still polling
    # Back to the send page (its key in the address): the progress, not a second form
    again = client.get("/send", params={"template": "ask_to_apply", "all": "1", "key": key})
    assert "2 of 3 sent" in again.text and 'id="send-form"' not in again.text
    # The Prospects page shows the send in progress (with its counts, after the list)
    assert 'hx-get="/prospects/counts?view=needs_follow_up"' in client.get("/prospects").text
    counts = client.get("/prospects/counts", params={"view": "needs_follow_up"}).text
    assert "sending 3 — 2 sent" in counts and '<span id="count-needs_follow_up" hx-swap-oob="innerHTML">3</span>' in counts

    messaging.taken[key].update(sent=3, pending=0)
    done = client.get(f"/sends/{key}/progress")
    assert "3 sent" in done.text and "0 failed" in done.text and "every 1s" not in done.text


def test_a_send_of_2500_is_three_commands_with_ids_derived_from_the_key(dashboard):
    client, _, _, feed, csrf = dashboard
    ids = ",".join(f"p{n:04d}" for n in range(2_500))
    form = {"csrf": csrf, "key": "f" * 32, "template": "ask_to_apply", "ids": ids}
    assert client.post("/send", data=form, headers={"HX-Request": "true"}).status_code == 200
    sizes = [len(data["prospect_ids"]) for _, _, data, _ in feed.published]
    assert sizes == [1_000, 1_000, 500] and len(feed.distinct_commands()) == 3
    client.post("/send", data=form, headers={"HX-Request": "true"})
    assert len(feed.distinct_commands()) == 3


def test_a_send_is_bounded_and_publishes_nothing_past_the_bound(dashboard):
    """Issue 27: POST /send took any number of ids (a 1 MB form was 27 commands)."""
    client, _, _, feed, csrf = dashboard
    form = {"csrf": csrf, "key": "e" * 32, "template": "ask_to_apply",
            "ids": ",".join(f"p{n:05d}" for n in range(10_001))}
    refused = client.post("/send", data=form, headers={"HX-Request": "true"})
    assert refused.status_code == 400 and "at most 10,000 prospects" in refused.text
    bad = client.post("/send", data={**form, "ids": "p1,<script>"}, headers={"HX-Request": "true"})
    assert bad.status_code == 400
    assert feed.published == []


def test_a_send_without_the_sessions_csrf_token_is_refused_and_publishes_nothing(dashboard):
    client, _, _, feed, _ = dashboard
    form = {"csrf": "forged", "key": "a" * 32, "template": "ask_to_apply", "ids": "p0"}
    assert client.post("/send", data=form).status_code == 403
    assert feed.published == []


def test_a_send_in_parts_counts_against_all_it_was_for_and_the_job_filter_keeps_all_jobs(dashboard):
    client, _, messaging, _, _ = dashboard
    key = "e" * 32
    messaging.taken[key] = {"send_id": key, "template": "ask_to_apply", "commands": 1, "accepted": 1_000, "sent": 10,
                            "failed": 0, "pending": 990, "failed_reasons": {}, "skipped": [], "messages": [],
                            "started_at": "2026-12-02T06:00:00Z"}
    counts = client.get(f"/sends/{key}/progress", params={"parts": 3, "total": 2_500}).text
    assert "10 of 2,500 sent" in counts and "1 of 3 parts" in counts and 'max="2500"' in counts
    options = client.get("/prospects/counts").text
    assert '<option value="" selected>All jobs</option>' in options and 'hx-swap-oob="true"' in options


def test_back_on_the_send_page_a_send_counts_all_its_parts_before_messaging_took_them(dashboard):
    """The Send page of a known send took its parts from messaging's commands seen: one part of a
    2,500 send taken, and the page counted "of 1,000" for good (the e2e send of 2,000 saw it)."""
    client, _, messaging, _, csrf = dashboard
    key = "d" * 32
    form = {"csrf": csrf, "key": key, "template": "ask_to_apply", "ids": ",".join(f"p{n:04d}" for n in range(2_500))}
    assert client.post("/send", data=form, headers={"HX-Request": "true"}).status_code == 200
    messaging.taken[key] = {"send_id": key, "template": "ask_to_apply", "commands": 1, "accepted": 1_000, "sent": 10,
                            "failed": 0, "pending": 990, "failed_reasons": {}, "skipped": [], "messages": [],
                            "started_at": "2026-12-02T06:00:00Z"}
    page = client.get("/send", params={"template": "ask_to_apply", "all": "1", "key": key}).text
    assert "10 of 2,500 sent" in page and "1 of 3 parts" in page


def test_a_rows_reply_line_skips_the_greeting():
    from services.dashboard.present import ago, first_line

    assert first_line("Hi Dana,\n\nyes, Tuesday works.\nBest") == "yes, Tuesday works."
    assert first_line("Sure, Tuesday.") == "Sure, Tuesday."
    assert first_line("x" * 200).endswith("…") and len(first_line("x" * 200)) == 120
    assert ago(None) == "" and ago("2020-01-01T00:00:00Z").endswith(" ago")


def test_an_id_is_one_path_segment_never_a_path():
    """`/v1/sequences/.` is the list to an HTTP client: "." and ".." are no id (the Sequences
    page's Edit of "." answered 500 before, found by Schemathesis)."""
    from services.dashboard.clients import segment

    assert segment("seq/1?x") == "seq%2F1%3Fx"
    for dots in (".", ".."):
        with pytest.raises(NotFound):
            segment(dots)


def test_the_insights_week_ends_on_the_recruiters_own_date():
    """Insights counts a job's days in its recruiter's time zone: at 23:30 UTC a recruiter in
    Berlin is already in tomorrow, and "this week" must end there (it ended on UTC's date, and a
    contact made after midnight in Berlin fell outside Home's week for an hour)."""
    from datetime import date, datetime, timezone

    from services.dashboard.routes.insights import today
    late = datetime(2026, 12, 7, 23, 30, tzinfo=timezone.utc)
    berlin = {"job_id": "job-1", "open": True, "timezone": "Europe/Berlin"}
    assert today([berlin], late) == date(2026, 12, 8)
    assert today([berlin, {**berlin, "timezone": "America/New_York"}, berlin], late) == date(2026, 12, 8)
    assert today([], late) == today([{**berlin, "timezone": "Mars/Olympus"}], late) == date(2026, 12, 7)
