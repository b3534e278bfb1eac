"""Mail that comes back, on the real stack: replies, automatic answers, bounces and complaints
sent with `smtplib` into messaging's inbound listener (and posted to its webhook), seen as a
recruiter sees them through rating's API, and as events on `messages`."""

from __future__ import annotations

import json
import smtplib
import urllib.request

from services.messaging.addresses import ReturnAddresses
from tests.integration.test_messaging import RECRUITER, job, prospect, send
from tests.mailsamples import sample
from tests.support import Kafka, Namespace, ServiceProcess, eventually, events, http_get, mails, mongo_count, token


def deliver(messaging: ServiceProcess, raw: bytes, to: str, sender: str = "lee@example.com") -> tuple[int, str]:
    """One SMTP transaction into the inbound listener: the reply code and text to DATA."""
    with smtplib.SMTP("127.0.0.1", int(messaging.env["MESSAGING_INBOUND_SMTP_PORT"]), timeout=30) as smtp:
        smtp.ehlo()
        smtp.mail(sender)
        code, text = smtp.rcpt(to)
        if code >= 400:
            return code, text.decode()
        code, text = smtp.data(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))  # on the wire, CRLF
        return code, text.decode()


class Flow:
    """A job, one prospect per e-mail, known to messaging and rating; sends and reads back."""

    def __init__(self, ns: Namespace, kafka: Kafka, **messaging_env: str) -> None:
        self.ns, self.kafka = ns, kafka
        self.messaging = ns.start("messaging", SMTP_SENDER="jobs@acme.example", **messaging_env)
        self.rating = ns.start("rating")
        self.token = token(ns.jwt_secret, RECRUITER)

    async def prospects(self, emails: list[str]) -> list[str]:
        await self.kafka.send_event(self.ns.topic("jobs"), job(), key="job-42")
        registered = [prospect(e, name=f"Person {n}") for n, e in enumerate(emails)]
        await self.kafka.send_many(self.ns.topic("prospects"), [(e["data"]["prospect_id"], e) for e in registered])
        await self.kafka.caught_up(self.ns, "messaging")
        await self.kafka.caught_up(self.ns, "rating")
        return [e["data"]["prospect_id"] for e in registered]

    async def sent(self, pids: list[str], template: str = "ask_to_apply") -> dict[str, dict]:
        """Send and wait for each message.sent; the mail each person received, by prospect id."""
        await self.kafka.send_event(self.ns.topic("messaging-commands"), send(pids, template), key=RECRUITER)

        async def all_sent() -> list[dict]:
            done = [e for e in await self.events("message.sent") if e["data"]["prospect_id"] in pids]
            return done if len(done) >= len(pids) else []

        done = await eventually(all_sent, timeout_s=90)
        by_to = {m["To"].addresses[0].addr_spec: m for m in mails(self.ns.stack.maildir, self.ns.name)}
        return {e["data"]["prospect_id"]: {"event": e, "mail": by_to[e["data"]["to"]]} for e in done}

    async def events(self, kind: str, topic: str = "messages") -> list[dict]:
        return [e for e in events(await self.kafka.read_to_end(self.ns.topic(topic))) if e["type"] == kind]

    def prospect(self, pid: str) -> dict:
        status, body = http_get(f"{self.rating.http}/prospects/{pid}", self.token)
        assert status == 200, body
        return body

    def view(self, view: str) -> list[str]:
        status, body = http_get(f"{self.rating.http}/prospects?view={view}", self.token)
        assert status == 200, body
        return [p["prospect_id"] for p in body["items"]]

    def history(self, pid: str) -> list[dict]:
        return http_get(f"{self.rating.http}/prospects/{pid}/history", self.token)[1]

    async def inbound_done(self, count: int) -> bool:
        return await mongo_count(self.ns.stack, self.ns.database("messaging"), "inbound",
                                 {"state": {"$in": ["done", "kept"]}}) >= count


