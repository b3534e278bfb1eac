"""Issue 27 at the mail edges, on the real stack: a mail that cannot be read, a sender whose
address is not ASCII, a forged reply that names our Message-ID, a stranger's huge form at the
provider webhook, and a send to an internationalised address. Each fails only itself."""

from __future__ import annotations

import httpx

from tests.integration.test_inbound import Flow, deliver
from tests.mailsamples import sample
from tests.support import Kafka, Namespace, answers, cli, eventually, http_get, mails, mongo_count


def _nested(depth: int, to: str) -> bytes:
    """A multipart nested past Python's recursion limit: the parser raises RecursionError."""
    head = f"From: someone@example.com\r\nTo: {to}\r\nSubject: Re: the job\r\nMIME-Version: 1.0\r\n".encode()
    parts = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n) for n in range(depth))
    return head + parts + b"\r\nhello\r\n"


async def test_a_mail_that_cannot_be_read_fails_alone(ns: Namespace, kafka: Kafka):
    flow = Flow(ns, kafka)
    lee, sam = await flow.prospects([f"{ns.name}-lee@example.com", f"{ns.name}-sam@example.com"])
    sent = await flow.sent([lee, sam])
    lee_to = sent[lee]["mail"]["Reply-To"].addresses[0].addr_spec
    sam_to = sent[sam]["mail"]["Reply-To"].addresses[0].addr_spec
    assert deliver(flow.messaging, _nested(3000, lee_to), lee_to)[0] == 250
    reply = sample("iphone_reply", reply_to=sam_to, prospect=f"{ns.name}-sam@example.com", tag=ns.name)
    assert deliver(flow.messaging, reply, sam_to)[0] == 250
    replied = await eventually(lambda: flow.events("message.replied"), timeout_s=60)
    assert [e["data"]["prospect_id"] for e in replied] == [sam]

    async def ended() -> bool:
        return await mongo_count(ns.stack, ns.database("messaging"), "inbound", {"state": "failed"}) == 1

    await eventually(ended, timeout_s=60)
    listed = cli(ns).json("inbound", "list")
    assert [(m["state"], m["reason"].split(":")[0]) for m in listed] == [("failed", "RecursionError")]


async def test_a_sender_whose_address_is_not_ascii_is_forwarded_once_and_so_are_the_others(
        ns: Namespace, kafka: Kafka):
    flow = Flow(ns, kafka)
    jorg_address = f"jörg-{ns.name}@example.com"
    jorg, lee = await flow.prospects([jorg_address, f"{ns.name}-lee@example.com"])
    sent = await flow.sent([jorg, lee])
    for pid, who in ((jorg, jorg_address), (lee, f"{ns.name}-lee@example.com")):
        to = sent[pid]["mail"]["Reply-To"].addresses[0].addr_spec
        reply = sample("iphone_reply", reply_to=to, prospect=who, tag=f"{ns.name}-{pid}")
        assert deliver(flow.messaging, reply, to)[0] == 250

    async def handed_on() -> bool:
        return await mongo_count(ns.stack, ns.database("messaging"), "inbound",
                                 {"state": "done", "to_forward": False}) == 2

    await eventually(handed_on, timeout_s=60)
    handed = [m for m in mails(ns.stack.maildir, "dana@acme.example") if ns.name in m.as_string()]
    assert sorted(m.get_body(("plain",)).get_content().split(" <", 1)[0] for m in handed) == ["Person 0", "Person 1"]
    jorgs = next(m for m in handed if jorg_address in m.get_body(("plain",)).get_content())
    assert f"Write to {jorg_address} to answer" in jorgs.get_body(("plain",)).get_content()


async def test_a_reply_without_our_token_is_never_attributed(ns: Namespace, kafka: Kafka):
    flow = Flow(ns, kafka)
    (lee,) = await flow.prospects([f"{ns.name}-lee@example.com"])
    sent = await flow.sent([lee])
    message_id = sent[lee]["event"]["data"]["message_id"]
    # Someone who saw the Message-ID writes a "reply" and a "bounce" naming it, through the
    # provider webhook (which takes any recipient the provider names).
    secret = f"inbound-{ns.name}"
    for name in ("gmail_reply", "postfix_dsn", "arf_complaint"):
        raw = sample(name, message_id=message_id, reply_to="anyone@inbound.test", bounce_to="anyone@inbound.test",
                     prospect=f"{ns.name}-lee@example.com", tag=f"{ns.name}-{name}")
        answer = httpx.post(f"{flow.messaging.http}/inbound/mail", content=raw, params={"recipient": "x@inbound.test"},
                            headers={"Content-Type": "message/rfc822", "Authorization": f"Bearer {secret}"})
        assert answer.status_code == 200, answer.text

    async def kept() -> bool:
        return await mongo_count(ns.stack, ns.database("messaging"), "inbound", {"state": "kept"}) == 3

    await eventually(kept, timeout_s=60)
    reasons = {m["reason"] for m in cli(ns).json("inbound", "list")}
    assert reasons == {"not sent to a reply+ or bounce+ address of ours with a valid token"}
    for kind in ("message.replied", "message.bounced", "message.complained"):
        assert await flow.events(kind) == []
    assert await flow.events("prospect.opted_out", topic="opt-outs") == []


async def test_the_webhook_authenticates_before_it_reads_a_strangers_body(ns: Namespace, kafka: Kafka):
    flow = Flow(ns, kafka, MESSAGING_INBOUND_MAX_BYTES="20000")
    url = f"{flow.messaging.http}/inbound/mail"
    await eventually(lambda: answers(lambda: http_get(f"{flow.messaging.http}/health")[0] == 200), timeout_s=60)
    form = {"body-mime": "x" * 200_000, "timestamp": "1", "token": "t", "signature": "s"}
    wrong = httpx.post(url, data=form, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401, wrong.text  # refused on its header: the body was never read
    unsigned = httpx.post(url, data={"body-mime": "x" * 1000, "timestamp": "1", "token": "t", "signature": "s"})
    assert unsigned.status_code == 401
    too_big = httpx.post(url, data=form)
    assert too_big.status_code == 413


async def test_a_send_to_an_internationalised_address_goes_out_and_the_others_too(ns: Namespace, kafka: Kafka):
    flow = Flow(ns, kafka)
    people = [f"jörg-{ns.name}@exämple.com", f"jörg-{ns.name}@example.com", f"{ns.name}-lee@example.com"]
    pids = await flow.prospects(people)
    sent = await flow.sent(pids)  # every message.sent, or this waits in vain
    assert sorted(s["event"]["data"]["to"] for s in sent.values()) == sorted(people)
    for person in people:  # in the mailbox, each once, with SMTPUTF8 where the address needs it
        assert len(mails(ns.stack.maildir, person)) == 1, person
