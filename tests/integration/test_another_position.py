"""Not a match is not the end, on the real stack (intake and rating as processes, Kafka, the
database): people rated not for this job, considered for another of the recruiter's open jobs
(`prospects.suggest`, from the CLI as a recruiter's tool would send it), appear there once, in
its Needs follow-up, unrated, with where they came from; a repeat and a redelivery change
nothing; another recruiter's job and a closed job are refused."""

from __future__ import annotations

import uuid

from shared import ids
from tests.integration.test_rating import RECRUITER, job_opened, rate, results_for
from tests.support import Kafka, Namespace, cli, cloud_event, eventually, http_get, token


def suggest(prospect_ids: list[str], job_id: str, id: str | None = None) -> dict:
    return cloud_event("prospects.suggest", {"recruiter_id": RECRUITER, "prospect_ids": prospect_ids, "job_id": job_id},
                       id=id or str(uuid.uuid4()), source="tests/app")


async def test_people_not_a_fit_are_considered_for_another_job_once(ns: Namespace, kafka: Kafka):
    ns.start("intake")
    rating = ns.start("rating")
    rating.wait_for_log("Uvicorn running")
    bearer = token(ns.jwt_secret, RECRUITER)
    for job_id, recruiter in (("job-a", RECRUITER), ("job-b", RECRUITER), ("job-other", "rec-8"), ("job-old", RECRUITER)):
        await kafka.send_event(ns.topic("jobs"), job_opened(job_id, recruiter), key=job_id)
    await kafka.send_event(ns.topic("jobs"), cloud_event("job.closed", {"job_id": "job-old"}, source="tests/ats"),
                           key="job-old")
    people = {"Lee Park": "lee@example.com", "Sam Rivera": "sam@example.com"}
    for name, email in people.items():
        await kafka.send_event(ns.topic("inquiries"), cloud_event("inquiry.received", {
            "job_id": "job-a", "board": "acme-board", "prospect": {"name": name, "email": email,
                                                                  "headline": f"{name}, engineer"}}), key=email)
    on_a = [ids.prospect_id("job-a", e) for e in people.values()]
    on_b = [ids.prospect_id("job-b", e) for e in people.values()]

    def view(job_id: str, name: str = "not_a_fit") -> list[str]:
        status, body = http_get(f"{rating.http}/prospect-ids?view={name}&job_id={job_id}", bearer)
        assert status in (200, 404), body  # 404: rating has not taken the job yet
        return list(body["ids"]) if status == 200 else []

    await eventually(lambda: len(view("job-a", "all")) == 2, timeout_s=90)
    command = rate(on_a, "not_a_fit")
    await kafka.send_event(ns.topic("rating-commands"), command, key=RECRUITER)
    await results_for(kafka, ns, {command["id"]})
    assert sorted(view("job-a")) == sorted(on_a)

    # The recruiter's tool: every not-a-fit of job A considered for job B.
    tool = cli(ns, rating)
    done = tool("suggest", "--to", "job-b", "--view", "not_a_fit", "--job", "job-a", "--recruiter", RECRUITER)
    assert done.returncode == 0, done.stderr
    assert "considered for job-b 2" in done.stdout
    await eventually(lambda: sorted(view("job-b", "needs_follow_up")) == sorted(on_b), timeout_s=90)
    status, lee = http_get(f"{rating.http}/prospects/{on_b[0]}", bearer)
    assert status == 200 and lee["rating"] == "unrated" and lee["board"] == "internal"
    assert lee["referred_from"] == {"job_id": "job-a", "prospect_id": on_a[0], "job_title": "Backend Engineer"}
    assert lee["headline"] == "Lee Park, engineer"  # the profile came along
    _, history = http_get(f"{rating.http}/prospects/{on_a[0]}/history", bearer)
    assert [(h["kind"], h.get("job_id")) for h in history if h["kind"] == "considered"] == [("considered", "job-b")]
    _, came = http_get(f"{rating.http}/prospects/{on_b[0]}/history", bearer)
    assert came[0]["kind"] == "inquiry" and came[0]["referred_from"]["prospect_id"] == on_a[0]

    # A new command for the same people, sent twice (a redelivery): they are on job B already.
    again = suggest(on_a, "job-b")
    await kafka.send_event(ns.topic("rating-commands"), again, key=RECRUITER)
    await kafka.send_event(ns.topic("rating-commands"), again, key=RECRUITER)
    answer = (await results_for(kafka, ns, {again["id"]}))[again["id"]]["data"]
    assert answer["accepted"] == [] and {r["reason"] for r in answer["rejected"]} == {"same_job"}  # on job B already
    await kafka.caught_up(ns, "intake")
    await kafka.caught_up(ns, "rating")
    assert sorted(view("job-b", "all")) == sorted(on_b)

    # Refused: another recruiter's job, a closed job, the job they are on.
    refused = {job: suggest(on_a[:1], job) for job in ("job-other", "job-old", "job-a")}
    for command in refused.values():
        await kafka.send_event(ns.topic("rating-commands"), command, key=RECRUITER)
    results = await results_for(kafka, ns, {c["id"] for c in refused.values()})
    reasons = {job: [r["reason"] for r in results[c["id"]]["data"]["rejected"]] for job, c in refused.items()}
    assert reasons == {"job-other": ["forbidden"], "job-old": ["job_closed"], "job-a": ["same_job"]}
