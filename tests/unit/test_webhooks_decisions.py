"""The webhooks service's pure parts: whose an event is, the attempt table, the SSRF rules, sealed secrets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.webhooks import domain, safety
from services.webhooks.crypto import SecretBox, new_secret

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
SCHEDULE = [5, 300, 1800]


def test_whose_an_event_is():
    assert domain.recruiter_of("assessments", {"recruiter_id": "rec-7", "job_id": "j"}, {}) == "rec-7"
    assert domain.recruiter_of("prospects", {"job_id": "j"}, {"j": "rec-8"}) == "rec-8"
    assert domain.recruiter_of("prospects", {"job_id": "unknown"}, {"j": "rec-8"}) is None
    assert domain.reaches("rec-7", "rec-7") and not domain.reaches("rec-7", "rec-8") and not domain.reaches("rec-7", None)
    assert domain.reaches(None, "rec-8")  # an operator's endpoint
    assert domain.wants(["*"], "message.sent") and not domain.wants(["prospect.rated"], "message.sent")
    # A sequence's events reach its recruiter's endpoints (one may subscribe to them).
    assert {"sequence.enrolled", "sequence.stopped"} <= set(domain.EVENT_TYPES)
    assert domain.recruiter_of("sequences", {"recruiter_id": "rec-7", "prospect_id": "p"}, {}) == "rec-7"


def test_the_attempt_table():
    decide = lambda status, n=1, failing=None: domain.after_attempt(  # noqa: E731
        status, attempts=n, schedule=SCHEDULE, now=NOW, failing_since=failing, disable_after=timedelta(days=5), jitter=0.0)
    assert decide(204).outcome == domain.Outcome.DELIVERED
    assert decide(500) == domain.Attempted(domain.Outcome.RETRY, NOW + timedelta(seconds=5))
    assert decide(None, 2).next_at == NOW + timedelta(seconds=300)  # a timeout or a refused connection
    assert decide(302, 3).next_at == NOW + timedelta(seconds=1800)  # a redirect is not followed
    assert decide(500, 4) == domain.Attempted(domain.Outcome.DEAD)  # past the schedule
    assert decide(410) == domain.Attempted(domain.Outcome.DEAD, disable="answered 410 Gone")
    disabled = decide(503, 2, NOW - timedelta(days=6))
    assert disabled.outcome == domain.Outcome.DEAD and disabled.disable.startswith("failing since 2026-11-26")


def test_jitter_stays_within_a_fifth():
    for _ in range(200):
        at = domain.after_attempt(500, attempts=2, schedule=SCHEDULE, now=NOW, failing_since=None,
                                  disable_after=timedelta(days=5)).next_at
        assert NOW + timedelta(seconds=240) <= at <= NOW + timedelta(seconds=360)


@pytest.mark.parametrize("address,reason", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"), ("192.168.0.10", "private"),
    ("172.16.5.4", "private"), ("100.64.0.1", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("::ffff:10.0.0.1", "private"), ("0.0.0.0", "not a unicast"), ("224.0.0.1", "not a unicast"),
])
def test_addresses_that_are_refused(address, reason):
    assert reason in str(safety.address_refusal(address, safety.Rules()))


@pytest.mark.parametrize("address,reason", [
    # IPv4 inside IPv6 (issue 27, 11): each form of 10/8, 127/8 and 169.254/16 that passed as public
    ("64:ff9b::a00:1", "private"), ("64:ff9b::7f00:1", "loopback"), ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64
    ("64:ff9b:1:a00:1::", "private"), ("64:ff9b:1:7f00:1::", "loopback"), ("64:ff9b:1:5db8:d8:2200::", "NAT64"),
    ("2002:a00:1::1", "private"), ("2002:7f00:1::1", "loopback"), ("2002:a9fe:a9fe::1", "link-local"),  # 6to4
    ("::a00:1", "private"), ("::7f00:1", "loopback"), ("::a9fe:a9fe", "link-local"),  # IPv4-compatible
    ("::ffff:0:a00:1", "private"), ("::ffff:0:7f00:1", "loopback"), ("::ffff:0:a9fe:a9fe", "link-local"),  # translated
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"),  # Teredo, whose client is 10.0.0.1
])
def test_ipv4_inside_ipv6_is_judged_as_the_ipv4(address, reason):
    refusal = str(safety.address_refusal(address, safety.Rules()))
    assert reason in refusal
    assert "inside an IPv6 address" in refusal or "local-use NAT64" in refusal


def test_public_ipv4_inside_ipv6_stays_callable():
    for address in ("64:ff9b::5db8:d822", "2002:5db8:d822::1", "2606:4700::1"):
        assert safety.address_refusal(address, safety.Rules()) is None
    # allowed loopback (make run) still never reaches metadata through NAT64
    assert safety.address_refusal("64:ff9b::a9fe:a9fe", safety.Rules(allow_loopback=True, allow_private=True))


def test_settings_allow_loopback_and_private_but_never_metadata():
    assert safety.address_refusal("93.184.216.34", safety.Rules()) is None
    assert safety.address_refusal("127.0.0.1", safety.Rules(allow_loopback=True)) is None
    assert safety.address_refusal("10.0.0.1", safety.Rules(allow_private=True)) is None
    assert safety.address_refusal("169.254.169.254", safety.Rules(allow_loopback=True, allow_private=True))


@pytest.mark.parametrize("url,says", [
    ("http://example.com/hook", "must be https"), ("ftp://example.com/", "must be https, not ftp"),
    ("https://user:pw@example.com/", "user name"), ("https:///path", "no host"), ("https://example.com:99999/", "port"),
])
def test_urls_that_are_refused(url, says):
    with pytest.raises(safety.Unsafe, match=says):
        safety.check_url(url, safety.Rules())


def test_http_only_by_setting():
    assert safety.check_url("http://127.0.0.1:9/x", safety.Rules(allow_http=True)) == ("http", "127.0.0.1", 9)


async def test_a_name_is_judged_by_every_address_it_resolves_to():
    with pytest.raises(safety.Unsafe, match="localhost resolves to 127.0.0.1, a loopback address"):
        await safety.resolve("localhost", 443, safety.Rules())
    assert await safety.resolve("localhost", 443, safety.Rules(allow_loopback=True)) in ("127.0.0.1", "::1")


def test_secrets_are_sealed_and_bound_to_their_endpoint():
    box = SecretBox("a-long-enough-key-for-tests")
    secret = new_secret()
    sealed = box.seal(secret, bound_to="e1")
    assert secret not in sealed and secret.removeprefix("whsec_") not in sealed
    assert box.open(sealed, bound_to="e1") == secret
    with pytest.raises(ValueError):
        box.open(sealed, bound_to="e2")
    with pytest.raises(ValueError, match="WEBHOOKS_SECRET_KEY"):
        SecretBox("another-long-enough-key").open(sealed, bound_to="e1")


def test_a_lease_shorter_than_an_attempt_is_refused():
    """Issue 27, 10: past the lease another replica took a delivery still being attempted."""
    from services.webhooks.settings import WebhooksSettings

    with pytest.raises(ValueError, match="WEBHOOKS_LEASE_S .* must be at least WEBHOOKS_TIMEOUT_S"):
        WebhooksSettings(timeout_s=40, lease_s=60)
    assert WebhooksSettings(timeout_s=10, lease_s=60).lease_s == 60