async def test_a_reply_brings_the_person_back_and_reaches_the_recruiter(ns: Namespace, kafka: Kafka):
    flow = Flow(ns, kafka)
    lee, sam = await flow.prospects([f"{ns.name}-lee@example.com", f"{ns.name}-sam@example.com"])
    sent = await flow.sent([lee, sam])
    mail, message_id = sent[lee]["mail"], sent[lee]["event"]["data"]["message_id"]
    reply_to = mail["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("reply+") and reply_to.endswith("@inbound.test")
    assert mail["Return-Path"].strip("<>").startswith("bounce+")  # the envelope sender (VERP)
    assert mail["Return-Path"] != sent[sam]["mail"]["Return-Path"]  # each message its own
    await eventually(lambda: flow.prospect(lee)["flagged"], timeout_s=60)  # the send counted as follow-up
    assert lee not in flow.view("needs_follow_up")

    reply = sample("gmail_reply", message_id=message_id, reply_to=reply_to, prospect=f"{ns.name}-lee@example.com",
                   tag=ns.name)
    assert deliver(flow.messaging, reply, reply_to) == (250, "2.0.0 Stored")
    # ...and the same mail again (the sender's retry after a lost 250): stored once, one event
    assert deliver(flow.messaging, reply, reply_to) == (250, "2.0.0 Already stored")

    replied = (await eventually(lambda: flow.events("message.replied"), timeout_s=60))
    assert len(replied) == 1
    data = replied[0]["data"]
    assert (data["message_id"], data["prospect_id"], data["recruiter_id"]) == (message_id, lee, RECRUITER)
    assert data["text"] == "Hi Dana,\n\nyes, Tuesday works for me. Shall we say 10:00?\n\nBest,\nLee"
    assert data["from"] == f"{ns.name}-lee@example.com"

    board = await eventually(lambda: (p := flow.prospect(lee)) and not p["flagged"] and p, timeout_s=60)
    assert board["replied"] is True and board["needs_follow_up"] is True
    assert board["last_reply"]["text"].startswith("Hi Dana,")
    assert board["waiting_since"] == data["received_at"]  # waiting since the reply, not since the inquiry
    assert lee in flow.view("needs_follow_up") and flow.view("replied") == [lee]
    lines = flow.history(lee)
    assert [(line["kind"], line.get("cause")) for line in lines][-2:] == [("reply", None), ("flag", "replied")]
    assert lines[-2]["text"] == data["text"]

    # handed on to the recruiter: the prospect's words, Reply-To the prospect, the whole mail attached
    handed = await eventually(lambda: mails(ns.stack.maildir, "dana@acme.example") and
                              [m for m in mails(ns.stack.maildir, "dana@acme.example") if ns.name in m.as_string()],
                              timeout_s=60)
    assert len(handed) == 1
    assert handed[0]["Reply-To"].addresses[0].addr_spec == f"{ns.name}-lee@example.com"
    assert "yes, Tuesday works for me" in handed[0].get_body(("plain",)).get_content()
    assert [p.get_content_type() for p in handed[0].iter_attachments()] == ["message/rfc822"]

    # The recruiter follows up: out of the Replied view again
    await kafka.send_event(ns.topic("rating-commands"), {
        "specversion": "1.0", "id": f"{ns.name}-flag", "source": "tests/app", "type": "prospects.flag_follow_up",
        "data": {"recruiter_id": RECRUITER, "prospect_ids": [lee], "flagged": True}}, key=RECRUITER)
    await eventually(lambda: flow.prospect(lee)["flagged"], timeout_s=60)
    assert flow.view("replied") == [] and flow.prospect(lee)["replied"] is False

    # An out-of-office from Sam: on the timeline, no flag moves, Sam stays followed up
    sam_mail = sent[sam]["mail"]
    ooo = sample("ooo_exchange", message_id=sent[sam]["event"]["data"]["message_id"],
                 reply_to=sam_mail["Reply-To"].addresses[0].addr_spec, prospect=f"{ns.name}-sam@example.com",
                 tag=ns.name)
    assert deliver(flow.messaging, ooo, sam_mail["Reply-To"].addresses[0].addr_spec)[0] == 250
    auto = await eventually(lambda: flow.events("message.auto_replied"), timeout_s=60)
    assert [e["data"]["kind"] for e in auto] == ["out_of_office"]
    await eventually(lambda: any(line["kind"] == "auto_reply" for line in flow.history(sam)), timeout_s=60)
    assert flow.prospect(sam)["flagged"] is True and sam not in flow.view("needs_follow_up")
    assert await flow.events("message.replied") == replied  # still the one reply


async def test_a_bounce_suppresses_the_address_and_a_complaint_opts_out(ns: Namespace, kafka: Kafka):
    flow = Flow(ns, kafka)
    gone, annoyed = await flow.prospects([f"{ns.name}-gone@example.com", f"{ns.name}-spam@example.com"])
    sent = await flow.sent([gone, annoyed])
    bounce_to = sent[gone]["mail"]["Return-Path"].strip("<>")
    dsn = sample("postfix_dsn", message_id=sent[gone]["event"]["data"]["message_id"], bounce_to=bounce_to,
                 prospect=f"{ns.name}-gone@example.com", tag=ns.name)
    assert deliver(flow.messaging, dsn, bounce_to, sender="")[0] == 250
    bounced = await eventually(lambda: flow.events("message.bounced"), timeout_s=60)
    assert [(e["data"]["prospect_id"], e["data"]["permanent"], e["data"]["status"]) for e in bounced] == \
        [(gone, True, "5.1.1")]
    board = await eventually(lambda: (p := flow.prospect(gone))["bounced"] and p, timeout_s=60)
    assert board["bounced"]["message_id"] == sent[gone]["event"]["data"]["message_id"]

    complaint_to = sent[annoyed]["mail"]["Return-Path"].strip("<>")
    arf = sample("arf_complaint", message_id=sent[annoyed]["event"]["data"]["message_id"], bounce_to=complaint_to,
                 prospect=f"{ns.name}-spam@example.com", tag=ns.name)
    assert deliver(flow.messaging, arf, complaint_to, sender="")[0] == 250
    complained = await eventually(lambda: flow.events("message.complained"), timeout_s=60)
    assert [e["data"]["prospect_id"] for e in complained] == [annoyed]
    opted_out = await eventually(lambda: flow.events("prospect.opted_out", topic="opt-outs"), timeout_s=60)
    assert [(e["data"]["email"], e["data"]["reason"]) for e in opted_out] == [(f"{ns.name}-spam@example.com",
                                                                               "complaint")]

    # The next send: neither is mailed again, each for its own reason
    again = send([gone, annoyed], "not_a_match")
    await kafka.send_event(ns.topic("messaging-commands"), again, key=RECRUITER)

    async def result() -> list[dict]:
        return [e["data"] for e in await flow.events("command.completed", topic="command-results")
                if e["data"]["command_id"] == again["id"]]

    completed = (await eventually(result, timeout_s=60))[0]
    assert completed["accepted"] == []
    assert sorted((r["prospect_id"], r["reason"]) for r in completed["rejected"]) == sorted(
        [(gone, "bounced"), (annoyed, "opted_out")])


async def test_strangers_forgeries_and_oversized_mail_are_refused_or_kept_aside(ns: Namespace, kafka: Kafka):
    flow = Flow(ns, kafka, MESSAGING_INBOUND_MAX_BYTES="20000")
    (lee,) = await flow.prospects([f"{ns.name}-lee@example.com"])
    sent = await flow.sent([lee])
    reply_to = sent[lee]["mail"]["Reply-To"].addresses[0].addr_spec
    message_id = sent[lee]["event"]["data"]["message_id"]
    reply = sample("gmail_reply", message_id=message_id, reply_to=reply_to, prospect=f"{ns.name}-lee@example.com",
                   tag=ns.name)
    # never a relay: a stranger's address, ours with an altered token, another domain
    local, _, domain = reply_to.partition("@")
    forged = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
    for address in ("dana@acme.example", forged, f"{local}@elsewhere.example", "bounce" + forged[5:]):
        code, text = deliver(flow.messaging, reply, address)
        assert code == 550, (address, code, text)
    # oversized: the listener says so (552) and stores nothing
    code, _ = deliver(flow.messaging, reply + (b"x" * 70 + b"\n") * 400, reply_to)
    assert code == 552
    # a valid token for a message nobody sent (made with the secret): stored, kept aside, no event
    made_up = ReturnAddresses(f"unsubscribe-{ns.name}", "inbound.test").reply_to("00000000-0000-4000-8000-000000000000")
    stray = sample("iphone_reply", reply_to=made_up, prospect="someone@example.com", tag=ns.name)
    assert deliver(flow.messaging, stray, made_up)[0] == 250
    assert await eventually(lambda: flow.inbound_done(1), timeout_s=60)
    from tests.support import cli

    listed = cli(ns).json("inbound", "list")
    assert [(m["state"], m["reason"]) for m in listed] == [
        ("kept", "names message 00000000-0000-4000-8000-000000000000, which messaging has no record of")]
    assert listed[0]["from"] == "someone@example.com"
    assert await flow.events("message.replied") == []
    assert await mongo_count(ns.stack, ns.database("messaging"), "inbound") == 1


async def test_the_webhook_takes_a_providers_raw_mail_once(ns: Namespace, kafka: Kafka):
    flow = Flow(ns, kafka)
    (lee,) = await flow.prospects([f"{ns.name}-lee@example.com"])
    sent = await flow.sent([lee])
    reply_to = sent[lee]["mail"]["Reply-To"].addresses[0].addr_spec
    raw = sample("outlook_reply_de", message_id=sent[lee]["event"]["data"]["message_id"], reply_to=reply_to,
                 prospect=f"{ns.name}-lee@example.com", tag=ns.name)

    def post(body: bytes, secret: str, content_type: str = "message/rfc822") -> tuple[int, dict]:
        request = urllib.request.Request(f"{flow.messaging.http}/inbound/mail", data=body, method="POST", headers={
            "Content-Type": content_type, "Authorization": f"Bearer {secret}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    secret = f"inbound-{ns.name}"
    assert post(raw, "wrong")[0] == 401
    assert post(b"", secret)[0] == 422
    status, body = post(raw, secret)
    assert (status, body["stored"]) == (200, "new")
    # Postmark's JSON with the raw mail: the same mail, stored before
    status, body = post(json.dumps({"RawEmail": raw.decode(), "OriginalRecipient": reply_to}).encode(), secret,
                        "application/json")
    assert (status, body["stored"]) == (200, "before")
    replied = await eventually(lambda: flow.events("message.replied"), timeout_s=60)
    assert len(replied) == 1 and replied[0]["data"]["text"].startswith("Hallo Frau Smith,")
    assert "Jürgen Müller" in replied[0]["data"]["text"]


async def test_a_database_outage_tells_the_sender_to_retry_and_loses_nothing(ns: Namespace, kafka: Kafka,
                                                                            private_ferretdb):
    flow = Flow(ns, kafka, MONGODB_URI=private_ferretdb.uri)
    (lee,) = await flow.prospects([f"{ns.name}-lee@example.com"])
    sent = await flow.sent([lee])
    reply_to = sent[lee]["mail"]["Reply-To"].addresses[0].addr_spec
    reply = sample("iphone_reply", reply_to=reply_to, prospect=f"{ns.name}-lee@example.com", tag=ns.name)
    private_ferretdb.stop()
    code, text = deliver(flow.messaging, reply, reply_to)
    assert code == 451, text  # not stored: the sending server keeps it and retries
    private_ferretdb.start()
    assert (await eventually(lambda: (r := deliver(flow.messaging, reply, reply_to))[0] == 250 and r,
                             timeout_s=60))[1] == "2.0.0 Stored"
    replied = await eventually(lambda: flow.events("message.replied"), timeout_s=60)
    assert [e["data"]["text"] for e in replied] == ["Sounds great, talk Tuesday."]
