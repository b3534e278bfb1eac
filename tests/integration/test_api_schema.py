"""Schemathesis against the real rating and messaging processes' OpenAPI documents: generated
requests for every operation, with a valid token and with a forged one. No 5xx; every response
matches its documented status codes, content type and schema; a forged token is always 401."""

from __future__ import annotations

import asyncio
from datetime import date
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance
from hypothesis import HealthCheck, given, settings

from services.insights.handlers import MOST_DAYS
from tests.integration.test_rating import job_opened, prospect_event
from tests.support import Kafka, Namespace, Stack, answers, http_get, token, until

EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


class Running:
    def __init__(self, stack: Stack) -> None:
        self.ns = Namespace(stack)
        self.rating = self.ns.start("rating")
        self.messaging = self.ns.start("messaging")
        self.intake = self.ns.start("intake")
        self.webhooks = self.ns.start("webhooks")
        self.sequences = self.ns.start("sequences")
        self.insights = self.ns.start("insights")
        self.dashboard = self.ns.start("dashboard", DASHBOARD_RATING_API_URL=self.rating.http,
                                       DASHBOARD_MESSAGING_API_URL=self.messaging.http,
                                       DASHBOARD_WEBHOOKS_API_URL=self.webhooks.http, DASHBOARD_INTAKE_API_URL=self.intake.http,
                                       DASHBOARD_SEQUENCES_API_URL=self.sequences.http,
                                       DASHBOARD_INSIGHTS_API_URL=self.insights.http)
        self.session = ""
        self.token = token(self.ns.jwt_secret, "rec-7")
        self.forged = token(self.ns.jwt_secret + "-not-ours", "rec-7")
        self.tried: dict[str, int] = {}

    def seed(self) -> None:
        async def publish() -> None:
            kafka = Kafka(self.ns.stack.kafka)
            try:
                await kafka.send_event(self.ns.topic("jobs"), job_opened(), key="job-42")
                for n in range(5):
                    event = prospect_event(f"p{n}@example.com")
                    await kafka.send_event(self.ns.topic("prospects"), event, key=event["data"]["prospect_id"])
            finally:
                await kafka.close()
        asyncio.run(publish())

        def seeded() -> bool:
            status, page = answers(lambda: http_get(f"{self.rating.http}/prospects?view=all", self.token)) or (0, {})
            return status == 200 and len(page["items"]) == 5

        until(seeded, timeout_s=60, what="the board never held the seeded prospects")

    def sign_in(self) -> None:
        """A dashboard session, as a recruiter gets one: from a sign-in link."""
        import http.cookiejar
        import urllib.request

        from shared.auth import login_link

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        until(lambda: answers(lambda: opener.open(login_link(self.ns.jwt_secret, "rec-7", self.dashboard.http),
                                                  timeout=10)), timeout_s=60, what="the dashboard never answered")
        self.session = next(c.value for c in jar if c.name == "pf_session")


@pytest.fixture(scope="module")
def running(stack: Stack) -> Iterator[Running]:
    services = Running(stack)
    try:  # a set-up that fails still stops the processes it started
        services.seed()
        services.sign_in()
        yield services
        print(f"schemathesis: requests per operation and token: {services.tried}")
    finally:
        services.ns.stop_all()
        asyncio.run(services.ns.clean_up())


def _check(case: Any, running: Running, base: str) -> None:
    key = f"{case.method} {case.path}"
    valid = case.call(base_url=base, headers={"Authorization": f"Bearer {running.token}"})
    assert valid.status_code < 500, (key, valid.status_code, valid.text[:300])
    # A cursor is opaque: one the API never gave is refused (400) though any string fits the schema;
    # a recruiter's template must render (Jinja), refused 422 with the line and why, which no schema says.
    opaque = case.query and "cursor" in case.query
    rendered = case.method in ("POST", "PUT") and case.path.startswith("/v1/templates")
    case.validate_response(valid, excluded_checks=[positive_data_acceptance] if opaque or rendered else None)
    if case.path.startswith(("/prospects", "/prospect-ids", "/summary", "/preview")):
        forged = case.call(base_url=base, headers={"Authorization": f"Bearer {running.forged}"})
        # 401, or 422 where the request itself is malformed (validated before the token)
        assert forged.status_code in (401, 422), (key, forged.status_code)
    running.tried[key] = running.tried.get(key, 0) + 1


def _every_operation(running: Running, base: str, check_case: Any = None, skip: tuple[str, ...] = ()) -> None:
    """Each operation of the service's OpenAPI document, with generated requests (Hypothesis)."""
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    for operation in operations:
        if operation.path in skip:
            continue

        @EXAMPLES
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            (check_case or _check)(case, running, base)
        check()


def test_rating_api_matches_its_schema(running: Running) -> None:
    _every_operation(running, running.rating.http)
    assert {k for k in running.tried if k.startswith("GET /prospect")} >= {
        "GET /prospects", "GET /prospect-ids", "GET /prospects/{prospect_id}", "GET /prospects/{prospect_id}/history"}


def test_messaging_api_matches_its_schema(running: Running) -> None:
    _every_operation(running, running.messaging.http)
    assert "POST /preview" in running.tried


def _check_gateway(case: Any, running: Running, base: str) -> None:
    """Intake's gateway: generated bodies carry no board's signature, so every post is refused
    401 (documented) before its body is read; a résumé id nobody sent is a 404, a forged token 401."""
    _check(case, running, base)
    if case.path.startswith("/v1/boards/") and case.method == "POST" or case.path == "/v1/inquiries":
        response = case.call(base_url=base)
        assert response.status_code in (401, 413, 503), (case.path, response.status_code)
    if case.path.startswith("/v1/resumes/"):
        forged = case.call(base_url=base, headers={"Authorization": f"Bearer {running.forged}"})
        assert forged.status_code in (401, 422), (case.path, forged.status_code)


