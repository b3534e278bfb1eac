"""The webhooks service on the real stack, delivering to a local HTTP receiver (loopback and
http allowed by setting): signatures a Standard Webhooks library verifies with the secret the API
returned, retries with the same webhook-id, a slow receiver holding up nobody, another
recruiter's events never sent, the SSRF rules, and a SIGKILL mid-batch losing nothing."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from standardwebhooks import Webhook

from tests.support import Kafka, Namespace, answers, cloud_event, eventually, http_get, token


class Receiver:
    """An HTTP server of the test's own: `/ok` answers 204, `/flaky` 500 twice then 200, `/slow`
    after 5 s, `/redirect` a 302 to `/ok`, `/gone` 410. Keeps every request it got."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        self.calls: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                path = self.path
                receiver.calls[path] = receiver.calls.get(path, 0) + 1
                receiver.got.append({"path": path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                     "body": body.decode(), "at": time.time()})
                if path.startswith("/slow"):
                    time.sleep(5)
                code = {"/flaky": 500 if receiver.calls[path] <= 2 else 200, "/redirect": 302, "/gone": 410}.get(path, 204)
                self.send_response(code)
                if code == 302:
                    self.send_header("Location", "/ok")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def at(self, path: str) -> list[dict[str, Any]]:
        return [g for g in self.got if g["path"] == path]

    def close(self) -> None:
        self.server.shutdown()


class Hooks:
    def __init__(self, ns: Namespace, kafka: Kafka, receiver: Receiver | None = None, **env: str) -> None:
        self.ns, self.kafka = ns, kafka
        self.service = ns.start("webhooks", **env)
        self.receiver = receiver or Receiver()

    def api(self, method: str, path: str, recruiter: str = "rec-7", **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.service.http + path, timeout=30,
                             headers={"Authorization": f"Bearer {token(self.ns.jwt_secret, recruiter)}"}, **kwargs)

    async def ready(self) -> None:
        await eventually(lambda: answers(lambda: http_get(f"{self.service.http}/ready")[0] == 200), timeout_s=90)

    def endpoint(self, path: str, events: list[str], recruiter: str = "rec-7") -> dict[str, Any]:
        created = self.api("POST", "/v1/endpoints", recruiter, json={"url": self.receiver.url + path, "events": events})
        assert created.status_code == 201, created.text
        return created.json()

    def log(self, endpoint_id: str, recruiter: str = "rec-7") -> list[dict[str, Any]]:
        return self.api("GET", f"/v1/endpoints/{endpoint_id}/deliveries", recruiter).json()


def reminder(recruiter: str = "rec-7") -> dict:
    return cloud_event("follow_up.reminder_due", {
        "reminder_id": f"r-{recruiter}", "recruiter_id": recruiter, "date": "2026-12-02", "timezone": "UTC",
        "pending_total": 1, "counts": {"unrated": 1}, "oldest_pending_since": "2026-12-01T09:00:00Z",
        "jobs": [], "prospects": []}, source="prospectflow/reminder")


def rated(prospect: str, recruiter: str = "rec-7") -> dict:
    return cloud_event("prospect.rated", {"prospect_id": prospect, "job_id": "job-42", "recruiter_id": recruiter,
                                          "rating": "shortlist", "previous_rating": "unrated", "command_id": "c1"},
                       source="prospectflow/rating")


def verified(secret: str, got: dict[str, Any]) -> dict[str, Any]:
    return dict(Webhook(secret).verify(got["body"], got["headers"]))


