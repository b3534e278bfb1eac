"""Rating on the real stack, driven only through topics: jobs, prospects and messages in,
commands in, assessments and command results out."""

from __future__ import annotations

import json
import uuid

from shared import ids
from tests.support import Kafka, Namespace, cloud_event, eventually, events, headers, mongo_count

RECRUITER = "rec-7"


def job_opened(job_id: str = "job-42", recruiter: str = RECRUITER, type: str = "job.opened") -> dict:
    return cloud_event(type, {
        "job_id": job_id, "title": "Backend Engineer", "company": "Acme",
        "apply_url": "https://acme.example/jobs/42/apply",
        "recruiter": {"recruiter_id": recruiter, "name": "Dana Smith", "email": "dana@acme.example",
                      "timezone": "Europe/Berlin", "reminder_hour": 8}}, source="tests/ats")


def prospect_event(email: str, job_id: str = "job-42", type: str = "prospect.registered",
                   inquired_at: str = "2026-11-20T09:29:00Z") -> dict:
    pid = ids.prospect_id(job_id, email)
    return cloud_event(type, {
        "prospect_id": pid, "person_id": ids.person_id(email), "job_id": job_id,
        "profile": {"name": email.split("@")[0], "email": email},
        "inquiry": {"board": "acme-board", "inquired_at": inquired_at}}, source="prospectflow/intake")


def rate(prospect_ids: list[str], rating: str, recruiter: str = RECRUITER, id: str | None = None) -> dict:
    return cloud_event("prospects.rate", {"recruiter_id": recruiter, "prospect_ids": prospect_ids, "rating": rating},
                       id=id or str(uuid.uuid4()), source="tests/app")


def flag(prospect_ids: list[str], flagged: bool, recruiter: str = RECRUITER) -> dict:
    return cloud_event("prospects.flag_follow_up", {"recruiter_id": recruiter, "prospect_ids": prospect_ids,
                                                    "flagged": flagged}, source="tests/app")


async def on_board(ns: Namespace, count: int, query: dict | None = None) -> None:
    """Wait until rating's board holds `count` prospects (matching `query`): a recruiter app
    acts only on prospects it has seen on the board."""
    async def enough() -> bool:
        return await mongo_count(ns.stack, ns.database("rating"), "board", query) >= count
    assert await eventually(enough, timeout_s=90), "the board never filled"


async def results_for(kafka: Kafka, ns: Namespace, command_ids: set[str], timeout_s: float = 60) -> dict[str, dict]:
    records = await kafka.read(
        ns.topic("command-results"), timeout_s=timeout_s,
        until=lambda rs: command_ids <= {json.loads(r.value)["data"]["command_id"] for r in rs})
    return {e["data"]["command_id"]: e for e in events(records)}


async def test_inquiry_to_board_to_rating(ns: Namespace, kafka: Kafka):
    ns.start("intake")
    ns.start("rating")
    await kafka.send_event(ns.topic("jobs"), job_opened(), key="job-42")
    inquiry = cloud_event("inquiry.received", {"job_id": "job-42", "board": "acme-board",
                                               "prospect": {"name": "Lee Park", "email": "Lee.Park@example.com"}})
    await kafka.send_event(ns.topic("inquiries"), inquiry, key="lee.park@example.com")
    pid = ids.prospect_id("job-42", "lee.park@example.com")
    await on_board(ns, 1, {"_id": pid, "recruiter_id": RECRUITER})

    command = rate([pid], "shortlist")
    await kafka.send_event(ns.topic("rating-commands"), command, key=RECRUITER)
    result = (await results_for(kafka, ns, {command["id"]}))[command["id"]]
    assert result["data"]["accepted"] == [pid] and result["data"]["rejected"] == []
    assert result["data"]["command_type"] == "prospects.rate" and result["correlationid"] == command["id"]
    rated = events(await kafka.read(ns.topic("assessments"), count=1, timeout_s=30))
    assert [(e["type"], e["data"]["rating"], e["data"]["previous_rating"]) for e in rated] == [
        ("prospect.rated", "shortlist", "unrated")]
    assert rated[0]["data"]["recruiter_id"] == RECRUITER and rated[0]["data"]["command_id"] == command["id"]


