"""Messaging on the real stack and a real SMTP sink, driven through topics; the mails are read
back from the sink as a mail client would receive them."""

from __future__ import annotations

import json

from shared import ids
from tests.support import Kafka, Namespace, cloud_event, eventually, events, mails, mongo_count

RECRUITER = "rec-7"


def job(job_id: str = "job-42", recruiter: str = RECRUITER, **changes) -> dict:
    data = {"job_id": job_id, "title": "Backend Engineer", "company": "Acme", "location": "Berlin",
            "apply_url": "https://acme.example/jobs/42/apply", "interview_url": "https://acme.example/book/42",
            "recruiter": {"recruiter_id": recruiter, "name": "Dana Smith", "email": "dana@acme.example"}}
    data.update(changes)
    return cloud_event("job.opened", data, source="tests/ats")


def prospect(email: str, name: str = "Lee Park", job_id: str = "job-42") -> dict:
    return cloud_event("prospect.registered", {
        "prospect_id": ids.prospect_id(job_id, email), "person_id": ids.person_id(email), "job_id": job_id,
        "profile": {"name": name, "email": email}, "inquiry": {"board": "b", "inquired_at": "2026-11-20T09:00:00Z"}},
        source="prospectflow/intake")


def send(prospect_ids: list[str], template: str, note: str | None = None, recruiter: str = RECRUITER) -> dict:
    data = {"recruiter_id": recruiter, "template": template, "prospect_ids": prospect_ids}
    if note:
        data["note"] = note
    return cloud_event("messages.send", data, source="tests/app")


async def setup(ns: Namespace, kafka: Kafka, emails: list[str], **job_changes) -> list[str]:
    await kafka.send_event(ns.topic("jobs"), job(**job_changes), key="job-42")
    events_ = [prospect(e, name=f"Person {n}") for n, e in enumerate(emails)]
    await kafka.send_many(ns.topic("prospects"), [(e["data"]["prospect_id"], e) for e in events_])

    async def known() -> bool:
        return await mongo_count(ns.stack, ns.database("messaging"), "contacts") >= len(emails) and \
            await mongo_count(ns.stack, ns.database("messaging"), "jobs") >= 1
    assert await eventually(known, timeout_s=90)
    return [e["data"]["prospect_id"] for e in events_]


async def outcomes(kafka: Kafka, ns: Namespace, count: int, timeout_s: float = 120) -> list[dict]:
    return events(await kafka.read(ns.topic("messages"), count=count, timeout_s=timeout_s))


async def test_each_template_as_received(ns: Namespace, kafka: Kafka):
    ns.start("messaging", SMTP_SENDER="jobs@acme.example")
    tag = ns.name
    pids = await setup(ns, kafka, [f"{tag}-a@example.com", f"{tag}-b@example.com", f"{tag}-c@example.com"])
    note = "Hello {{ 7*7 }} <script>alert(1)</script>\nSee you"
    for pid, template in zip(pids, ["ask_to_apply", "arrange_interview", "not_a_match"]):
        await kafka.send_event(ns.topic("messaging-commands"), send([pid], template, note), key=RECRUITER)
    sent = await outcomes(kafka, ns, 3)
    assert sorted(e["data"]["template"] for e in sent) == ["arrange_interview", "ask_to_apply", "not_a_match"]
    assert all(e["type"] == "message.sent" for e in sent)
    received = {m["To"].addresses[0].addr_spec: m for m in mails(ns.stack.maildir, tag)}
    assert len(received) == 3
    apply_mail = received[f"{tag}-a@example.com"]
    assert apply_mail["From"].addresses[0].display_name == "Dana Smith"
    assert apply_mail["From"].addresses[0].addr_spec == "jobs@acme.example"
    assert apply_mail["Reply-To"].addresses[0].display_name == "Dana Smith"  # replies come back to us (test_inbound)
    assert apply_mail["Reply-To"].addresses[0].addr_spec.startswith("reply+")
    assert apply_mail["Subject"] == "Next step for the Backend Engineer role at Acme"
    message_id = next(e for e in sent if e["data"]["to"] == f"{tag}-a@example.com")["data"]["message_id"]
    assert apply_mail["Message-ID"] == f"<{message_id}@acme.example>"
    text = apply_mail.get_body(("plain",)).get_content()
    html = apply_mail.get_body(("html",)).get_content()
    assert text.startswith("Hi Person,") and "https://acme.example/jobs/42/apply" in text
    assert 'href="https://acme.example/jobs/42/apply"' in html
    unsubscribe = apply_mail["List-Unsubscribe"].strip("<>")
    assert unsubscribe in text and unsubscribe in html  # the visible line, in both parts
    assert "{{ 7*7 }}" in text and "49" not in text.replace(unsubscribe, "")
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "https://acme.example/book/42" in received[f"{tag}-b@example.com"].get_body(("plain",)).get_content()
    assert "another role" in received[f"{tag}-c@example.com"].get_body(("plain",)).get_content()