async def test_a_recruiters_endpoint_gets_their_events_signed_and_nobody_elses(ns: Namespace, kafka: Kafka):
    hooks = Hooks(ns, kafka)
    try:
        await hooks.ready()
        mine = hooks.endpoint("/ok", ["follow_up.reminder_due", "prospect.rated"])
        theirs = hooks.endpoint("/other", ["*"], recruiter="rec-8")
        assert mine["secret"].startswith("whsec_")
        events = [reminder(), rated("p1"), rated("p2", recruiter="rec-8")]
        await kafka.send_event(ns.topic("reminders"), events[0], key="rec-7")
        await kafka.send_event(ns.topic("assessments"), events[1], key="p1")
        await kafka.send_event(ns.topic("assessments"), events[2], key="p2")
        await kafka.send_event(ns.topic("messages"), cloud_event("message.failed", {
            "message_id": "m1", "command_id": "c", "prospect_id": "p1", "job_id": "job-42", "recruiter_id": "rec-7",
            "template": "ask_to_apply", "reason": "x", "attempts": 1, "permanent": True}), key="p1")  # not subscribed
        await eventually(lambda: len(hooks.receiver.at("/ok")) >= 2 and len(hooks.receiver.at("/other")) >= 1)
        await kafka.caught_up(ns, "webhooks")

        got = hooks.receiver.at("/ok")
        assert sorted(g["headers"]["webhook-id"] for g in got) == sorted([events[0]["id"], events[1]["id"]])
        for g in got:  # verified as any Standard Webhooks library does, with the secret the API gave
            assert verified(mine["secret"], g)["id"] == g["headers"]["webhook-id"]
        assert [verified(theirs["secret"], g)["data"]["recruiter_id"] for g in hooks.receiver.at("/other")] == ["rec-8"]
        assert len(hooks.receiver.got) == 3  # rec-8's rating never went to rec-7, the failure to nobody

        log = await eventually(lambda: (lambda d: d if all(x["state"] == "delivered" for x in d) and len(d) == 2 else None)(
            hooks.log(mine["id"])))
        assert {a["status"] for d in log for a in d["attempts"]} == {204}
        assert hooks.api("GET", f"/v1/endpoints/{mine['id']}/deliveries", "rec-8").status_code == 404
        assert [e["id"] for e in hooks.api("GET", "/v1/endpoints").json()] == [mine["id"]]
        assert "whsec_" not in json.dumps(hooks.api("GET", "/v1/endpoints").json())

        # A rotation: the next delivery carries both signatures; each secret verifies it.
        rotated = hooks.api("POST", f"/v1/endpoints/{mine['id']}/rotate-secret").json()
        await kafka.send_event(ns.topic("assessments"), rated("p3"), key="p3")
        await eventually(lambda: len(hooks.receiver.at("/ok")) >= 3)
        last = hooks.receiver.at("/ok")[-1]
        assert len(last["headers"]["webhook-signature"].split(" ")) == 2
        assert verified(mine["secret"], last) == verified(rotated["secret"], last)
    finally:
        hooks.receiver.close()


async def test_failures_are_retried_with_the_same_id_and_a_slow_endpoint_holds_up_nobody(ns: Namespace, kafka: Kafka):
    hooks = Hooks(ns, kafka, WEBHOOKS_TIMEOUT_S="2")
    try:
        await hooks.ready()
        flaky = hooks.endpoint("/flaky", ["prospect.rated"])
        slow = hooks.endpoint("/slow", ["prospect.rated"])
        fast = hooks.endpoint("/ok", ["prospect.rated"])
        redirect = hooks.endpoint("/redirect", ["prospect.rated"])
        event = rated("p1")
        sent_at = time.time()
        await kafka.send_event(ns.topic("assessments"), event, key="p1")
        await eventually(lambda: hooks.receiver.at("/ok"))
        assert hooks.receiver.at("/ok")[0]["at"] - sent_at < 2  # not behind the slow one's 5 s

        flaky_log = await eventually(lambda: (lambda d: d if d and d[0]["state"] == "delivered" else None)(
            hooks.log(flaky["id"])))
        assert [a["status"] for a in flaky_log[0]["attempts"]] == [500, 500, 200]
        assert [g["headers"]["webhook-id"] for g in hooks.receiver.at("/flaky")] == [event["id"]] * 3

        slow_log = await eventually(lambda: (lambda d: d if d and d[0]["attempts"] else None)(hooks.log(slow["id"])))
        assert slow_log[0]["attempts"][0]["error"] == "no answer within 2 s"
        redirect_log = await eventually(lambda: (lambda d: d if d and d[0]["attempts"] else None)(hooks.log(redirect["id"])))
        assert redirect_log[0]["attempts"][0]["status"] == 302
        assert "not followed" in redirect_log[0]["attempts"][0]["error"]
        assert len(hooks.receiver.at("/ok")) == 1  # the redirect was not followed to /ok
        assert fast["id"]

        # Past the schedule: dead, visible in the log; a retry by hand tries again with the same id.
        dead = await eventually(lambda: (lambda d: d if d and d[0]["state"] == "dead" else None)(hooks.log(redirect["id"])),
                                timeout_s=30)
        assert len(dead[0]["attempts"]) == 5 and dead[0]["dead_reason"] == "no 2xx after 5 attempts"
        again = hooks.api("POST", f"/v1/endpoints/{redirect['id']}/deliveries/{dead[0]['id']}/retry")
        assert again.status_code == 202
        await eventually(lambda: len(hooks.receiver.at("/redirect")) == 6)
    finally:
        hooks.receiver.close()