def test_intake_gateway_matches_its_schema(running: Running) -> None:
    _every_operation(running, running.intake.http, _check_gateway)
    assert {"POST /v1/boards/indeed/applications", "POST /v1/inquiries", "GET /v1/resumes/{resume_id}"} <= set(
        running.tried)


def _check_webhooks(case: Any, running: Running, base: str) -> None:
    """The webhooks API: generated requests with a valid token (no 5xx, documented answers) and
    with a forged one (always 401, or 422 for a malformed request)."""
    key = f"{case.method} {case.path}"
    valid = case.call(base_url=base, headers={"Authorization": f"Bearer {running.token}"})
    assert valid.status_code < 500, (key, valid.status_code, valid.text[:300])
    # A URL is judged by what its host resolves to (422 with the reason), which no schema can say.
    registering = key == "POST /v1/endpoints"
    case.validate_response(valid, excluded_checks=[positive_data_acceptance] if registering else None)
    running.tried[key] = running.tried.get(key, 0) + 1
    if case.path.startswith("/v1/"):
        forged = case.call(base_url=base, headers={"Authorization": f"Bearer {running.forged}"})
        assert forged.status_code in (401, 422), (case.path, forged.status_code)


def test_webhooks_api_matches_its_schema(running: Running) -> None:
    _every_operation(running, running.webhooks.http, _check_webhooks)
    assert {"POST /v1/endpoints", "GET /v1/endpoints/{endpoint_id}/deliveries"} <= set(running.tried)


def _check_page(case: Any, running: Running, base: str) -> None:
    """The dashboard, signed in by cookie (its forms need the session's CSRF token, which
    generated requests lack: 403, documented) and not signed in (to the sign-in page)."""
    key = f"{case.method} {case.path}"
    signed_in = case.call(base_url=base, cookies={"pf_session": running.session}, allow_redirects=False)
    assert signed_in.status_code < 500 or signed_in.status_code in (503, 504), (key, signed_in.status_code)
    case.validate_response(signed_in, excluded_checks=[positive_data_acceptance])
    stranger = case.call(base_url=base, allow_redirects=False)
    assert stranger.status_code < 500, (key, stranger.status_code)
    if case.method == "GET" and case.path not in ("/login", "/signed-out", "/metrics"):
        assert stranger.status_code in (303, 401, 422), (key, stranger.status_code)
    running.tried["dashboard " + key] = running.tried.get("dashboard " + key, 0) + 1


def _check_sequences(case: Any, running: Running, base: str) -> None:
    """The sequences API: generated requests with a valid token (no 5xx, documented answers; a
    definition is judged by rules no schema says, refused 422 with why) and a forged one (401)."""
    key = f"{case.method} {case.path}"
    valid = case.call(base_url=base, headers={"Authorization": f"Bearer {running.token}"})
    assert valid.status_code < 500, (key, valid.status_code, valid.text[:300])
    defining = case.method in ("POST", "PUT") and case.path.startswith("/v1/sequences")
    case.validate_response(valid, excluded_checks=[positive_data_acceptance] if defining else None)
    running.tried[key] = running.tried.get(key, 0) + 1
    if case.path.startswith("/v1/"):
        forged = case.call(base_url=base, headers={"Authorization": f"Bearer {running.forged}"})
        assert forged.status_code in (401, 422), (case.path, forged.status_code)


def test_sequences_api_matches_its_schema(running: Running) -> None:
    _every_operation(running, running.sequences.http, _check_sequences)
    assert {"POST /v1/sequences", "GET /v1/enrollments"} <= set(running.tried)


def test_dashboard_matches_its_schema(running: Running) -> None:
    # /events streams for as long as the page is open: not something to fire requests at.
    _every_operation(running, running.dashboard.http, _check_page, skip=("/events",))
    assert {"dashboard GET /prospects", "dashboard POST /send", "dashboard GET /prospects/{prospect_id}"} <= set(running.tried)


def _beyond_the_rule(case: Any) -> bool:
    """A generated period that ends before it starts or spans more than ten years."""
    try:
        start, end = date.fromisoformat(case.query["from"]), date.fromisoformat(case.query["to"])
    except (KeyError, TypeError, ValueError):
        return False
    return end < start or (end - start).days > MOST_DAYS


def _check_insights(case: Any, running: Running, base: str) -> None:
    """The insights API: generated requests with a valid token (no 5xx, documented answers; a
    period must end after it starts and span at most ten years, refused 422 with why, which no
    schema says) and a forged one (401, or 422 for a malformed request)."""
    key = f"{case.method} {case.path}"
    valid = case.call(base_url=base, headers={"Authorization": f"Bearer {running.token}"})
    assert valid.status_code < 500, (key, valid.status_code, valid.text[:300])
    case.validate_response(valid, excluded_checks=[positive_data_acceptance] if _beyond_the_rule(case) else None)
    running.tried[key] = running.tried.get(key, 0) + 1
    if case.path.startswith("/v1/"):
        forged = case.call(base_url=base, headers={"Authorization": f"Bearer {running.forged}"})
        assert forged.status_code in (401, 422), (key, forged.status_code)


def test_insights_api_matches_its_schema(running: Running) -> None:
    _every_operation(running, running.insights.http, _check_insights)
    assert "GET /v1/insights" in running.tried
