"""The job-board gateway on the real stack: each board posts its own format, signed its own way,
into intake's HTTP side; what the recruiter then sees through rating's API, the résumé they
download from intake, and what is (and is not) on Kafka."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import time
from typing import Any

import httpx

from prospectflow.boards import load_sample
from services.intake import signatures
from tests.integration.test_messaging import RECRUITER, job
from tests.support import Kafka, answers, cli, Namespace, ServiceProcess, cloud_event, eventually, events, http_get, mongo_count, token

ROUTES = {"indeed": "/v1/boards/indeed/applications", "linkedin": "/v1/boards/linkedin/applications",
          "ziprecruiter": "/v1/boards/ziprecruiter/applications", "cloudevents": "/v1/inquiries"}


def application(board: str, job_id: str = "job-42", email: str | None = None, application_id: str | None = None) -> dict:
    """The board's sample application (prospectflow/samples/boards), for this job and person."""
    payload = copy.deepcopy(load_sample(board))
    if board == "indeed":
        payload["job"]["jobId"] = job_id
        payload["applicant"]["email"] = email or payload["applicant"]["email"]
        payload["id"] = application_id or payload["id"]
    elif board == "linkedin":
        payload["externalJobPostingId"] = job_id
        payload["applicant"]["emailAddress"] = email or payload["applicant"]["emailAddress"]
        payload["jobApplicationId"] = application_id or payload["jobApplicationId"]
    elif board == "ziprecruiter":
        payload["job_id"] = job_id
        payload["email"] = email or payload["email"]
        payload["response_id"] = application_id or payload["response_id"]
    else:
        payload["data"]["job_id"] = job_id
        payload["data"]["prospect"]["email"] = email or payload["data"]["prospect"]["email"]
        payload["id"] = application_id or payload["id"]
    return payload


def post(intake: ServiceProcess, board: str, payload: Any, *, secret: str | None = None, body: bytes | None = None,
         headers: dict[str, str] | None = None, timestamp: float | None = None) -> httpx.Response:
    """POST as the board does: the raw JSON, signed with the board's secret in this test."""
    body = body if body is not None else json.dumps(payload).encode()
    secret = secret or json.loads(intake.env["INTAKE_BOARD_SECRETS"])[board][0]
    signed = signatures.sign_headers(board, secret, body, msg_id=f"msg-{time.time_ns()}",
                                     timestamp=timestamp if timestamp is not None else time.time())
    content_type = "application/cloudevents+json" if board == "cloudevents" else "application/json"
    return httpx.post(intake.http + ROUTES[board], content=body, timeout=30,
                      headers={"Content-Type": content_type, **signed, **(headers or {})})


class Gateway:
    """intake (its gateway) and rating, with jobs opened and known to the gateway."""

    def __init__(self, ns: Namespace, kafka: Kafka, **intake_env: str) -> None:
        self.ns, self.kafka = ns, kafka
        self.intake = ns.start("intake", **intake_env)
        self.rating = ns.start("rating")
        self.token = token(ns.jwt_secret, RECRUITER)

    async def open(self, *job_ids: str, recruiter: str = RECRUITER) -> None:
        for job_id in job_ids:
            await self.kafka.send_event(self.ns.topic("jobs"), job(job_id, recruiter=recruiter), key=job_id)

        async def known() -> bool:
            return await mongo_count(self.ns.stack, self.ns.database("intake"), "jobs",
                                     {"_id": {"$in": list(job_ids)}}) == len(job_ids)

        await eventually(known, timeout_s=60)

    async def close(self, job_id: str) -> None:
        await self.kafka.send_event(self.ns.topic("jobs"), cloud_event("job.closed", {"job_id": job_id}), key=job_id)
        await eventually(lambda: mongo_count(self.ns.stack, self.ns.database("intake"), "jobs",
                                             {"_id": job_id, "open": False}), timeout_s=60)

    async def ready(self) -> None:
        await eventually(lambda: answers(lambda: http_get(f"{self.intake.http}/ready")[0] == 200), timeout_s=90)

    async def registered(self) -> list[dict]:
        await self.kafka.caught_up(self.ns, "intake")
        return [e for e in events(await self.kafka.read_to_end(self.ns.topic("prospects")))
                if e["type"] == "prospect.registered"]

    def prospects(self, view: str = "all") -> dict[str, dict]:
        status, body = http_get(f"{self.rating.http}/prospects?view={view}", self.token)
        assert status == 200, body
        return {p["email"]: p for p in body["items"]}