async def test_bulk_rate_of_500_and_rejections(ns: Namespace, kafka: Kafka):
    ns.start("rating")
    await kafka.send_event(ns.topic("jobs"), job_opened(), key="job-42")
    await kafka.send_event(ns.topic("jobs"), job_opened("job-99", recruiter="rec-other"), key="job-99")
    mine = [prospect_event(f"p{n}@example.com") for n in range(500)]
    theirs = prospect_event("x@example.com", job_id="job-99")
    await kafka.send_many(ns.topic("prospects"), [(e["data"]["prospect_id"], e) for e in [*mine, theirs]])
    my_ids = [e["data"]["prospect_id"] for e in mine]
    their_id = theirs["data"]["prospect_id"]
    await on_board(ns, 501, {"job_open": True})

    command = rate([*my_ids, their_id, "no-such-prospect"], "not_a_fit")
    other = rate(my_ids[:3], "shortlist", recruiter="rec-other")
    await kafka.send_event(ns.topic("rating-commands"), command, key=RECRUITER)
    await kafka.send_event(ns.topic("rating-commands"), other, key="rec-other")
    results = await results_for(kafka, ns, {command["id"], other["id"]}, timeout_s=120)
    mine_result = results[command["id"]]["data"]
    assert mine_result["accepted"] == my_ids
    assert mine_result["rejected"] == [{"prospect_id": their_id, "reason": "forbidden"},
                                       {"prospect_id": "no-such-prospect", "reason": "unknown_prospect"}]
    assert results[other["id"]]["data"]["accepted"] == []
    assert {r["reason"] for r in results[other["id"]]["data"]["rejected"]} == {"forbidden"}
    await kafka.read(ns.topic("assessments"), count=500, timeout_s=60)
    await kafka.caught_up(ns, "rating")
    rated = events(await kafka.read_to_end(ns.topic("assessments")))
    assert len(rated) == 500 and {e["data"]["rating"] for e in rated} == {"not_a_fit"}


async def test_same_command_twice_one_result_one_change(ns: Namespace, kafka: Kafka):
    ns.start("rating")
    await kafka.send_event(ns.topic("jobs"), job_opened(), key="job-42")
    prospect = prospect_event("lee@example.com")
    pid = prospect["data"]["prospect_id"]
    await kafka.send_event(ns.topic("prospects"), prospect, key=pid)
    await on_board(ns, 1, {"job_open": True})
    command = rate([pid], "shortlist")
    await kafka.send_event(ns.topic("rating-commands"), command, key=RECRUITER)
    await kafka.send_event(ns.topic("rating-commands"), command, key=RECRUITER)  # redelivered
    again = rate([pid], "shortlist")  # a new command that changes nothing
    await kafka.send_event(ns.topic("rating-commands"), again, key=RECRUITER)
    await kafka.read(ns.topic("command-results"), count=2, timeout_s=60)
    await kafka.caught_up(ns, "rating")
    records = await kafka.read_to_end(ns.topic("command-results"))
    assert sorted(e["data"]["command_id"] for e in events(records)) == sorted([command["id"], again["id"]])
    rated = await kafka.read_to_end(ns.topic("assessments"))
    assert len(rated) == 1