async def test_no_server_side_request_forgery(ns: Namespace, kafka: Kafka):
    hooks = Hooks(ns, kafka, WEBHOOKS_ALLOW_LOOPBACK="false", WEBHOOKS_ALLOW_HTTP="false")
    try:
        await hooks.ready()
        for url, says in ((hooks.receiver.url + "/ok", "must be https"),
                          ("https://127.0.0.1:8443/hook", "127.0.0.1 is a loopback address"),
                          ("https://localhost/hook", "localhost resolves to 127.0.0.1, a loopback address"),
                          ("https://10.1.2.3/hook", "10.1.2.3 is a private or reserved address"),
                          ("https://169.254.169.254/latest/meta-data/", "link-local"),
                          ("https://[::1]/hook", "loopback")):
            refused = hooks.api("POST", "/v1/endpoints", json={"url": url, "events": ["*"]})
            assert refused.status_code == 422 and says in refused.json()["detail"], (url, refused.text)
        unknown = hooks.api("POST", "/v1/endpoints", json={"url": "https://example.com/", "events": ["nope"]})
        assert unknown.status_code == 422 and '"input":"nope"' in unknown.text and "prospect.rated" in unknown.text
        assert httpx.get(hooks.service.http + "/v1/endpoints").status_code == 401
        assert hooks.receiver.got == []
    finally:
        hooks.receiver.close()


async def test_killed_mid_batch_it_delivers_everything_after_the_restart(ns: Namespace, kafka: Kafka):
    hooks = Hooks(ns, kafka, WEBHOOKS_CONCURRENCY="4")
    try:
        await hooks.ready()
        endpoint = hooks.endpoint("/ok", ["prospect.rated"])
        events = [rated(f"p{n}") for n in range(300)]
        await kafka.send_many(ns.topic("assessments"), [(e["data"]["prospect_id"], e) for e in events])
        await eventually(lambda: len(hooks.receiver.at("/ok")) >= 20, timeout_s=60)
        hooks.service.kill()
        assert len({g["headers"]["webhook-id"] for g in hooks.receiver.at("/ok")}) < 300
        hooks.service.start()
        wanted = {e["id"] for e in events}
        await eventually(lambda: {g["headers"]["webhook-id"] for g in hooks.receiver.at("/ok")} >= wanted, timeout_s=180)
        for g in hooks.receiver.at("/ok")[:5]:
            assert verified(endpoint["secret"], g)
    finally:
        hooks.receiver.close()


async def test_the_tool_adds_lists_and_shows_deliveries(ns: Namespace, kafka: Kafka):
    from tests.support import cli

    hooks = Hooks(ns, kafka)
    try:
        await hooks.ready()
        tool = cli(ns, PROSPECTFLOW_WEBHOOKS_URL=hooks.service.http)
        added = tool("webhooks", "add", hooks.receiver.url + "/ok", "--events", "prospect.rated", "--recruiter", "rec-7")
        assert added.returncode == 0, added.stderr
        secret = next(w for w in added.stdout.split() if w.startswith("whsec_"))
        endpoint_id = added.stdout.split()[1]
        assert endpoint_id in tool("webhooks", "list", "--recruiter", "rec-7").stdout
        await kafka.send_event(ns.topic("assessments"), rated("p1"), key="p1")
        await eventually(lambda: hooks.receiver.at("/ok"))
        assert verified(secret, hooks.receiver.at("/ok")[0])
        shown = await eventually(lambda: (lambda r: r if "delivered" in r.stdout else None)(
            tool("webhooks", "deliveries", endpoint_id, "--recruiter", "rec-7")))
        assert "prospect.rated" in shown.stdout and "204" in shown.stdout
        delivery_id = tool.json("webhooks", "deliveries", endpoint_id, "--recruiter", "rec-7")[0]["id"]
        assert tool("webhooks", "retry", endpoint_id, delivery_id, "--recruiter", "rec-7").returncode == 0
        await eventually(lambda: len(hooks.receiver.at("/ok")) == 2)
        refused = tool("webhooks", "add", "https://10.0.0.1/x", "--events", "*", "--recruiter", "rec-7")
        assert refused.returncode == 1 and "10.0.0.1 is a private or reserved address" in refused.stderr
        other = tool("webhooks", "deliveries", endpoint_id, "--recruiter", "rec-8")
        assert other.returncode == 1 and "404" in other.stderr
    finally:
        hooks.receiver.close()


def registered(prospect: str, board: str, application_id: str) -> dict:
    return cloud_event("prospect.registered", {
        "prospect_id": prospect, "person_id": f"person-{prospect}", "job_id": "job-42",
        "profile": {"name": "Lee Park", "email": f"{prospect}@example.com"},
        "inquiry": {"board": board, "board_inquiry_id": application_id, "inquired_at": "2026-12-01T09:00:00Z"}},
        source="prospectflow/intake")


def viewed(prospect: str) -> dict:
    return cloud_event("prospect.viewed", {"prospect_id": prospect, "job_id": "job-42", "recruiter_id": "rec-7",
                                           "viewed_at": "2026-12-02T10:00:00Z"}, id=f"viewed-{prospect}",
                       source="prospectflow/dashboard")