async def test_rejections_and_a_permanent_refusal(ns: Namespace, kafka: Kafka):
    ns.start("messaging", MESSAGING_INBOUND_DOMAIN="")  # no inbound domain: replies go to the recruiter
    tag = ns.name
    pids = await setup(ns, kafka, [f"{tag}-ok@example.com", f"{tag}-out@example.com", f"reject-{tag}@example.com"],
                       apply_url=None)
    await kafka.send_event(ns.topic("opt-outs"), cloud_event("prospect.opted_out", {"email": f"{tag}-OUT@example.com"}),
                           key=f"{tag}-out@example.com")
    await kafka.caught_up(ns, "messaging")  # the opt-out is known
    ok, opted_out, refused = pids
    first = send([ok, opted_out, refused, "nobody"], "arrange_interview")
    missing = send([ok], "ask_to_apply")
    foreign = send([ok], "not_a_match", recruiter="rec-other")
    for command in (first, missing, foreign):
        await kafka.send_event(ns.topic("messaging-commands"), command, key=command["data"]["recruiter_id"])
    results = {e["data"]["command_id"]: e["data"] for e in events(
        await kafka.read(ns.topic("command-results"), count=3, timeout_s=90))}
    assert results[first["id"]]["accepted"] == [ok, refused]
    assert results[first["id"]]["rejected"] == [{"prospect_id": opted_out, "reason": "opted_out"},
                                                {"prospect_id": "nobody", "reason": "unknown_prospect"}]
    assert results[missing["id"]]["rejected"] == [{"prospect_id": ok, "reason": "missing_link"}]
    assert results[foreign["id"]]["rejected"] == [{"prospect_id": ok, "reason": "forbidden"}]
    done = {e["data"]["prospect_id"]: e for e in await outcomes(kafka, ns, 2)}
    assert done[ok]["type"] == "message.sent"
    assert done[refused]["type"] == "message.failed" and done[refused]["data"]["permanent"] is True
    assert "550" in done[refused]["data"]["reason"]
    received = mails(ns.stack.maildir, tag)
    assert len(received) == 1  # nothing to the opted-out person
    assert received[0]["Reply-To"].addresses[0].addr_spec == "dana@acme.example"


async def test_a_thousand_mails_once_each_even_when_redelivered(ns: Namespace, kafka: Kafka):
    ns.start("messaging")
    tag = ns.name
    pids = await setup(ns, kafka, [f"{tag}-{n}@example.com" for n in range(1000)])
    command = send(pids, "not_a_match")
    await kafka.send_event(ns.topic("messaging-commands"), command, key=RECRUITER)
    sent = await outcomes(kafka, ns, 1000, timeout_s=300)
    assert {e["type"] for e in sent} == {"message.sent"} and len({e["id"] for e in sent}) == 1000
    await kafka.send_event(ns.topic("messaging-commands"), command, key=RECRUITER)  # redelivered
    await kafka.caught_up(ns, "messaging", timeout_s=120)  # the redelivery is done
    received = mails(ns.stack.maildir, tag)
    assert len(received) == 1000
    assert len({str(m["To"]) for m in received}) == 1000
    results = await kafka.read_to_end(ns.topic("command-results"))
    assert len(results) == 1 and json.loads(results[0].value)["data"]["accepted"] == pids


async def test_smtp_outage_delays_and_loses_nothing(ns: Namespace, kafka: Kafka, private_smtp):
    messaging = ns.start("messaging", SMTP_PORT=str(private_smtp.port), MESSAGING_RETRY_MAX_BACKOFF_S="0.5")
    tag = ns.name
    pids = await setup(ns, kafka, [f"{tag}-{n}@example.com" for n in range(20)])
    private_smtp.stop()
    await kafka.send_event(ns.topic("messaging-commands"), send(pids, "not_a_match"), key=RECRUITER)
    messaging.wait_for_log("smtp is failing", timeout_s=60)  # it tried, and the sink is down
    assert await kafka.read_to_end(ns.topic("messages")) == []
    private_smtp.start()
    sent = await outcomes(kafka, ns, 20, timeout_s=90)
    assert {e["type"] for e in sent} == {"message.sent"}
    assert len({str(m["To"]) for m in mails(private_smtp.maildir, tag)}) == 20
    # the outage is two lines, not one per message and attempt
    assert messaging.log().count("smtp is failing") == 1 and messaging.log().count("smtp answers again") == 1
    assert "sending failed, retrying" not in messaging.log()


