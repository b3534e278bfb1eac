"""What an inbound mail is, on mails shaped as real clients and servers write them
(tests/fixtures/mail): each kind, the message it names, the reply's new text only."""

from __future__ import annotations

import pytest

from services.messaging.classify import AUTO_REPLY, BOUNCE, COMPLAINT, REPLY, classify, reply_text
from tests.mailsamples import NAMES, sample

OURS = "2f1c9a7e-4b3d-5e8f-9a0b-1c2d3e4f5a6b@acme.example"

EXPECTED = {
    "gmail_reply": (REPLY, "Hi Dana,\n\nyes, Tuesday works for me. Shall we say 10:00?\n\nBest,\nLee"),
    "outlook_reply_de": (REPLY, "Hallo Frau Smith,\n\nvielen Dank für die Nachricht. Ich bewerbe mich gern über den "
                                "Link.\n\nMit freundlichen Grüßen\nJürgen Müller"),
    "apple_reply_html": (REPLY, "Thanks Dana, I'll apply tonight."),
    "iphone_reply": (REPLY, "Sounds great, talk Tuesday."),
    "ooo_exchange": (AUTO_REPLY, "out_of_office"),
    "ooo_german": (AUTO_REPLY, "out_of_office"),
    "gmail_vacation": (AUTO_REPLY, "out_of_office"),
    "auto_ticket": (AUTO_REPLY, "auto"),
    "postfix_dsn": (BOUNCE, (True, "5.1.1")),
    "gmail_dsn_delayed": (BOUNCE, (False, "4.4.7")),
    "qmail_failure": (BOUNCE, (True, "5.2.1")),
    "exchange_ndr": (BOUNCE, (True, "5.1.10")),
    "arf_complaint": (COMPLAINT, None),
}


def test_every_sample_is_expected():
    assert sorted(EXPECTED) == NAMES


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample(name: str):
    found = classify(sample(name))
    kind, detail = EXPECTED[name]
    assert found.kind == kind, name
    if name != "iphone_reply":  # the iPhone reply names no message: its token must find it
        assert found.references[0] == OURS
    if kind == REPLY:
        assert found.text == detail
        assert found.sender == "lee.park@example.com"
        assert "Next step" in found.subject
    elif kind == AUTO_REPLY:
        assert found.auto_kind == detail
    elif kind == BOUNCE:
        assert (found.permanent, found.status) == detail
        assert found.recipient == "lee.park@example.com"
        assert found.diagnostic


def test_dsn_diagnostic_is_the_servers_words():
    found = classify(sample("postfix_dsn"))
    assert found.diagnostic.startswith("smtp; 550 5.1.1 <lee.park@example.com>: Recipient address rejected: User unknown")


def test_reply_text_is_plain_bounded_and_without_controls():
    text = reply_text("Yes\x00 please\x1b[31m\r\n" + "x" * 30_000)
    assert text.startswith("Yes please[31m\n") and len(text) == 20_000


def test_a_reply_that_only_quotes_keeps_its_words():
    # A reply whose text comes after the history (bottom-posting) is not cut to nothing.
    assert reply_text("On Tue, Dec 1, 2026 Dana wrote:\n> Hi\n\nYes, see you Tuesday") == \
        "On Tue, Dec 1, 2026 Dana wrote:\n\nYes, see you Tuesday"


# --- hostile mail (issue 27, 5 and 6): linear time, and one bad mail fails only itself --------------

def _within(seconds: float, work, *args):
    """work(*args) in a daemon thread; its result, or a failure if it is still running after
    `seconds` (a quadratic parse on these inputs takes minutes; a linear one milliseconds)."""
    import threading

    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", work(*args)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still parsing after {seconds} s: not linear"
    return box["result"]


def _html_mail(html: str) -> bytes:
    return ("From: lee.park@example.com\r\nTo: reply+x@inbound.example\r\nSubject: Re: the job\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html).encode()


@pytest.mark.parametrize("html", [
    "<div " * 60_000,  # 63 KiB of this took 6 s: the gmail_quote regex retried [^>]+ from every <div
    "<div class=x " * 20_000 + "gmail_quote",
    "gmail_quote " * 30_000,
])
def test_a_hostile_html_reply_is_read_in_linear_time(html):
    found = _within(5, classify, _html_mail(html * 4))
    assert found.kind == REPLY


def test_the_gmail_quote_still_ends_the_new_text():
    html = '<div dir="ltr">Yes, Tuesday.</div><div class="gmail_quote"><div>On Mon, Dana wrote:</div>old</div>'
    assert classify(_html_mail(html)).text == "Yes, Tuesday."


def test_hostile_bounce_text_is_read_in_linear_time():
    body = "a" * 400_000 + "@" + "\n" * 200_000 + "Message-ID:" + " " * 100_000
    mail = ("From: MAILER-DAEMON@mx.example\r\nTo: bounce+x@inbound.example\r\nSubject: Undelivered Mail\r\n"
            "Content-Type: text/plain\r\n\r\n" + body).encode()
    assert _within(5, classify, mail).kind == BOUNCE


def test_a_charset_that_raises_is_read_as_utf8():
    mail = (b"From: lee.park@example.com\r\nTo: reply+x@inbound.example\r\nSubject: Re: hi\r\n"
            b"Content-Type: text/plain; charset=idna\r\n\r\nYes please\r\n")
    assert classify(mail).text == "Yes please"
