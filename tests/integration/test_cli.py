"""The `prospectflow` tool as a user runs it (a process, its output and exit code), against the
real stack and the real services."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import Kafka, Namespace, cloud_event, cli, eventually, events, headers, mails

pytestmark = pytest.mark.stack

RECRUITER = "rec-cli"


def job(job_id: str = "job-cli", recruiter_id: str = RECRUITER) -> dict:
    return {"job_id": job_id, "title": "Data Engineer", "company": "Acme",
            "apply_url": "https://acme.example/apply", "recruiter": {
                "recruiter_id": recruiter_id, "name": "Dana Smith", "email": "dana@acme.example"}}


def inquiry(n: int, job_id: str = "job-cli", **overrides: object) -> dict:
    return {"job_id": job_id, "board": "cli-board", "board_inquiry_id": f"C-{n}",
            "prospect": {"name": f"Person {n}", "email": f"person{n}@{job_id}.example"}, **overrides}


async def test_publish_list_rate_and_send_a_whole_view(ns: Namespace, kafka: Kafka, tmp_path: Path):
    ns.start("intake")
    rating = ns.start("rating")
    ns.start("messaging")
    rating.wait_for_log("Uvicorn running")
    run = cli(ns, rating)
    job_id = f"job-{ns.name}"  # mail addresses unique to this test: the sink outlives it
    (tmp_path / "job.json").write_text(json.dumps(job(job_id), indent=2))  # one pretty-printed object
    (tmp_path / "inquiries.jsonl").write_text("\n".join(json.dumps(inquiry(n, job_id)) for n in range(3)) + "\n")

    published = run("publish", "job", str(tmp_path / "job.json"))
    assert published.returncode == 0, published.stderr
    assert f"job.opened for {job_id}" in published.stdout
    published = run("publish", "inquiries", str(tmp_path / "inquiries.jsonl"), "--json")
    assert published.returncode == 0, published.stderr
    assert json.loads(published.stdout)["published"] == 3
    one = run("publish", "inquiry", "--job", job_id, "--board", "other", "--name", "Person 3",
              "--email", f"person3@{job_id}.example", "--message", "Hello")
    assert one.returncode == 0, one.stderr

    # The recruiter's needs-follow-up list fills as intake and rating do their part.
    listed = await eventually(lambda: len(run.json("prospects", "--recruiter", RECRUITER)) == 4 or None, timeout_s=90)
    assert listed
    table = run("prospects", "--recruiter", RECRUITER, "--view", "needs_follow_up")
    assert table.returncode == 0 and "Person 3" in table.stdout and f"person0@{job_id}.example" in table.stdout
    ids = [p["prospect_id"] for p in run.json("prospects", "--recruiter", RECRUITER)]

    # Rate two by id, one of them twice in the list; an unknown id is rejected with exit code 3.
    rated = run("rate", "shortlist", ids[0], ids[1], ids[0], "--recruiter", RECRUITER, "--json")
    assert rated.returncode == 0, rated.stderr
    assert sorted(json.loads(rated.stdout)["accepted"]) == sorted(ids[:2])
    partly = run("rate", "not_a_fit", ids[2], "no-such-prospect", "--recruiter", RECRUITER)
    assert partly.returncode == 3
    assert "rated 1, rejected 1" in partly.stdout and "no-such-prospect: unknown_prospect" in partly.stdout
    # Another recruiter cannot rate these.
    forbidden = run("rate", "shortlist", ids[3], "--recruiter", "rec-other", "--json")
    assert forbidden.returncode == 3
    assert json.loads(forbidden.stdout)["rejected"] == [{"prospect_id": ids[3], "reason": "forbidden"}]

    shortlist = run.json("prospects", "--recruiter", RECRUITER, "--view", "shortlist")
    assert sorted(p["prospect_id"] for p in shortlist) == sorted(ids[:2])

    # "Select all" in the shortlist -> ask to apply: both mailed, each once.
    sent = run("send", "ask_to_apply", "--view", "shortlist", "--job", job_id, "--recruiter", RECRUITER,
               "--note", "See you soon", "--json")
    assert sent.returncode == 0, sent.stderr
    outcome = json.loads(sent.stdout)
    assert sorted(outcome["accepted"]) == sorted(ids[:2]) and len(outcome["sent"]) == 2
    for message in outcome["sent"]:
        received = mails(ns.stack.maildir, message["to"])
        assert len(received) == 1 and "See you soon" in received[0].get_body(("plain",)).get_content()
    shown = run("mails", "--to", outcome["sent"][0]["to"], "--body")
    assert shown.returncode == 0 and "Subject: Next step for the Data Engineer role at Acme" in shown.stdout

    # The sent messages flag both as followed up; flag --off brings one back.
    await eventually(lambda: len(run.json("prospects", "--recruiter", RECRUITER)) == 2 or None, timeout_s=60)
    unflagged = run("flag", ids[0], "--off", "--recruiter", RECRUITER)
    assert unflagged.returncode == 0 and "unflagged 1" in unflagged.stdout
    waiting = run.json("prospects", "--recruiter", RECRUITER)
    assert ids[0] in {p["prospect_id"] for p in waiting}

    # An empty view is an error a person understands, not an empty command; so is another's job.
    empty = run("send", "not_a_match", "--view", "not_a_fit", "--recruiter", "rec-nobody")
    assert empty.returncode == 1 and "no prospects in not_a_fit: nothing to do" in empty.stderr
    theirs = run("send", "not_a_match", "--view", "not_a_fit", "--job", job_id, "--recruiter", "rec-nobody")
    assert theirs.returncode == 1 and "answered 404: no such job among yours" in theirs.stderr


async def test_dead_letters_are_listed_fixed_and_replayed_once(ns: Namespace, kafka: Kafka, tmp_path: Path):
    ns.start("intake")
    run = cli(ns)
    bad = cloud_event("inquiry.received", inquiry(7, prospect={"name": "Pat", "email": "pat(at)example.com"}),
                      id="inq-bad-7")
    await kafka.send_event(ns.topic("inquiries"), bad, key="pat")
    await kafka.send_raw(ns.topic("inquiries"), b"{not json", key="x")

    letters = await eventually(lambda: (found := run.json("dlq", "list", "inquiries")) and len(found) == 2 and found,
                               timeout_s=60)
    by_reason = {letter["reason"]: letter for letter in letters}
    assert set(by_reason) == {"invalid_data", "not_json"}
    assert "prospect.email" in by_reason["invalid_data"]["error"]
    assert by_reason["invalid_data"]["service"] == "intake" and by_reason["invalid_data"]["replayed"] is None
    listing = run("dlq", "list")
    assert listing.returncode == 0 and "inquiries.dlq" in listing.stdout and "invalid_data" in listing.stdout

    # Fixed by hand and replayed: processed like a new inquiry, with the event's own id.
    fixed = json.loads(by_reason["invalid_data"]["value"])
    fixed["data"]["prospect"]["email"] = "pat@example.com"
    (tmp_path / "fixed.json").write_text(json.dumps(fixed))
    ref = by_reason["invalid_data"]["ref"]
    replayed = run("dlq", "replay", "inquiries", ref, "--fixed-value", str(tmp_path / "fixed.json"))
    assert replayed.returncode == 0, replayed.stderr
    assert f"replayed inquiries.dlq {ref} -> {ns.topic('inquiries')}" in replayed.stdout
    registered = await kafka.read(ns.topic("prospects"), count=1, timeout_s=60)
    assert [e["data"]["profile"]["email"] for e in events(registered)] == ["pat@example.com"]

    # Not twice by accident: the same ref again, and --all, skip what was replayed.
    again = run("dlq", "replay", "inquiries", ref)
    assert again.returncode == 0 and f"skipped inquiries.dlq {ref}: replayed already" in again.stdout
    everything = run.json("dlq", "replay", "inquiries", "--all", "--reason", "invalid_data")
    assert everything["replayed"] == [] and [s["ref"] for s in everything["skipped"]] == [ref]
    on_topic = await kafka.read(ns.topic("inquiries"), count=4, timeout_s=3)
    assert len(on_topic) == 3  # the two bad ones and one replay
    replay_record = next(r for r in on_topic if headers(r).get("x-replayed-from"))
    assert headers(replay_record)["x-replayed-from"] == f"inquiries.dlq:{ref}" and replay_record.key == b"pat"
    assert headers(replay_record)["content-type"] == "application/cloudevents+json"  # the original's headers
    assert not any(k.startswith("x-dlq-") for k in headers(replay_record))

    # The list says what was replayed; --pending leaves it out.
    pending = run.json("dlq", "list", "inquiries", "--pending")
    assert [letter["reason"] for letter in pending] == ["not_json"]

    missing = run("dlq", "replay", "inquiries", "5:999")
    assert missing.returncode == 1 and "no dead letter 5:999" in missing.stderr


async def test_bad_input_gets_a_clear_error_and_publishes_nothing(ns: Namespace, kafka: Kafka, tmp_path: Path):
    run = cli(ns)
    unknown_view = run("prospects", "--recruiter", RECRUITER, "--view", "favourites")
    assert unknown_view.returncode == 2
    assert "'favourites' is not one of 'needs_follow_up', 'replied', 'shortlist', 'not_a_fit', 'all'" in unknown_view.stderr

    lines = [json.dumps(inquiry(1)), json.dumps(inquiry(2, prospect={"name": "No Mail"})), "", "{oops",
             json.dumps(inquiry(3))]
    (tmp_path / "inquiries.jsonl").write_text("\n".join(lines) + "\n")
    malformed = run("publish", "inquiries", str(tmp_path / "inquiries.jsonl"))
    assert malformed.returncode == 1
    assert "2 of 4 inquiries are not valid; nothing was published" in malformed.stderr
    assert "line 2: prospect.email: Field required" in malformed.stderr
    assert "line 4: not JSON" in malformed.stderr

    unreachable = cli(ns, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")("publish", "inquiries", str(tmp_path / "ok.jsonl"))
    assert unreachable.returncode == 2 and "does not exist" in unreachable.stderr  # the file, checked first
    (tmp_path / "ok.jsonl").write_text(json.dumps(inquiry(1)) + "\n")
    unreachable = cli(ns, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")("publish", "inquiries", str(tmp_path / "ok.jsonl"))
    assert unreachable.returncode == 1
    assert "cannot reach Kafka at 127.0.0.1:1 (KAFKA_BOOTSTRAP_SERVERS)" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr

    # No service has created this namespace's topics: the tool says so rather than hanging.
    no_topics = run("publish", "inquiries", str(tmp_path / "ok.jsonl"))
    assert no_topics.returncode == 1
    assert f"topic {ns.topic('inquiries')} does not exist" in no_topics.stderr and "make run" in no_topics.stderr

    no_api = cli(ns, PROSPECTFLOW_API_URL="http://127.0.0.1:1")("prospects", "--recruiter", RECRUITER)
    assert no_api.returncode == 1 and "cannot reach the rating API at http://127.0.0.1:1" in no_api.stderr