async def test_each_boards_application_reaches_the_recruiter_with_its_resume(ns: Namespace, kafka: Kafka):
    gw = Gateway(ns, kafka)
    await gw.open("job-42")
    await gw.ready()
    for board in ("indeed", "linkedin", "ziprecruiter", "cloudevents"):
        response = post(gw.intake, board, application(board))
        assert response.status_code == 200, (board, response.text)
        assert response.json()["received"] == "new"

    seen = await eventually(lambda: (lambda p: p if len(p) == 4 else None)(gw.prospects()), timeout_s=60)
    indeed, linkedin, zip_, other = (seen[e] for e in ("ines.moreau@example.com", "omar.haddad@example.com",
                                                       "chloe.martin@example.com", "yuki.tanaka@example.com"))
    assert (indeed["board"], indeed["name"], indeed["phone"]) == ("indeed", "Ines Moreau", "+33 6 12 34 56 78")
    assert (linkedin["board"], linkedin["headline"]) == ("linkedin", "Backend engineer, Java and Kafka")
    assert (zip_["board"], other["board"], other["resume"]) == ("ziprecruiter", "jobs-weekly", None)
    assert indeed["resume"]["filename"] == "Ines Moreau CV.pdf" and indeed["resume"]["content_type"] == "application/pdf"
    assert zip_["resume"]["content_type"] == "text/plain" and zip_["resume"]["filename"] == "resume.txt"
    history = http_get(f"{gw.rating.http}/prospects/{zip_['prospect_id']}/history", gw.token)[1]
    assert history[0]["message"] == "years_python: 6\nwork_authorization: US citizen"

    # The recruiter downloads the file as it was sent; nobody else can.
    sent = base64.b64decode(load_sample("indeed")["applicant"]["resume"]["file"]["data"])
    url = f"{gw.intake.http}/v1/resumes/{indeed['resume']['resume_id']}"
    download = httpx.get(url, headers={"Authorization": f"Bearer {gw.token}"})
    assert download.status_code == 200 and download.content == sent
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith('attachment; filename="Ines Moreau CV.pdf"')
    assert download.headers["x-content-type-options"] == "nosniff"
    stranger = httpx.get(url, headers={"Authorization": f"Bearer {token(ns.jwt_secret, 'rec-other')}"})
    assert stranger.status_code == 404
    assert httpx.get(url).status_code == 401

    # Another job of another recruiter gets the same file from the same person: stored once,
    # and now each of the two recruiters may read it.
    await gw.open("job-99", recruiter="rec-other")
    again = application("indeed", job_id="job-99", application_id="other-apply-id")
    assert post(gw.intake, "indeed", again).status_code == 200
    assert await mongo_count(ns.stack, ns.database("intake"), "resumes.files") == 3
    assert httpx.get(url, headers={"Authorization": f"Bearer {token(ns.jwt_secret, 'rec-other')}"}).status_code == 200

    metrics = httpx.get(f"{gw.intake.http}/metrics").text
    assert 'prospectflow_gateway_requests_total{board="indeed",code="200"} 2.0' in metrics


async def test_signatures_rotation_and_replays(ns: Namespace, kafka: Kafka):
    secrets = {**ns.board_secrets, "indeed": ["indeed-new", "indeed-old"]}
    gw = Gateway(ns, kafka, INTAKE_BOARD_SECRETS=json.dumps(secrets))
    await gw.open("job-42")
    await gw.ready()

    wrong = post(gw.intake, "linkedin", application("linkedin"), secret="not-the-secret")
    assert wrong.status_code == 401 and "X-LI-Signature does not match" in wrong.json()["detail"]
    tampered_body = json.dumps(application("ziprecruiter")).encode()
    signed = signatures.sign_headers("ziprecruiter", ns.board_secrets["ziprecruiter"][0], tampered_body)
    tampered = httpx.post(gw.intake.http + ROUTES["ziprecruiter"], content=tampered_body.replace(b"Chloe", b"Eve"),
                          headers=signed)
    assert tampered.status_code == 401
    stale = post(gw.intake, "cloudevents", application("cloudevents"), timestamp=time.time() - 600)
    assert stale.status_code == 401 and "5-minute tolerance" in stale.json()["detail"]
    assert "unsigned or wrongly signed" in gw.intake.log()
    assert "Chloe" not in gw.intake.log()  # refusals are logged without the body

    # While rotating, the old secret still signs.
    assert post(gw.intake, "indeed", application("indeed"), secret="indeed-old").status_code == 200
    assert post(gw.intake, "indeed", application("indeed", email="b@example.com", application_id="2"),
                secret="indeed-new").status_code == 200
    registered = await gw.registered()
    assert sorted(e["data"]["profile"]["email"] for e in registered) == ["b@example.com", "ines.moreau@example.com"]

    # LinkedIn's webhook validation.
    challenge = httpx.get(gw.intake.http + ROUTES["linkedin"], params={"challengeCode": "5f0d3c1e-2b4a-4c6d-8e9f-0a1b2c3d4e5f"}).json()
    assert challenge == {"challengeCode": "5f0d3c1e-2b4a-4c6d-8e9f-0a1b2c3d4e5f",
                         "challengeResponse": signatures.linkedin_challenge(ns.board_secrets["linkedin"][0], "5f0d3c1e-2b4a-4c6d-8e9f-0a1b2c3d4e5f")}