async def lee_on_board_and_mailed(ns: Namespace, kafka: Kafka) -> tuple[str, dict]:
    """Lee inquired about job 42 (on the board), then messaging reports a mail sent to Lee."""
    await kafka.send_event(ns.topic("jobs"), job_opened(), key="job-42")
    prospect = prospect_event("lee@example.com")
    pid = prospect["data"]["prospect_id"]
    await kafka.send_event(ns.topic("prospects"), prospect, key=pid)
    await on_board(ns, 1, {"job_open": True})
    sent = cloud_event("message.sent", {
        "message_id": ids.derive("m", pid), "command_id": "cmd-1", "prospect_id": pid, "job_id": "job-42",
        "recruiter_id": RECRUITER, "template": "ask_to_apply", "to": "lee@example.com",
        "subject": "Your application", "sent_at": "2026-11-25T10:00:00Z"}, source="prospectflow/messaging")
    await kafka.send_event(ns.topic("messages"), sent, key=pid)
    return pid, prospect


async def test_flag_set_by_message_kept_on_redelivery_cleared_by_new_inquiry(ns: Namespace, kafka: Kafka):
    ns.start("rating")
    pid, prospect = await lee_on_board_and_mailed(ns, kafka)
    await kafka.read(ns.topic("assessments"), count=1, timeout_s=60)
    # The registration delivered again (same id) changes nothing: it is not a new inquiry.
    await kafka.send_event(ns.topic("prospects"), prospect, key=pid)
    again = prospect_event("lee@example.com", type="prospect.inquired_again", inquired_at="2026-11-26T09:00:00Z")
    await kafka.send_event(ns.topic("prospects"), again, key=pid)
    await kafka.read(ns.topic("assessments"), count=2, timeout_s=60)
    await kafka.caught_up(ns, "rating")
    changes = events(await kafka.read_to_end(ns.topic("assessments")))
    assert [(e["data"]["flagged"], e["data"]["cause"]) for e in changes] == [(True, "message_sent"), (False, "new_inquiry")]
    assert changes[1]["correlationid"] == again["id"]  # caused by the new inquiry, not by the redelivery
    assert changes[0]["data"]["command_id"] == "cmd-1"


async def test_out_of_order_job_and_closed_job(ns: Namespace, kafka: Kafka):
    ns.start("rating")
    early = prospect_event("early@example.com", job_id="job-late")
    pid = early["data"]["prospect_id"]
    await kafka.send_event(ns.topic("prospects"), early, key=pid)  # before its job
    await on_board(ns, 1)
    first = flag([pid], True)
    await kafka.send_event(ns.topic("rating-commands"), first, key=RECRUITER)
    assert (await results_for(kafka, ns, {first["id"]}))[first["id"]]["data"]["rejected"][0]["reason"] == "forbidden"
    await kafka.send_event(ns.topic("jobs"), job_opened("job-late"), key="job-late")
    await on_board(ns, 1, {"job_open": True})
    second = flag([pid], True)
    await kafka.send_event(ns.topic("rating-commands"), second, key=RECRUITER)
    assert (await results_for(kafka, ns, {second["id"]}))[second["id"]]["data"]["accepted"] == [pid]
    await kafka.send_event(ns.topic("jobs"), cloud_event("job.closed", {"job_id": "job-late"}), key="job-late")
    await on_board(ns, 1, {"job_open": False})
    third = rate([pid], "shortlist")
    await kafka.send_event(ns.topic("rating-commands"), third, key=RECRUITER)
    assert (await results_for(kafka, ns, {third["id"]}))[third["id"]]["data"]["rejected"] == [
        {"prospect_id": pid, "reason": "job_closed"}]


async def test_malformed_commands_are_dead_lettered(ns: Namespace, kafka: Kafka):
    ns.start("rating")
    bad_rating = rate(["p"], "maybe")
    too_many = rate(["p"] * 1001, "shortlist")
    await kafka.send_event(ns.topic("rating-commands"), bad_rating, key=RECRUITER)
    await kafka.send_event(ns.topic("rating-commands"), too_many, key=RECRUITER)
    await kafka.send_raw(ns.topic("rating-commands"), b"nope", key=RECRUITER)
    good = rate(["unknown-one"], "shortlist")
    await kafka.send_event(ns.topic("rating-commands"), good, key=RECRUITER)
    dead = await kafka.read(ns.topic("rating-commands.dlq"), count=3, timeout_s=60)
    assert sorted(headers(r)["x-dlq-reason"] for r in dead) == ["invalid_data", "invalid_data", "not_json"]
    assert (await results_for(kafka, ns, {good["id"]}))[good["id"]]["data"]["rejected"] == [
        {"prospect_id": "unknown-one", "reason": "unknown_prospect"}]


