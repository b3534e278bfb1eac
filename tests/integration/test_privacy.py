"""Forgetting a person on the real stack, every service that holds personal data running as a
process: a person with a résumé (through the Indeed gateway), a message, a reply, a sequence
and a webhook endpoint listening is exported whole with `prospectflow privacy export`, then erased with `prospectflow privacy erase`; every service
answers; a scan of every database (GridFS included) finds nothing of them; the résumé and the
prospect are 404, a send to the old id is `unknown_prospect`, the endpoint heard `person.erased`.
An opted-out person erased and inquiring again is never mailed; an inquiry on its way when the
erasure is done leaves nothing."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from bson import json_util
from pymongo import AsyncMongoClient

from prospectflow.boards import load_sample
from shared import ids, topics
from tests.integration.test_gateway import Gateway, application, post
from tests.integration.test_webhooks import Receiver
from tests.support import Kafka, Namespace, cli, cloud_event, eventually, events, http_get, mails, token

RECRUITER = "rec-7"
INES = "ines.moreau@example.com"  # the Indeed sample's applicant, with a PDF résumé


async def everything_about(ns: Namespace, needles: list[str]) -> list[str]:
    """Every document of every database of this test that names one of `needles` (as text, any
    case): `<database>.<collection>: <needle>`. The notes of who was erased (`erased`, their
    pseudonymous ids only) are left out of the ids' search, not of the address's; so are the
    webhook deliveries of `person.erased` (recruiter apps forget the person by that id)."""
    client: AsyncMongoClient = AsyncMongoClient(ns.stack.mongodb_uri)
    found = []
    try:
        for name in await client.list_database_names():
            if ns.name not in name:
                continue
            database = client[name]
            for collection in await database.list_collection_names():
                # The erasure notices themselves name the person's pseudonymous id: recruiter apps forget by it.
                async for doc in database[collection].find({"event_type": {"$ne": "person.erased"}}):
                    text = json_util.dumps(doc).lower()
                    if collection == "resumes.chunks":
                        text += bytes(doc.get("data", b"")).decode("latin-1").lower()
                    for needle in needles:
                        if needle.lower() in text and not (collection == "erased" and "@" not in needle):
                            found.append(f"{name}.{collection}: {needle}")
    finally:
        await client.close()
    return sorted(set(found))


async def send(kafka: Kafka, ns: Namespace, template: str, prospect_ids: list[str]) -> dict[str, Any]:
    command = cloud_event("messages.send", {"recruiter_id": RECRUITER, "template": template, "prospect_ids": prospect_ids},
                          id=str(uuid.uuid4()), source="tests/app")
    await kafka.send_event(ns.topic("messaging-commands"), command, key=RECRUITER)
    records = await kafka.read(ns.topic("command-results"), timeout_s=90,
                               until=lambda rs: any(command["id"] in r.value.decode() for r in rs))
    return next(e["data"] for e in events(records) if e["data"]["command_id"] == command["id"])


async def test_a_person_is_exported_whole_then_erased_everywhere_and_an_opted_out_one_stays_unmailable(
        ns: Namespace, kafka: Kafka, tmp_path: Path):
    gw = Gateway(ns, kafka)
    messaging = ns.start("messaging", SMTP_SENDER="jobs@acme.example")
    reminder = ns.start("reminder", REMINDER_TICK_S="0")
    sequences = ns.start("sequences")
    webhooks = ns.start("webhooks")
    insights = ns.start("insights")
    receiver = Receiver()
    try:
        await gw.open("job-42")
        await gw.ready()
        webhooks.wait_for_log("Uvicorn running")
        bearer = token(ns.jwt_secret, RECRUITER)
        hook = httpx.post(f"{webhooks.http}/v1/endpoints", headers={"Authorization": f"Bearer {bearer}"}, timeout=30,
                          json={"url": receiver.url + "/ok", "events": ["*"]})
        assert hook.status_code == 201, hook.text

        # Ines applies through Indeed with her CV; Omar through LinkedIn.
        assert post(gw.intake, "indeed", application("indeed")).status_code == 200
        omar = "omar.haddad@example.com"
        assert post(gw.intake, "linkedin", application("linkedin")).status_code == 200
        seen = await eventually(lambda: (lambda p: p if len(p) == 2 else None)(gw.prospects()), timeout_s=90)
        ines = seen[INES]
        pid = ines["prospect_id"]
        resume_url = f"{gw.intake.http}/v1/resumes/{ines['resume']['resume_id']}"
        assert httpx.get(resume_url, headers={"Authorization": f"Bearer {bearer}"}).status_code == 200

        # A message, her reply, a sequence.
        await kafka.caught_up(ns, "messaging")
        assert (await send(kafka, ns, "ask_to_apply", [pid]))["accepted"] == [pid]
        sent = await eventually(lambda: mails(ns.stack.maildir, INES) or None, timeout_s=60)
        message = next(e["data"] for e in events(await kafka.read(ns.topic("messages"), count=1, timeout_s=60))
                       if e["type"] == "message.sent")
        await kafka.send_event(ns.topic("messages"), cloud_event("message.replied", {
            "message_id": message["message_id"], "prospect_id": pid, "job_id": "job-42", "recruiter_id": RECRUITER,
            "received_at": "2026-12-07T10:00:00Z", "from": INES, "subject": "Re: hi", "text": "Ines here, yes please."},
            source="prospectflow/messaging/inbound"), key=pid)
        sequence = httpx.post(f"{sequences.http}/v1/sequences", headers={"Authorization": f"Bearer {bearer}"}, timeout=30,
                              json={"name": "Later", "steps": [{"template": "arrange_interview", "delay_business_days": 0}]})
        await kafka.caught_up(ns, "sequences")
        enroll = cloud_event("sequences.enroll", {"recruiter_id": RECRUITER, "sequence_id": sequence.json()["sequence_id"],
                                                  "prospect_ids": [pid]}, source="tests/app")
        await kafka.send_event(ns.topic("sequence-commands"), enroll, key=RECRUITER)
        for service in topics.HOLDS_PERSONAL_DATA:
            await kafka.caught_up(ns, service)
        assert await everything_about(ns, [INES, "Ines Moreau"])  # she is there, in many places

        # Her export, as the operator's tool gathers it: every service, the CV beside it.
        urls = {"PROSPECTFLOW_INTAKE_URL": gw.intake.http, "PROSPECTFLOW_MESSAGING_URL": messaging.http,
                "PROSPECTFLOW_REMINDER_URL": reminder.http, "PROSPECTFLOW_WEBHOOKS_URL": webhooks.http,
                "PROSPECTFLOW_SEQUENCES_URL": sequences.http, "PROSPECTFLOW_INSIGHTS_URL": insights.http}
        tool = cli(ns, gw.rating, **urls, **{f"{s.upper()}_GROUP_ID": f"{ns.name}-{s}" for s in topics.HOLDS_PERSONAL_DATA})
        folder = tmp_path / "ines"
        exported = tool("privacy", "export", INES, "--out", str(folder))
        assert exported.returncode == 0, exported.stdout + exported.stderr
        document = json.loads((folder / "export.json").read_text())
        held = document["held"]
        assert sorted(held) == sorted(topics.HOLDS_PERSONAL_DATA) and document["missing"] == {}
        assert [i["profile"]["name"] for i in held["intake"]["inquiries"]] == ["Ines Moreau"]
        assert any(h.get("text") == "Ines here, yes please." for h in held["rating"]["history"])
        assert [m["to"] for m in held["messaging"]["messages"]] == [INES]
        assert [e["prospect_id"] for e in held["sequences"]["enrollments"]] == [pid]
        assert held["webhooks"]["deliveries"] and held["reminder"]["prospects"]
        assert [p["_id"] for p in held["insights"]["prospects"]] == [pid]  # the facts counted of her
        [cv] = held["intake"]["resumes.files"]
        sample = base64.b64decode(load_sample("indeed")["applicant"]["resume"]["file"]["data"])
        assert (folder / cv["exported_as"]).read_bytes() == sample
        recruiters = httpx.get(f"{gw.rating.http}/v1/privacy/export", params={"email": INES}, headers={
            "Authorization": f"Bearer {bearer}"})
        assert recruiters.status_code == 403  # a recruiter's token reads no export

        # Omar opts out.
        await kafka.send_event(ns.topic("opt-outs"), cloud_event("prospect.opted_out", {"email": omar}), key=omar)
        await kafka.caught_up(ns, "messaging")

        # The operator erases both, as the tool does it.
        for person in (INES, omar):
            done = tool("privacy", "erase", person, "--json")
            assert done.returncode == 0, done.stdout + done.stderr
            answer = json.loads(done.stdout)
            assert sorted(answer["answers"]) == sorted(topics.HOLDS_PERSONAL_DATA) and answer["missing"] == []
        assert answer["answers"]["messaging"]["removed"].get("suppressions") == 1  # now a keyed hash

        # Nothing of Ines anywhere: not her address, name, phone, prospect or person id.
        needles = [INES, "Ines Moreau", "+33 6 12 34 56 78", pid, ids.person_id(INES), "Ines here", omar, "Omar Haddad"]
        left = await everything_about(ns, needles)
        assert left == [], "\n".join(left)
        assert httpx.get(resume_url, headers={"Authorization": f"Bearer {bearer}"}).status_code == 404
        assert http_get(f"{gw.rating.http}/prospects/{pid}", bearer)[0] == 404
        assert (await send(kafka, ns, "not_a_match", [pid]))["rejected"] == [{"prospect_id": pid, "reason": "unknown_prospect"}]
        assert len(mails(ns.stack.maildir, INES)) == len(sent)

        # Recruiter apps heard it, from every service.
        heard = await eventually(lambda: [g for g in receiver.got if '"person.erased"' in g["body"]
                                          and ids.person_id(INES) in g["body"]] or None, timeout_s=60)
        assert {json.loads(g["body"])["data"]["service"] for g in heard} <= set(topics.HOLDS_PERSONAL_DATA)

        # Omar inquires again: a new prospect, and still never mailed (he had opted out).
        again = application("linkedin", application_id="urn:li:jobApplication:again")
        assert post(gw.intake, "linkedin", again).status_code == 200
        back = await eventually(lambda: gw.prospects().get(omar), timeout_s=90)
        assert back["rating"] == "unrated"
        await kafka.caught_up(ns, "messaging")
        answer = await send(kafka, ns, "ask_to_apply", [back["prospect_id"]])
        assert answer["rejected"] == [{"prospect_id": back["prospect_id"], "reason": "opted_out"}]
        assert mails(ns.stack.maildir, omar) == []
    finally:
        receiver.close()


async def test_an_inquiry_on_its_way_when_the_erasure_is_done_leaves_nothing(ns: Namespace, kafka: Kafka):
    """The inquiry is published before the erasure, but intake takes it after (it was stopped):
    it is dropped, as are the events it would have caused."""
    ns.start("rating")
    await kafka.send_event(ns.topic("jobs"), cloud_event("job.opened", {
        "job_id": "job-42", "title": "Backend Engineer", "company": "Acme",
        "recruiter": {"recruiter_id": RECRUITER, "name": "Dana", "email": "dana@acme.example"}}), key="job-42")
    email = f"late-{ns.name}@example.com"
    inquiry = cloud_event("inquiry.received", {"job_id": "job-42", "board": "acme-board",
                                               "prospect": {"name": "Late Larry", "email": email}},
                          time="2026-12-07T09:00:00Z")
    await kafka.send_event(ns.topic("inquiries"), inquiry, key=email)
    erase = cloud_event("person.erase", {"email": email, "requested_by": "tests"}, time="2026-12-07T09:05:00Z")
    await kafka.send_event(ns.topic("privacy-commands"), erase, key=email)
    ns.start("intake")  # takes both now: the erasure first, then the inquiry written before it
    await kafka.caught_up(ns, "intake")
    await kafka.caught_up(ns, "rating")
    assert await everything_about(ns, [email, "Late Larry"]) == []
    assert [e for e in events(await kafka.read_to_end(ns.topic("prospects"))) if email in json.dumps(e)] == []


async def test_retention_erases_the_prospects_of_a_long_closed_job_and_keeps_the_others(ns: Namespace, kafka: Kafka):
    """Job A closed long ago, job B open: X (only on A) is erased everywhere, Y (on both) loses
    their A prospect and keeps B, Z (only on B) stays."""
    ns.start("intake")
    rating = ns.start("rating", RETENTION_CLOSED_JOB_DAYS="1", RATING_RETENTION_TICK_S="0.5")
    rating.wait_for_log("Uvicorn running")
    for job_id in ("job-a", "job-b"):
        await kafka.send_event(ns.topic("jobs"), cloud_event("job.opened", {
            "job_id": job_id, "title": job_id, "company": "Acme",
            "recruiter": {"recruiter_id": RECRUITER, "name": "Dana", "email": "dana@acme.example"}}), key=job_id)
    people = {"x": ["job-a"], "y": ["job-a", "job-b"], "z": ["job-b"]}
    for who, jobs in people.items():
        for job_id in jobs:
            email = f"{who}-{ns.name}@example.com"
            await kafka.send_event(ns.topic("inquiries"), cloud_event("inquiry.received", {
                "job_id": job_id, "board": "acme-board", "prospect": {"name": who.upper(), "email": email}}), key=email)
    bearer = token(ns.jwt_secret, RECRUITER)

    def board() -> set[str]:
        status, body = http_get(f"{rating.http}/prospects?view=all&limit=50", bearer)
        return {f"{p['name']}:{p['job_id']}" for p in body["items"]} if status == 200 else set()

    await eventually(lambda: len(board()) == 4, timeout_s=90)
    # Job A closed three weeks ago (its event's time).
    await kafka.send_event(ns.topic("jobs"), cloud_event("job.closed", {"job_id": "job-a"}, time="2026-11-16T09:00:00Z"),
                           key="job-a")
    await eventually(lambda: board() == {"Y:job-b", "Z:job-b"}, timeout_s=90)
    commands = [e for e in events(await kafka.read_to_end(ns.topic("privacy-commands"))) if e["type"] == "person.erase"]
    asked = {(e["data"]["email"].split("-")[0], tuple(e["data"].get("prospect_ids") or ())) for e in commands}
    assert asked == {("x", ()), ("y", (ids.prospect_id("job-a", f"y-{ns.name}@example.com"),))}
    assert all(e["data"]["reason"] == "retention" for e in commands)
    await kafka.caught_up(ns, "intake")
    left = await everything_about(ns, [f"x-{ns.name}@example.com", ids.prospect_id("job-a", f"y-{ns.name}@example.com")])
    assert left == [], left
    assert await everything_about(ns, [f"z-{ns.name}@example.com"])  # kept


async def test_topics_and_their_dead_letters_are_made_with_the_retention(ns: Namespace, kafka: Kafka):
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from shared.kafka import ensure_topics
    from shared.settings import KafkaSettings

    settings = KafkaSettings(bootstrap_servers=ns.stack.kafka, topic_prefix=f"{ns.prefix}r3-", retention_days=3)
    await ensure_topics(settings, ["inquiries"])
    admin = AIOKafkaAdminClient(bootstrap_servers=ns.stack.kafka)
    await admin.start()
    try:
        names = [settings.topic("inquiries"), settings.topic("inquiries") + ".dlq"]
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
        retention = {resource[3]: entry[1] for response in described for resource in response.resources
                     for entry in resource[4] if entry[0] == "retention.ms"}
        assert retention == {name: str(3 * 86_400_000) for name in names}  # the broker default is 7 days
    finally:
        await admin.delete_topics(names)
        await admin.close()