async def test_a_boards_retry_registers_once_and_indeeds_duplicates_are_409(ns: Namespace, kafka: Kafka):
    gw = Gateway(ns, kafka)
    await gw.open("job-42")
    await gw.ready()
    first = post(gw.intake, "linkedin", application("linkedin"))
    retry = post(gw.intake, "linkedin", application("linkedin"))
    assert (first.status_code, retry.status_code) == (200, 200)
    assert first.json()["id"] == retry.json()["id"] and retry.json()["received"] == "before"
    # Another LinkedIn application of the same person for the same job: an inquiry again.
    assert post(gw.intake, "linkedin", application("linkedin", application_id="urn:li:jobApplication:2")).status_code == 200

    assert post(gw.intake, "indeed", application("indeed")).status_code == 200
    assert post(gw.intake, "indeed", application("indeed")).json()["received"] == "before"
    duplicate = post(gw.intake, "indeed", application("indeed", application_id="another-apply-id"))
    assert duplicate.status_code == 409 and "applied to job job-42 before" in duplicate.json()["detail"]

    registered = await gw.registered()
    everything = events(await kafka.read_to_end(ns.topic("prospects")))
    assert sorted(e["data"]["profile"]["email"] for e in registered) == ["ines.moreau@example.com",
                                                                         "omar.haddad@example.com"]
    assert [e["type"] for e in everything].count("prospect.inquired_again") == 1


async def test_unknown_and_closed_jobs_bad_payloads_and_disguised_files(ns: Namespace, kafka: Kafka):
    gw = Gateway(ns, kafka)
    await gw.open("job-42", "job-old")
    await gw.close("job-old")
    await gw.ready()
    unknown = post(gw.intake, "ziprecruiter", application("ziprecruiter", job_id="job-never"))
    assert unknown.status_code == 404 and "job-never was never opened" in unknown.json()["detail"]
    closed = post(gw.intake, "indeed", application("indeed", job_id="job-old"))
    assert closed.status_code == 410 and "closed" in closed.json()["detail"]

    missing = application("indeed")
    del missing["applicant"]["email"]
    answer = post(gw.intake, "indeed", missing)
    assert (answer.status_code, answer.json()["detail"]) == (400, "`applicant.email` is required")
    assert post(gw.intake, "indeed", None, body=b"{not json").status_code == 400
    deep = post(gw.intake, "indeed", None, body=b"[" * 100_000 + b"]" * 100_000)  # signed, 200 KB: a 500 once
    assert (deep.status_code, deep.json()["detail"]) == (400, "the body is nested too deeply to be JSON we read")

    disguised = application("indeed")
    disguised["applicant"]["resume"]["file"] = {"contentType": "application/pdf", "fileName": "cv.pdf",
                                                "data": base64.b64encode(b"MZ\x90\x00" + b"\x00" * 4096).decode()}
    refused = post(gw.intake, "indeed", disguised)
    assert refused.status_code == 422 and "Windows executable" in refused.json()["detail"]
    assert await mongo_count(ns.stack, ns.database("intake"), "resumes.files") == 0

    big = application("ziprecruiter")
    big["resume"] = base64.b64encode(b"%PDF-1.4\n" + b"0" * 300_000).decode()
    gw.intake.stop()  # the same service, restarted with a smaller limit
    gw.intake.env["INTAKE_RESUME_MAX_BYTES"] = "100000"
    gw.intake.start()
    await gw.ready()
    too_large = post(gw.intake, "ziprecruiter", big)
    assert too_large.status_code == 413 and "larger than 100000 bytes" in too_large.json()["detail"]

    assert await kafka.read_to_end(ns.topic("inquiries")) == []  # nothing refused reached Kafka


