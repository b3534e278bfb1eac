"""Attacks on the real services: forged and broken tokens, another recruiter's prospects through
every route and command, hostile text in mails, and thousands of generated messages through the
real topics. Each test counts what it tried and what was refused; RELIABILITY.md quotes them."""

from __future__ import annotations

import base64
import json
import random
import time
import zlib
from typing import Any

import jwt

from shared import ids
from shared.auth import API_AUDIENCE, login_link
from tests.integration.test_messaging import job, outcomes, send, setup
from tests.integration.test_rating import RECRUITER, flag, job_opened, on_board, prospect_event, rate, results_for
from tests.support import Kafka, Namespace, cloud_event, http_get, http_text, mails, metric, token

OTHER = "rec-other"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def bad_tokens(secret: str) -> dict[str, str]:
    now = int(time.time())
    good = {"sub": RECRUITER, "exp": now + 3600, "aud": API_AUDIENCE}
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(good)}.",
        "alg none, no dot": f"{_b64({'alg': 'none'})}.{_b64(good)}",
        "HS512 with the right secret": jwt.encode(good, secret, algorithm="HS512"),
        "RS256 signed by a stranger": jwt.encode(good, rsa_key, algorithm="RS256"),
        "HS256 keyed with a public-key-looking string": jwt.encode(good, "-----BEGIN PUBLIC KEY-----x", algorithm="HS256"),
        "wrong secret": jwt.encode(good, secret + "x", algorithm="HS256"),
        "expired": jwt.encode({**good, "exp": now - 60}, secret, algorithm="HS256"),
        "not yet valid": jwt.encode({**good, "nbf": now + 600}, secret, algorithm="HS256"),
        "issued in the future": jwt.encode({**good, "iat": now + 600}, secret, algorithm="HS256"),
        "no sub": jwt.encode({"exp": now + 3600}, secret, algorithm="HS256"),
        "no exp": jwt.encode({"sub": RECRUITER, "aud": API_AUDIENCE}, secret, algorithm="HS256"),
        "no audience": jwt.encode({"sub": RECRUITER, "exp": now + 3600}, secret, algorithm="HS256"),
        "another surface's audience": jwt.encode({**good, "aud": "prospectflow-dashboard"}, secret, algorithm="HS256"),
        "a dashboard sign-in link": login_link(secret, RECRUITER, "http://x").partition("token=")[2],
        "sub not a string": jwt.encode({**good, "sub": 7}, secret, algorithm="HS256"),
        "huge (over our 8 KB limit)": jwt.encode({**good, "pad": "x" * 9_000}, secret, algorithm="HS256"),
        "signature stripped": jwt.encode(good, secret, algorithm="HS256").rsplit(".", 1)[0] + ".",
        "payload swapped": ".".join([jwt.encode(good, secret, algorithm="HS256").split(".")[0],
                                     _b64({**good, "sub": OTHER}),
                                     jwt.encode(good, secret, algorithm="HS256").split(".")[2]]),
        "garbage": "not.a.token",
        "empty": "",
    }


def status_of(method: str, url: str, bearer: str | None, body: dict | None = None) -> int:
    import urllib.error

    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {bearer}"} if bearer is not None else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


async def test_every_broken_or_forged_token_is_refused_on_every_route(ns: Namespace, kafka: Kafka):
    rating = ns.start("rating")
    messaging = ns.start("messaging")
    await kafka.send_event(ns.topic("jobs"), job_opened(), key="job-42")
    prospect = prospect_event("lee@example.com")
    pid = prospect["data"]["prospect_id"]
    await kafka.send_event(ns.topic("prospects"), prospect, key=pid)
    await on_board(ns, 1, {"_id": pid})
    routes = [("GET", f"{rating.http}/prospects", None), ("GET", f"{rating.http}/prospect-ids", None),
              ("GET", f"{rating.http}/prospects/{pid}", None), ("GET", f"{rating.http}/prospects/{pid}/history", None),
              ("GET", f"{rating.http}/summary", None),
              ("POST", f"{messaging.http}/preview", {"prospect_ids": [pid], "template": "ask_to_apply"})]
    assert all(status_of(m, u, token(ns.jwt_secret, RECRUITER), b) == 200 for m, u, b in routes)  # the real one works
    tried = refused = 0
    for name, forged in [*bad_tokens(ns.jwt_secret).items(), ("no header", None)]:
        for method, url, body in routes:
            tried += 1
            got = status_of(method, url, forged, body)
            assert got == 401, (name, url, got)
            refused += 1
    kinds = len(bad_tokens(ns.jwt_secret)) + 1  # and no header at all
    assert tried == refused == kinds * len(routes)
    # Beyond the HTTP server's header limit (h11: 16 KB) the request is refused before our code.
    enormous = jwt.encode({"sub": RECRUITER, "exp": int(time.time()) + 60, "pad": "x" * 200_000}, ns.jwt_secret)
    for method, url, body in routes:
        tried += 1
        try:
            refused += status_of(method, url, enormous, body) in (400, 431)
        except OSError:  # answered 400 and closed before the body was sent
            refused += 1
    assert refused == tried
    print(f"tokens: {tried} tried, {refused} refused ({kinds * len(routes)} with 401, {len(routes)} by the HTTP server)")