async def test_killed_midway_every_prospect_mailed_once(ns: Namespace, kafka: Kafka):
    """SIGKILL in the middle of a 1,000 send, then a restart: every prospect gets their mail,
    and nobody gets two different ones. A mail the server accepted in the last instants before
    the kill (at most one chunk of 50 without a recorded result) is sent again with the same
    Message-ID, which mail clients treat as one message."""
    messaging = ns.start("messaging")
    tag = ns.name
    pids = await setup(ns, kafka, [f"{tag}-{n}@example.com" for n in range(1000)])
    await kafka.send_event(ns.topic("messaging-commands"), send(pids, "not_a_match"), key=RECRUITER)
    assert await eventually(lambda: len(mails(ns.stack.maildir, tag)) >= 300, timeout_s=180, interval_s=0.05)
    messaging.kill()
    messaging.start()
    # After a crash an event may be published again, always with the same id: wait for every
    # prospect, not for 1,000 records.
    sent = events(await kafka.read(ns.topic("messages"), timeout_s=300, until=lambda records: len(
        {e["data"]["prospect_id"] for e in events(records) if e["type"] == "message.sent"}) >= 1000))
    assert len({e["data"]["prospect_id"] for e in sent if e["type"] == "message.sent"}) == 1000
    ids_by_prospect: dict[str, set[str]] = {}
    for e in sent:
        ids_by_prospect.setdefault(e["data"]["prospect_id"], set()).add(e["id"])
    assert all(len(event_ids) == 1 for event_ids in ids_by_prospect.values())  # a repeat keeps its id
    received = mails(ns.stack.maildir, tag)
    by_recipient: dict[str, set[str]] = {}
    for mail in received:
        by_recipient.setdefault(str(mail["To"].addresses[0].addr_spec), set()).add(mail["Message-ID"])
    assert len(by_recipient) == 1000
    assert all(len(message_ids) == 1 for message_ids in by_recipient.values())
    assert len(received) - 1000 <= 50, f"{len(received) - 1000} resent"


async def test_a_recruiters_own_template_is_checked_when_saved_and_sent_only_by_them(ns: Namespace, kafka: Kafka):
    import httpx

    from tests.support import token

    messaging = ns.start("messaging")
    tag = ns.name
    [pid] = await setup(ns, kafka, [f"{tag}-a@example.com"])
    mine = {"Authorization": f"Bearer {token(ns.jwt_secret, RECRUITER)}"}
    url = f"{messaging.http}/v1/templates"

    messaging.wait_for_log("Uvicorn running")
    refused = httpx.post(url, headers=mine, json={"name": "Bad", "subject": "Hi", "text": "Hello\n{{ job.nope }}"})
    assert refused.status_code == 422 and "the text, line 2" in refused.json()["detail"]
    created = httpx.post(url, headers=mine, json={
        "name": "Still keen?", "subject": "About the {{ job.title }} role",
        "text": "Hi {{ prospect.first_name }},\n\nare you still interested in {{ job.title }}?"})
    assert created.status_code == 201, created.text
    custom = f"custom:{created.json()['template_id']}"
    preview = httpx.post(f"{messaging.http}/preview", headers=mine, json={"template": custom, "prospect_ids": [pid]})
    assert preview.json()["mail"]["subject"] == "About the Backend Engineer role"

    await kafka.send_event(ns.topic("messaging-commands"), send([pid], custom, recruiter="rec-8"), key="rec-8")
    await kafka.send_event(ns.topic("messaging-commands"), send([pid], custom), key=RECRUITER)
    [sent] = await outcomes(kafka, ns, 1)
    assert sent["type"] == "message.sent" and sent["data"]["template"] == custom
    [mail] = mails(ns.stack.maildir, tag)
    assert mail["Subject"] == "About the Backend Engineer role"
    assert "are you still interested in Backend Engineer?" in mail.get_body(("plain",)).get_content()
    results = events(await kafka.read(ns.topic("command-results"), count=2, timeout_s=60))
    theirs = next(r["data"] for r in results if r["data"]["recruiter_id"] == "rec-8")
    assert theirs["rejected"] == [{"prospect_id": pid, "reason": "unknown_template"}]
    other = {"Authorization": f"Bearer {token(ns.jwt_secret, 'rec-8')}"}
    assert httpx.get(f"{url}/{created.json()['template_id']}", headers=other).status_code == 404
    assert httpx.delete(f"{url}/{created.json()['template_id']}", headers=mine).status_code == 204
    assert httpx.get(url, headers=mine).json() == []