async def test_boards_hear_what_became_of_their_applications(ns: Namespace, kafka: Kafka):
    receiver = Receiver()
    hooks = Hooks(ns, kafka, receiver, WEBHOOKS_LINKEDIN_FEEDBACK_URL=receiver.url + "/linkedin", WEBHOOKS_LINKEDIN_TOKEN="li-token",
                  WEBHOOKS_LINKEDIN_INTEGRATION_CONTEXT="urn:li:organization:2414183",
                  WEBHOOKS_INDEED_DISPOSITION_URL=receiver.url + "/indeed", WEBHOOKS_INDEED_TOKEN="in-token")
    try:
        await hooks.ready()
        for event in (registered("p-li", "linkedin", "urn:li:jobApplication:7331"), registered("p-in", "indeed", "b05c30b6"),
                      registered("p-x", "acme-board", "A-1")):
            await kafka.send_event(ns.topic("prospects"), event, key=event["data"]["prospect_id"])
        for prospect in ("p-li", "p-li", "p-in", "p-x"):  # opened twice: told once
            await kafka.send_event(ns.topic("prospect-views"), viewed(prospect), key=prospect)
        second_view = cloud_event("prospect.viewed", {**viewed("p-li")["data"], "viewed_at": "2026-12-02T11:00:00Z"})
        await kafka.send_event(ns.topic("prospect-views"), second_view, key="p-li")
        for prospect in ("p-li", "p-in", "p-x"):
            await kafka.send_event(ns.topic("assessments"), {**rated(prospect), "data": {**rated(prospect)["data"],
                                                             "rating": "not_a_fit"}}, key=prospect)
        await eventually(lambda: len(receiver.at("/linkedin")) >= 2 and len(receiver.at("/indeed")) >= 2)
        await kafka.caught_up(ns, "webhooks")

        linkedin = [json.loads(g["body"]) for g in receiver.at("/linkedin")]
        assert sorted(b["action"] for b in linkedin) == ["APPLICATION_REJECTED", "APPLICATION_VIEWED"]
        assert {b["jobApplicationId"] for b in linkedin} == {"urn:li:jobApplication:7331"}
        assert {b["integrationContext"] for b in linkedin} == {"urn:li:organization:2414183"}
        viewed_body = next(b for b in linkedin if b["action"] == "APPLICATION_VIEWED")
        assert viewed_body["performedAt"] == 1796205600000  # 2026-12-02T10:00:00Z in milliseconds: the first view
        assert {g["headers"]["authorization"] for g in receiver.at("/linkedin")} == {"Bearer li-token"}
        indeed = [json.loads(g["body"]) for g in receiver.at("/indeed")]
        assert sorted(b["status"] for b in indeed) == ["NOT_SELECTED", "REVIEWED"]
        assert {b["applyId"] for b in indeed} == {"b05c30b6"}
        assert {g["headers"]["authorization"] for g in receiver.at("/indeed")} == {"Bearer in-token"}
        assert len(receiver.got) == 4  # nothing about the acme-board prospect, the second view told nobody
    finally:
        receiver.close()


async def test_an_operators_endpoint_gets_everyones_events_and_no_secret_is_in_the_database(ns: Namespace, kafka: Kafka):
    from pymongo import AsyncMongoClient

    receiver = Receiver()
    operator_secret = "whsec_" + "b3BlcmF0b3Itc2VjcmV0LWZvci10ZXN0cw=="
    hooks = Hooks(ns, kafka, receiver, WEBHOOKS_OPERATOR_ENDPOINTS=json.dumps(
        [{"url": receiver.url + "/ops", "events": ["prospect.rated"], "secret": operator_secret}]))
    try:
        await hooks.ready()
        mine = hooks.endpoint("/mine", ["*"])
        for recruiter in ("rec-7", "rec-8"):
            await kafka.send_event(ns.topic("assessments"), rated(f"p-{recruiter}", recruiter=recruiter), key=recruiter)
        await eventually(lambda: len(receiver.at("/ops")) == 2 and len(receiver.at("/mine")) == 1)
        assert sorted(verified(operator_secret, g)["data"]["recruiter_id"] for g in receiver.at("/ops")) == ["rec-7", "rec-8"]
        assert hooks.api("GET", "/v1/endpoints").json()[0]["id"] == mine["id"]  # a recruiter does not see the operator's

        client: AsyncMongoClient = AsyncMongoClient(ns.stack.mongodb_uri)
        try:
            dump = json.dumps([d async for d in client[ns.database("webhooks")]["endpoints"].find()], default=str)
        finally:
            await client.close()
        for secret in (mine["secret"], operator_secret):
            assert secret not in dump and secret.removeprefix("whsec_") not in dump
    finally:
        receiver.close()