async def test_kafka_going_away_answers_503_and_every_200_is_registered_once(ns: Namespace, private_kafka):
    private = Kafka(private_kafka.bootstrap)
    try:
        intake = ns.start("intake", KAFKA_BOOTSTRAP_SERVERS=private_kafka.bootstrap, INTAKE_PUBLISH_TIMEOUT_S="2",
                          INTAKE_WATCH_INTERVAL_S="1")
        await private.send_event(ns.topic("jobs"), job("job-42"), key="job-42")
        await eventually(lambda: mongo_count(ns.stack, ns.database("intake"), "jobs"), timeout_s=60)
        await eventually(lambda: answers(lambda: http_get(f"{intake.http}/ready")[0] == 200), timeout_s=90)

        codes: dict[str, int] = {}

        async def apply(n: int) -> None:
            payload = application("ziprecruiter", email=f"p{n}@example.com", application_id=f"zr-{n}")
            response = await asyncio.to_thread(post, intake, "ziprecruiter", payload)
            codes[f"p{n}@example.com"] = response.status_code
            if response.status_code == 503:
                assert response.headers["retry-after"]

        for n in range(40):
            await apply(n)
        private_kafka.stop()
        for n in range(40, 50):
            await apply(n)
        await asyncio.to_thread(private_kafka.start)
        for n in range(50, 90):
            await apply(n)
        assert sorted(set(codes.values())) == [200, 503], codes
        assert [codes[f"p{n}@example.com"] for n in range(40, 50)] == [503] * 10

        # What a board does with a 503: send it again a little later; then everything is in, once.
        for n in [n for n in range(90) if codes[f"p{n}@example.com"] == 503]:
            deadline = time.monotonic() + 60
            while codes[f"p{n}@example.com"] != 200:
                assert time.monotonic() < deadline, f"p{n} still refused: {codes[f'p{n}@example.com']}"
                await asyncio.sleep(0.5)  # the board's back-off
                await apply(n)

        async def all_registered() -> list[dict]:
            found = [e for e in events(await private.read_to_end(ns.topic("prospects")))
                     if e["type"] == "prospect.registered"]
            return found if len(found) >= 90 else []

        registered = await eventually(all_registered, timeout_s=120)
        emails = [e["data"]["profile"]["email"] for e in registered]
        assert sorted(emails) == sorted(codes) and len(emails) == len(set(emails)) == 90
    finally:
        await private.close()


async def test_the_sample_and_board_post_go_through_the_gateway_as_a_new_user_tries_it(ns: Namespace, kafka: Kafka):
    gw = Gateway(ns, kafka)
    await gw.ready()
    tool = cli(ns, gw.rating, INTAKE_BOARD_SECRETS=gw.intake.env["INTAKE_BOARD_SECRETS"],
               PROSPECTFLOW_INTAKE_URL=gw.intake.http)
    done = tool("sample", "--recruiter", RECRUITER)
    assert done.returncode == 0, done.stderr
    assert "posted to the gateway: indeed 200, linkedin 200, ziprecruiter 200, cloudevents 200" in done.stdout
    seen = await eventually(lambda: (lambda p: p if len(p) == 14 else None)(gw.prospects()), timeout_s=60)
    assert {p["board"] for p in seen.values()} >= {"indeed", "linkedin", "ziprecruiter", "jobs-weekly"}
    assert sum(1 for p in seen.values() if p["resume"]) == 3

    # By hand: the raw sample is another application of the same people than the sample's.
    first = tool("board-post", "ziprecruiter", "--job", f"{RECRUITER}-backend")
    again = tool("board-post", "ziprecruiter", "--job", f"{RECRUITER}-backend")
    assert first.returncode == 0 and first.stdout.startswith("200 ") and '"received":"new"' in first.stdout
    assert again.returncode == 0 and '"received":"before"' in again.stdout
    duplicate = tool("board-post", "indeed", "--job", f"{RECRUITER}-backend")
    assert duplicate.returncode == 1 and duplicate.stdout.startswith("409 ")
    wrong = tool("board-post", "ziprecruiter", "--secret", "not-it")
    assert wrong.returncode == 1 and wrong.stdout.startswith("401 ")
    nowhere = cli(ns, gw.rating, INTAKE_BOARD_SECRETS="{}", PROSPECTFLOW_INTAKE_URL=gw.intake.http)("board-post", "indeed")
    assert nowhere.returncode == 1 and "no secret for indeed" in nowhere.stderr


async def test_a_resume_upload_cut_short_by_a_crash_is_stored_whole_next_time(ns: Namespace, kafka: Kafka):
    """A crash between GridFS's chunks and its file document leaves chunks alone; the board's
    retry stores the file whole, and the recruiter downloads exactly what was sent."""
    import hashlib

    from pymongo import AsyncMongoClient

    from shared import ids

    gw = Gateway(ns, kafka)
    await gw.open("job-42")
    await gw.ready()
    payload = application("linkedin")
    sent = base64.b64decode(payload["resume"]["data"])
    resume_id = ids.derive("resume", hashlib.sha256(sent).hexdigest())
    client: AsyncMongoClient = AsyncMongoClient(ns.stack.mongodb_uri)
    try:
        await client[ns.database("intake")]["resumes.chunks"].insert_one(
            {"files_id": resume_id, "n": 0, "data": b"half of it"})
    finally:
        await client.close()
    answer = post(gw.intake, "linkedin", payload)
    assert answer.status_code == 200, answer.text
    download = httpx.get(f"{gw.intake.http}/v1/resumes/{resume_id}", headers={"Authorization": f"Bearer {gw.token}"})
    assert download.status_code == 200 and download.content == sent
