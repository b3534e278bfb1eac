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