async def test_views_over_http(ns: Namespace, kafka: Kafka):
    from tests.support import http_get, token

    rating = ns.start("rating")
    await kafka.send_event(ns.topic("jobs"), job_opened(), key="job-42")
    await kafka.send_event(ns.topic("jobs"), job_opened("job-99", recruiter="rec-other"), key="job-99")
    prospects = [prospect_event(f"v{n}@example.com", inquired_at=f"2026-11-2{n}T09:00:00Z") for n in range(5)]
    foreign = prospect_event("f@example.com", job_id="job-99")
    await kafka.send_many(ns.topic("prospects"), [(e["data"]["prospect_id"], e) for e in [*prospects, foreign]])
    await on_board(ns, 6, {"job_open": True})
    pids = [e["data"]["prospect_id"] for e in prospects]  # oldest first
    for command in (rate(pids[:2], "shortlist"), rate(pids[2:3], "not_a_fit"), flag(pids[:1], True)):
        await kafka.send_event(ns.topic("rating-commands"), command, key=RECRUITER)
        await results_for(kafka, ns, {command["id"]})
    rating.wait_for_log("Uvicorn running")
    mine = token(ns.jwt_secret, RECRUITER)

    def view(name: str, **params) -> list[str]:
        query = "&".join(f"{k}={v}" for k, v in {"view": name, **params}.items())
        code, body = http_get(f"{rating.http}/prospects?{query}", mine)
        assert code == 200, body
        return [item["prospect_id"] for item in body["items"]]

    assert view("needs_follow_up") == pids[1:]
    assert view("shortlist") == pids[:2]
    assert view("not_a_fit") == [pids[2]]
    assert view("all") == pids
    code, first = http_get(f"{rating.http}/prospects?view=all&limit=2", mine)
    code, second = http_get(f"{rating.http}/prospects?view=all&limit=2&cursor={first['next_cursor']}", mine)
    assert [i["prospect_id"] for i in first["items"] + second["items"]] == pids[:4]
    assert first["items"][0]["name"] == "v0" and first["items"][0]["rating"] == "shortlist"
    code, one = http_get(f"{rating.http}/prospects/{pids[2]}", mine)
    assert code == 200 and one["rating"] == "not_a_fit" and one["needs_follow_up"] is True
    assert http_get(f"{rating.http}/prospects/{foreign['data']['prospect_id']}", mine)[0] == 404  # not theirs
    assert http_get(f"{rating.http}/prospects/no-such-id", mine)[0] == 404
    code, summary = http_get(f"{rating.http}/summary", mine)
    assert summary["views"] == {"needs_follow_up": 4, "replied": 0, "shortlist": 2, "not_a_fit": 1, "all": 5}

    assert http_get(f"{rating.http}/prospects", None)[0] == 401
    assert http_get(f"{rating.http}/prospects", token("wrong-secret-that-is-long-enough-for-hs256", RECRUITER))[0] == 401
    assert http_get(f"{rating.http}/prospects?job_id=job-99", mine)[0] == 404
    code, theirs = http_get(f"{rating.http}/prospects?view=all", token(ns.jwt_secret, "rec-other"))
    assert [i["prospect_id"] for i in theirs["items"]] == [foreign["data"]["prospect_id"]]
    assert http_get(f"{rating.http}/health")[0] == 200 and http_get(f"{rating.http}/ready")[0] == 200
    code, openapi = http_get(f"{rating.http}/openapi.json")
    assert "/prospects" in openapi["paths"]