async def test_another_recruiters_prospects_are_refused_everywhere(ns: Namespace, kafka: Kafka):
    """Recruiter `rec-other` (a valid token of their own) tries every route and every command on
    `rec-7`'s prospects and job."""
    rating = ns.start("rating")
    messaging = ns.start("messaging")
    tag = ns.name
    pids = await setup(ns, kafka, [f"{tag}-{n}@example.com" for n in range(3)])
    for n, pid in enumerate(pids):
        event = prospect_event(f"{tag}-{n}@example.com")
        await kafka.send_event(ns.topic("prospects"), event, key=pid)
    await kafka.send_event(ns.topic("jobs"), job_opened(), key="job-42")
    await on_board(ns, 3, {"recruiter_id": RECRUITER})
    theirs = token(ns.jwt_secret, OTHER)
    tried = refused = 0
    for pid in pids:
        for url in (f"{rating.http}/prospects/{pid}", f"{rating.http}/prospects/{pid}/history"):
            tried += 1
            refused += status_of("GET", url, theirs) == 404
    for url in (f"{rating.http}/prospects?job_id=job-42", f"{rating.http}/prospect-ids?job_id=job-42"):
        tried += 1
        refused += status_of("GET", url, theirs) == 404
    for view in ("needs_follow_up", "shortlist", "not_a_fit", "all"):
        tried += 1
        status, page = http_get(f"{rating.http}/prospects?view={view}", theirs)
        refused += status == 200 and page["items"] == []
    tried += 1
    status, summary = http_get(f"{rating.http}/summary", theirs)
    refused += status == 200 and pids[0] not in json.dumps(summary) and "job-42" not in json.dumps(summary)
    tried += 1
    status, preview = _post(f"{messaging.http}/preview", theirs, {"prospect_ids": pids, "template": "ask_to_apply"})
    refused += status == 200 and preview["recipients"] == [] and {s["reason"] for s in preview["skipped"]} == {"forbidden"}

    commands = [(ns.topic("rating-commands"), rate(pids, "shortlist", recruiter=OTHER)),
                (ns.topic("rating-commands"), flag(pids, True, recruiter=OTHER)),
                (ns.topic("messaging-commands"), send(pids, "ask_to_apply", recruiter=OTHER))]
    for topic, command in commands:
        await kafka.send_event(topic, command, key=OTHER)
    results = await results_for(kafka, ns, {c["id"] for _, c in commands})
    for _, command in commands:
        answer = results[command["id"]]["data"]
        tried += len(pids)
        refused += sum(1 for r in answer["rejected"] if r["reason"] == "forbidden") if not answer["accepted"] else 0
    await kafka.caught_up(ns, "rating")
    await kafka.caught_up(ns, "messaging")
    assert await kafka.read_to_end(ns.topic("assessments")) == []
    assert await kafka.read_to_end(ns.topic("messages")) == [] and mails(ns.stack.maildir, tag) == []
    assert refused == tried, f"{refused} of {tried} refused"
    print(f"cross-recruiter: {tried} attempts, {refused} refused")


