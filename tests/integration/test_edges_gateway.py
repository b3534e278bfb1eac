"""Issue 27 at the job-board gateway, on the real stack: each attack that worked against `make run`
(the challenge as a signing oracle, slow bodies locking the boards out, one board disposing of
another's application), tried again as the attacker would, and the honest board still served."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx

from tests.integration.test_gateway import Gateway, application, post
from tests.support import Kafka, Namespace, answers, eventually


async def test_the_linkedin_challenge_signs_no_application(ns: Namespace, kafka: Kafka):
    gw = Gateway(ns, kafka)
    await gw.open("job-42")
    await gw.ready()
    route = f"{gw.intake.http}/v1/boards/linkedin/applications"
    forged = json.dumps({"jobApplicationId": "forged-1", "externalJobPostingId": "job-42",
                         "applicant": {"firstName": "Mallory", "emailAddress": "forged@example.com"}}).encode()
    # The attack: the application as the challenge, its answer as the signature.
    answer = httpx.get(route, params={"challengeCode": forged.decode()})
    if answer.status_code == 200:  # what the gateway did before: the forged body, signed by the oracle
        signed = httpx.post(route, content=forged, headers={
            "Content-Type": "application/json", "X-LI-Signature": "hmacsha256=" + answer.json()["challengeResponse"]})
        assert signed.status_code == 401, f"a forged application was accepted: {signed.status_code} {signed.text}"
    assert answer.status_code == 422, answer.text
    # A real challenge is answered; its answer signs nothing but the code, which is no application.
    code = "890e4665-4dfe-4ab1-b689-ed553bceeed0"
    real = httpx.get(route, params={"challengeCode": code})
    assert real.status_code == 200 and real.json()["challengeCode"] == code
    replayed = httpx.post(route, content=code.encode(), headers={
        "Content-Type": "application/json", "X-LI-Signature": "hmacsha256=" + real.json()["challengeResponse"]})
    assert replayed.status_code == 401


def _slow_client(port: int, path: str) -> socket.socket:
    """A stranger who announces a body and then trickles it: one byte now, nothing more."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  "Content-Length: 100000\r\n\r\n{").encode())
    return sock


async def test_strangers_trickling_bodies_lock_no_board_out(ns: Namespace, kafka: Kafka):
    gw = Gateway(ns, kafka, INTAKE_GATEWAY_CONCURRENCY="4", INTAKE_GATEWAY_BODY_TIMEOUT_S="4")
    await gw.open("job-42")
    await gw.ready()
    port = int(gw.intake.env["INTAKE_HTTP_PORT"])
    slow = [_slow_client(port, "/v1/boards/indeed/applications") for _ in range(24)]
    try:
        await asyncio.sleep(0.5)  # they are all mid-body now (not a wait for a fact: the attack's own pace)
        honest = await asyncio.to_thread(post, gw.intake, "indeed", application("indeed"))
        assert honest.status_code == 200, honest.text
        # Each stranger hears 408 once the deadline passes, and its connection is done.
        for sock in slow:
            sock.settimeout(15)
            answer = sock.recv(4096).decode(errors="replace")
            assert answer.startswith("HTTP/1.1 408"), answer[:200]
    finally:
        for sock in slow:
            sock.close()
    # A client that leaves mid-upload is a quiet line in the log, not a traceback.
    sock = _slow_client(port, "/v1/boards/indeed/applications")
    sock.close()
    gw.intake.wait_for_log("the client disconnected before the body was complete", timeout_s=30)
    assert "Traceback" not in gw.intake.log()
    registered = await gw.registered()
    assert [e["data"]["profile"]["email"] for e in registered] == ["ines.moreau@example.com"]


async def test_a_cloudevents_board_cannot_dispose_of_an_indeed_application(ns: Namespace, kafka: Kafka):
    gw = Gateway(ns, kafka)
    await gw.open("job-42")
    await gw.ready()
    indeed = application("indeed")
    # The attack: a CloudEvents sender speaks for Indeed, with Indeed's application id, first.
    claim = application("cloudevents", email=indeed["applicant"]["email"])
    claim["data"].update(board="indeed", board_inquiry_id=indeed["id"])
    refused = post(gw.intake, "cloudevents", claim)
    assert refused.status_code == 403, refused.text
    assert "indeed posts through its own endpoint" in refused.json()["detail"]
    # An id crafted as the gateway's own id of that Indeed application is another event.
    from services.intake import boards

    crafted = application("cloudevents", email="someone.else@example.com")
    crafted["id"] = boards.indeed(indeed).event_id
    assert post(gw.intake, "cloudevents", crafted).status_code == 200
    # The real Indeed application is taken as new, and the recruiter sees it from Indeed.
    real = post(gw.intake, "indeed", indeed)
    assert real.status_code == 200 and real.json()["received"] == "new", real.text
    seen = await eventually(lambda: answers(lambda: (lambda p: p if "ines.moreau@example.com" in p else None)(
        gw.prospects())), timeout_s=60)
    assert seen["ines.moreau@example.com"]["board"] == "indeed"


async def test_a_named_cloudevents_sender_is_the_board_it_signs_for(ns: Namespace, kafka: Kafka):
    named = {**ns.board_secrets, "cloudevents": {"jobs-weekly": ns.board_secrets["cloudevents"]}}
    gw = Gateway(ns, kafka, INTAKE_BOARD_SECRETS=json.dumps(named))
    await gw.open("job-42")
    await gw.ready()
    secret = ns.board_secrets["cloudevents"][0]
    other = application("cloudevents", email="kim@example.com")
    other["data"]["board"] = "acme-board"
    refused = post(gw.intake, "cloudevents", other, secret=secret)
    assert refused.status_code == 403 and "signs for 'jobs-weekly' only" in refused.json()["detail"]
    own = application("cloudevents")
    assert post(gw.intake, "cloudevents", own, secret=secret).status_code == 200
    seen = await eventually(lambda: answers(lambda: gw.prospects() or None), timeout_s=60)
    assert [p["board"] for p in seen.values()] == ["jobs-weekly"]


async def test_the_same_resume_uploaded_again_or_at_once_is_stored_whole_and_once(stack):
    """A second upload of stored bytes clashed in GridFS, whose abort deletes every chunk and the
    file document of that id, the stored file's too: the file was gone until the re-upload, and
    two boards at once could leave a file document without its chunks."""
    import hashlib
    import os
    import uuid

    from pymongo import AsyncMongoClient

    from services.intake.store import IntakeStore

    client: AsyncMongoClient = AsyncMongoClient(stack.mongodb_uri, tz_aware=True)
    name = f"t{uuid.uuid4().hex[:10]}_intake"
    try:
        store = IntakeStore(client[name])
        await store.ensure_indexes()
        chunks = client[name]["resumes.chunks"]
        for round_ in range(3):
            data = os.urandom(2 * 1024 * 1024 + round_)  # 9 chunks of GridFS's 255 KB
            sha = hashlib.sha256(data).hexdigest()
            resume_id = f"resume-{sha[:16]}"
            await asyncio.gather(*(store.store_resume(resume_id, data, filename="cv.pdf", content_type="application/pdf",
                                                      sha256=sha, job_id=f"job-{n}") for n in range(8)))
            stored = sorted([c["_id"] async for c in chunks.find({"files_id": resume_id}, {"_id": 1})])
            await store.store_resume(resume_id, data, filename="cv.pdf", content_type="application/pdf",
                                     sha256=sha, job_id="job-later")
            assert sorted([c["_id"] async for c in chunks.find({"files_id": resume_id}, {"_id": 1})]) == stored, \
                "the stored file was deleted and written again"
            stream = await store.resumes.open_download_stream(resume_id)
            assert await stream.read() == data, f"round {round_}: the stored file is not the file sent"
            assert await client[name]["resume_jobs"].count_documents({"resume_id": resume_id}) == 9
    finally:
        await client.drop_database(name)
        await client.close()
