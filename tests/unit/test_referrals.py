"""The referral page's use case (messaging's `Referrals`) on an in-memory database, in
milliseconds: a not-a-match mail's link takes at most five people, the same person twice is one,
a forged link or another use's token is nothing, a closed job takes none, and a bad address is
refused with what to fix. The same page in Chromium: tests/e2e/test_dashboard.py."""

from __future__ import annotations

import asyncio

import pytest

from services.messaging.handlers import Referrals
from services.messaging.store import MessagingStore
from services.messaging.unsubscribe import UnsubscribeLinks
from shared.refusals import Refused
from tests.fakes import MemoryDatabase, MemoryPublisher

LINKS = UnsubscribeLinks("a-secret", "http://127.0.0.1:8082")
MAIL = {"_id": "m-1", "prospect_id": "p-1", "job_id": "job-42", "recruiter_id": "rec-7", "to": "lee@example.com",
        "state": "sent", "template": "not_a_match",
        "context": {"prospect": {"name": "Lee Park", "first_name": "Lee", "email": "lee@example.com"},
                    "job": {"job_id": "job-42", "title": "Backend Engineer", "company": "Acme"},
                    "recruiter": {"name": "Dana Smith"}}}


async def referrals(job_open: bool = True) -> tuple[Referrals, MemoryPublisher]:
    database = MemoryDatabase()
    store = MessagingStore(database)  # type: ignore[arg-type]
    await store.messages.insert_one(dict(MAIL))
    await store.jobs.insert_one({"_id": "job-42", "open": job_open})
    publisher = MemoryPublisher()
    return Referrals(store, LINKS, publisher), publisher


def token() -> str:
    return LINKS.refer_url("m-1").rsplit("/", 1)[1]


async def test_a_referral_becomes_an_inquiry_for_the_same_job_referred_by_the_person_we_wrote_to():
    refer, publisher = await referrals()
    done = await refer.refer(token(), "Sam Rivera", "Sam@Example.com", "Great with Kafka.")
    assert done["name"] == "Sam Rivera"
    [inquiry] = publisher.of_type("inquiry.received")
    data = inquiry["data"]
    assert (data["job_id"], data["board"], data["prospect"]["email"], data["message"]) == (
        "job-42", "referral", "sam@example.com", "Great with Kafka.")
    assert data["referred_by"]["prospect_id"] == "p-1" and data["referred_by"]["name"] == "Lee Park"
    await refer.refer(token(), "Sam R.", "sam@example.com", None)  # the same person again: one
    assert len(publisher.of_type("inquiry.received")) == 1


async def test_a_link_takes_five_people_even_posted_at_once():
    refer, publisher = await referrals()
    results = await asyncio.gather(*(refer.refer(token(), f"Person {n}", f"p{n}@example.com", None) for n in range(7)),
                                   return_exceptions=True)
    refused = [r for r in results if isinstance(r, Refused)]
    assert len(publisher.of_type("inquiry.received")) == 5
    assert [r.status for r in refused] == [429, 429] and "5 people already" in refused[0].detail


@pytest.mark.parametrize("forged", [
    "x", "", "bS0x.abc", LINKS.token("m-1"),  # the unsubscribe token of the same value is not a referral token
    LINKS.refer_url("m-2").rsplit("/", 1)[1]])  # a real token of a message we never sent
async def test_a_forged_or_unknown_link_is_a_404(forged):
    refer, publisher = await referrals()
    with pytest.raises(Refused) as refused:
        await refer.refer(forged, "Sam", "sam@example.com", None)
    assert refused.value.status == 404 and publisher.of_type("inquiry.received") == []


async def test_a_closed_job_takes_no_referrals_and_a_bad_address_says_what_to_fix():
    closed, _ = await referrals(job_open=False)
    with pytest.raises(Refused) as refused:
        await closed.refer(token(), "Sam", "sam@example.com", None)
    assert refused.value.status == 410 and "closed" in refused.value.detail
    refer, publisher = await referrals()
    for name, email, says in (("Sam", "not-an-address", "the e-mail address"), ("", "sam@example.com", "the name"),
                              ("<script>", "x@example.com\nBcc: y@example.com", "the e-mail address")):
        with pytest.raises(Refused) as bad:
            await refer.refer(token(), name, email, None)
        assert bad.value.status == 422 and says in bad.value.detail
    assert publisher.of_type("inquiry.received") == []