def _post(url: str, bearer: str, body: dict) -> tuple[int, Any]:
    import urllib.error

    request = urllib.request.Request(url, method="POST", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


HOSTILE_NAMES = [
    'Lee "Boss" <ceo@evil.example>, Bcc: all@evil.example',
    "Lee =?utf-8?q?Bcc=3A_x=40evil.example?=",
    "Lee \u202egnp.exe\u202c Park",  # bidi override
    "{{ 7*7 }} {% for x in range(3) %}x{% endfor %}",
    "<img src=x onerror=alert(1)><a href=\"javascript:alert(1)\">click</a>",
    "Lee; Subject: hacked",
]
HOSTILE_NOTE = ("Hi {{ recruiter.email }} {{ ''.__class__ }}\nBcc: all@evil.example\n"
                "<script>alert(1)</script> <a href='https://evil.example'>apply here</a> javascript:alert(1) "
                "https://evil.example/phish")


async def test_hostile_text_in_mails_adds_no_header_evaluates_nothing_and_links_only_the_job(ns: Namespace, kafka: Kafka):
    ns.start("messaging")
    tag = ns.name
    emails = [f"{tag}-{n}@example.com" for n in range(len(HOSTILE_NAMES))]
    await kafka.send_event(ns.topic("jobs"), job(title="Engineer <b>\u202e{{ 7*7 }}", company="Acme & Co {% raw %}"),
                           key="job-42")
    for name, email in zip(HOSTILE_NAMES, emails):
        event = cloud_event("prospect.registered", {
            "prospect_id": ids.prospect_id("job-42", email), "person_id": ids.person_id(email), "job_id": "job-42",
            "profile": {"name": name, "email": email}, "inquiry": {"board": "b", "inquired_at": "2026-11-20T09:00:00Z"}},
            source="prospectflow/intake")
        await kafka.send_event(ns.topic("prospects"), event, key=event["data"]["prospect_id"])
    pids = [ids.prospect_id("job-42", e) for e in emails]
    await kafka.caught_up(ns, "messaging")
    await kafka.send_event(ns.topic("messaging-commands"), send(pids, "ask_to_apply", note=HOSTILE_NOTE), key=RECRUITER)
    sent = await outcomes(kafka, ns, len(pids))
    assert {e["type"] for e in sent} == {"message.sent"}
    received = mails(ns.stack.maildir, tag)
    assert len(received) == len(pids)
    allowed_headers = {"From", "To", "Reply-To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
                       "List-Unsubscribe", "List-Unsubscribe-Post", "Content-Transfer-Encoding", "X-Peer",
                       "X-MailFrom", "X-RcptTo", "Auto-Submitted",
                       "Return-Path"}  # X-Peer, X-MailFrom, X-RcptTo and Return-Path: the sink, as a mailbox
    checked = 0
    for mail in received:
        assert set(mail.keys()) <= allowed_headers, set(mail.keys()) - allowed_headers
        assert mail["Bcc"] is None and mail["Cc"] is None and len(mail.get_all("To")) == 1
        assert len(mail["To"].addresses) == 1 and mail["To"].addresses[0].addr_spec in emails
        for name in ("Subject", "To", "From", "Reply-To"):
            assert not any(ch in str(mail[name]) for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
        assert "{{ 7*7 }}" in mail["Subject"] and "49" not in mail["Subject"]  # the job title, as written
        html = mail.get_body(("html",)).get_content()
        text = mail.get_body(("plain",)).get_content()
        # the note and names as written, never evaluated as templates
        assert "{{ recruiter.email }}" in text and "{{ ''.__class__ }}" in text and "<class" not in text + html
        tags, links = _markup(html)
        assert not tags & {"script", "img", "iframe", "object", "embed", "form"}, tags
        assert all(not attr.startswith("on") for attr in _attributes(html)), "an event handler attribute"
        assert all(link == "https://acme.example/jobs/42/apply" or "/unsubscribe/" in link for link in links), links
        checked += 1
    print(f"mail: {checked} mails with hostile names, a hostile note and job, no header added, nothing evaluated")


def _markup(html: str) -> tuple[set[str], list[str]]:
    """The tags used, and every URL-bearing attribute's value."""
    from html.parser import HTMLParser

    tags: set[str] = set()
    links: list[str] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.add(tag)
            links.extend(v for k, v in attrs if k in ("href", "src", "action", "formaction") and v)

    Parser().feed(html)
    return tags, links


def _attributes(html: str) -> list[str]:
    from html.parser import HTMLParser

    names: list[str] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            names.extend(k for k, _ in attrs)

    Parser().feed(html)
    return names


def generated_messages(topic: str, count: int, seed: int) -> list[tuple[bytes | None, bytes | None, list]]:
    """Valid events, events with one thing wrong, and junk, for one topic (key, value, headers)."""
    from shared import topics as topic_names
    from tests.unit.samples import SAMPLE_DATA

    rnd = random.Random(seed)
    types = sorted(topic_names.TYPES_BY_TOPIC[topic])
    junk = [b"", b"null", b"[]", b"{}", b"\xff\xfe\xfd", b"[" * 50_000, b'{"specversion": "1.0"}', b"0" * 1000]
    out = []
    for n in range(count):
        kind = rnd.choice(types)
        event = {"specversion": "1.0", "id": f"fuzz-{seed}-{n}", "source": "tests/fuzz", "type": kind,
                 "time": "2026-11-25T09:30:00Z", "data": json.loads(json.dumps(SAMPLE_DATA[kind]))}
        roll = rnd.random()
        if roll < 0.3:
            value = rnd.choice(junk)
        elif roll < 0.6:
            attribute = rnd.choice(["specversion", "id", "source", "type", "time", "data"])
            event[attribute] = rnd.choice([None, 7, "", [], {"x": 1}, "x" * 5000, "not-a-type"])
            value = json.dumps(event).encode()
        elif roll < 0.85:
            field = rnd.choice(list(event["data"]))
            event["data"][field] = rnd.choice([None, -1, "", "x" * 20_000, ["a"] * 2000, {"deep": [[[[1]]]]}, "\u0000"])
            value = json.dumps(event).encode()
        else:
            value = json.dumps(event).encode()
        key = rnd.choice([None, b"", b"\xff\xfe", f"k{n}".encode()])
        headers = rnd.choice([[], [("content-type", b"application/cloudevents+json")], [("x", b"\xff\xfe")]])
        out.append((key, value, headers))
    return out


async def test_thousands_of_generated_messages_through_the_real_topics(ns: Namespace, kafka: Kafka):
    """Per consumer, a few thousand generated messages on its topics: each is processed or
    dead-lettered with a reason, none is lost, no consumer stops (a valid event after them
    all still goes through)."""
    procs = {s: ns.start(s, **({"REMINDER_TICK_S": "0"} if s == "reminder" else {}))
             for s in ("intake", "rating", "messaging", "reminder")}
    plan = {"intake": ["inquiries"], "rating": ["rating-commands"], "messaging": ["messaging-commands", "opt-outs"],
            "reminder": ["reminder-commands"]}
    per_topic = 2500
    producer = await kafka.producer()
    for service, topic_list in plan.items():
        for n, topic in enumerate(topic_list):
            pending = [await producer.send(ns.topic(topic), value, key=key, headers=headers)
                       for key, value, headers in generated_messages(topic, per_topic, seed=zlib.crc32(f"{service}{n}".encode()))]
            for p in pending:
                await p
    for service in plan:
        await kafka.caught_up(ns, service, timeout_s=240)
    summary = {}
    for service, topic_list in plan.items():
        text = http_text(f"{procs[service].http}/metrics")[1]
        for topic in topic_list:
            consumed = metric(text, "prospectflow_events_consumed_total", topic=topic)
            invalid = metric(text, "prospectflow_events_consumed_total", topic=topic, type="invalid")
            dead = metric(text, "prospectflow_dead_letters_total", topic=topic)
            on_dlq = len(await kafka.read_to_end(ns.topic(f"{topic}.dlq")))
            assert consumed == per_topic, (service, topic, consumed)  # every message taken, none lost
            assert dead == on_dlq >= invalid > 0, (service, topic, dead, on_dlq, invalid)
            summary[topic] = {"sent": per_topic, "processed": int(consumed - dead), "dead_lettered": on_dlq}
    # and every consumer still works: a valid inquiry goes through intake and a command through rating
    await kafka.send_event(ns.topic("jobs"), job_opened(), key="job-42")
    canary = cloud_event("inquiry.received", {"job_id": "job-42", "board": "b",
                                              "prospect": {"name": "Canary", "email": "canary@example.com"}})
    await kafka.send_event(ns.topic("inquiries"), canary, key="canary@example.com")
    await on_board(ns, 1, {"_id": ids.prospect_id("job-42", "canary@example.com")})
    print("generated messages:", json.dumps(summary))
    assert all(p.popen.poll() is None for p in procs.values())
