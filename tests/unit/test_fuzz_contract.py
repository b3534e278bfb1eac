"""Property-based tests (Hypothesis) of what every consumer does first with a message: parse it.
Whatever the bytes (arbitrary JSON, CloudEvents with each attribute wrong, huge and deeply nested
values, invalid UTF-8), the outcome is a valid event or a `BadMessage` with a reason: nothing
else escapes, so no input can stop a partition. And decisions over valid inputs, duplicated and
reordered, converge."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import topics
from shared.contract import EVENT_TYPES
from shared.kafka import parse_record
from shared.messages import BadMessage, Received

REASONS = {"not_json", "not_cloudevent", "unknown_type", "invalid_data"}
TOPICS = sorted(topics.TYPES_BY_TOPIC)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def record(topic: str, value: bytes | None, headers: tuple = ()) -> ConsumerRecord:
    return ConsumerRecord(topic=topic, partition=0, offset=0, timestamp=1_700_000_000_000, timestamp_type=0,
                          key=b"k", value=value, checksum=None, serialized_key_size=1,
                          serialized_value_size=len(value or b""), headers=headers)


def outcome(topic: str, value: bytes | None) -> str:
    try:
        parsed = parse_record(record(topic, value), topic_prefix="")
    except BadMessage as bad:
        assert bad.reason in REASONS and bad.error
        return bad.reason
    assert isinstance(parsed, Received) and parsed.event.type in topics.TYPES_BY_TOPIC[topic]
    return "valid"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30)


@FUZZ
@given(topic=st.sampled_from(TOPICS), value=st.binary(max_size=2_000))
def test_arbitrary_bytes(topic: str, value: bytes) -> None:
    outcome(topic, value)


@FUZZ
@given(topic=st.sampled_from(TOPICS), value=json_values)
def test_arbitrary_json(topic: str, value: Any) -> None:
    outcome(topic, json.dumps(value).encode())


def valid_event(event_type: str) -> dict[str, Any]:
    import copy

    from tests.unit.samples import SAMPLE_DATA  # one valid `data` per type

    return {"specversion": "1.0", "id": "e-1", "source": "tests/fuzz", "type": event_type,
            "time": "2026-11-25T09:30:00Z", "datacontenttype": "application/json",
            "data": copy.deepcopy(SAMPLE_DATA[event_type])}


ATTRIBUTES = ["specversion", "id", "source", "type", "time", "datacontenttype", "correlationid", "data"]


@FUZZ
@given(topic=st.sampled_from(TOPICS), data=st.data(), attribute=st.sampled_from(ATTRIBUTES), wrong=json_values)
def test_cloudevents_with_one_attribute_wrong(topic: str, data: st.DataObject, attribute: str, wrong: Any) -> None:
    event = valid_event(data.draw(st.sampled_from(sorted(topics.TYPES_BY_TOPIC[topic]))))
    event[attribute] = wrong
    outcome(topic, json.dumps(event).encode())


@FUZZ
@given(topic=st.sampled_from(TOPICS), data=st.data(), field=st.text(min_size=1, max_size=20), wrong=json_values)
def test_data_with_a_field_wrong_or_added(topic: str, data: st.DataObject, field: str, wrong: Any) -> None:
    event = valid_event(data.draw(st.sampled_from(sorted(topics.TYPES_BY_TOPIC[topic]))))
    key = data.draw(st.sampled_from([*event["data"], field]))
    event["data"][key] = wrong
    outcome(topic, json.dumps(event).encode())


def test_every_sample_is_valid_on_its_topic() -> None:
    """The fuzzers start from valid events: check that they are (else they test nothing)."""
    for topic in TOPICS:
        for event_type in topics.TYPES_BY_TOPIC[topic]:
            assert outcome(topic, json.dumps(valid_event(event_type)).encode()) == "valid", event_type
    assert set(EVENT_TYPES) <= {t for ts in topics.TYPES_BY_TOPIC.values() for t in ts}


def test_huge_deep_and_broken_values() -> None:
    inquiry = valid_event("inquiry.received")
    cases = {
        "[" * 100_000: "not_json",  # used to raise RecursionError out of the parser
        '{"a":' * 50_000 + "1" + "}" * 50_000: "not_json",
        json.dumps({**inquiry, "data": {**inquiry["data"], "message": "x" * 1_000_000}}): "invalid_data",
        json.dumps({**inquiry, "id": "x" * 10_000}): "not_cloudevent",
        json.dumps({**inquiry, "data": {**inquiry["data"], "prospect": {**inquiry["data"]["prospect"],
                                                                          "name": "Lee\r\nBcc: x@evil.example"}}}): "invalid_data",
    }
    for value, reason in cases.items():
        assert outcome("inquiries", value.encode()) == reason
    assert outcome("inquiries", b"\xff\xfe{not utf-8") == "not_json"
    assert outcome("inquiries", json.dumps(inquiry).encode()[:-1] + b"\xff}") == "not_json"
    assert outcome("inquiries", None) == "not_json"


@FUZZ
@given(headers=st.lists(st.tuples(st.text(max_size=10), st.binary(max_size=20)), max_size=5))
def test_invalid_utf8_in_headers_never_reaches_the_parser(headers: list[tuple[str, bytes]]) -> None:
    """FastStream decodes headers as UTF-8 and fails a whole batch on one that is not; our
    parser hook hands it a cleaned copy and keeps the originals for the dead letter."""
    import asyncio

    from shared.kafka import _tolerant_parser

    original = record("inquiries", b"{}", tuple(headers))
    seen: list[Any] = []

    class Message:
        raw_message: Any = None

    async def faststream_parser(records: Any) -> Any:
        for _, value in records[0].headers:
            value.decode()  # what FastStream does: must not raise
        seen.append(records)
        return Message()

    message = asyncio.run(_tolerant_parser((original,), faststream_parser))
    assert seen and (message.raw_message is None or message.raw_message == (original,))


# --- decisions over duplicated and reordered events --------------------------------------------

ratings = st.sampled_from(["unrated", "shortlist", "not_a_fit"])


@FUZZ
@given(steps=st.lists(st.tuples(st.sampled_from(["rate", "flag"]), st.sampled_from(["p1", "p2", "p3"]),
                                ratings, st.booleans()), min_size=1, max_size=12))
def test_rating_a_command_delivered_twice_changes_nothing_the_second_time(steps: list[tuple[str, str, str, bool]]) -> None:
    """However the board got where it is, the same command decided again (a redelivery, after
    the first was applied) writes nothing, emits no rating or flag event, and answers with the
    same `command.completed` id."""
    from services.rating import domain
    from tests.unit.test_rating_decisions import entry, received, state

    board = state(p1=entry(), p2=entry("p2"), p3=entry("p3", recruiter_id="rec-8"))
    for n, (kind, pid, rating, flagged) in enumerate(steps):
        if kind == "rate":
            command = received("prospects.rate", {"recruiter_id": "rec-7", "prospect_ids": [pid], "rating": rating},
                               "rating-commands", f"c{n}")
        else:
            command = received("prospects.flag_follow_up", {"recruiter_id": "rec-7", "prospect_ids": [pid],
                                                            "flagged": flagged}, "rating-commands", f"c{n}")
        first = domain.decide(command, board)
        again = domain.decide(command, board)
        assert again.board == [] and again.history == []
        assert [e.event["type"] for e in again.events] == ["command.completed"]
        assert again.events[0].event["id"] == first.events[-1].event["id"]
        assert again.events[0].event["data"] == first.events[-1].event["data"]


@FUZZ
@given(data=st.data(), n=st.integers(min_value=1, max_value=30))
def test_the_reminder_is_the_same_whatever_the_order_of_who_is_waiting(data: st.DataObject, n: int) -> None:
    from datetime import date, datetime, timedelta, timezone

    from services.reminder import domain

    base = datetime(2026, 11, 1, tzinfo=timezone.utc)
    waiting = [domain.Waiting(f"p{i}", data.draw(st.sampled_from(["job-a", "job-b", "job-c"])), f"P {i}",
                              data.draw(ratings), base + timedelta(minutes=data.draw(st.integers(0, 50))))
               for i in range(n)]
    shuffled = data.draw(st.permutations(waiting))
    schedule = domain.Schedule("rec-7", "UTC", 8)
    day = date(2026, 11, 26)
    assert domain.reminder(schedule, day, shuffled, {"job-a": "A"}) == domain.reminder(schedule, day, waiting, {"job-a": "A"})


@FUZZ
@given(data=st.data())
def test_intake_redeliveries_in_a_batch_do_not_change_what_it_emits(data: st.DataObject) -> None:
    """A batch with some inquiries delivered twice (same event id, anywhere in the batch) emits
    per event what the batch without the repeats emits."""
    from datetime import datetime, timezone

    from services.intake import domain
    from shared.contract import InquiryReceived

    def inquiry(n: int, email: str, name: str) -> domain.Inquiry:
        body = InquiryReceived.model_validate({"job_id": "job-42", "board": "b",
                                              "prospect": {"name": name, "email": email}})
        return domain.inquiry_from_event(f"e{n}", body, datetime(2026, 11, 25, tzinfo=timezone.utc))

    emails = ["a@example.com", "b@example.com"]
    batch = [inquiry(n, data.draw(st.sampled_from(emails)), data.draw(st.sampled_from(["Lee", "Lee Park", "Sam"])))
             for n in range(data.draw(st.integers(1, 8)))]
    with_repeats = list(batch)
    for _ in range(data.draw(st.integers(0, 6))):  # a redelivery comes after its original (one partition)
        original = data.draw(st.integers(0, len(batch) - 1))
        after = with_repeats.index(batch[original]) + 1
        with_repeats.insert(data.draw(st.integers(after, len(with_repeats))), batch[original])
    assert domain.unique_by_event_id(with_repeats) == batch
    assert domain.snapshots(domain.unique_by_event_id(with_repeats), {}) == domain.snapshots(batch, {})


ADDRESSES = st.one_of(
    st.emails().map(str),
    st.from_regex(r"[ A-Za-z0-9.+_@-]{0,12}@[A-Za-z0-9.-]{0,12}", fullmatch=True),
    st.text(max_size=40),
)


@FUZZ
@given(st.lists(ADDRESSES, min_size=1, max_size=5))
def test_a_remembered_address_check_decides_as_email_validator_does(addresses: list[str]) -> None:
    """Consumers remember the addresses that passed (email-validator is a fifth of their CPU):
    asked again, in any order, the answer is email-validator's, valid or not."""
    from pydantic import TypeAdapter, ValidationError
    from pydantic.networks import EmailStr

    from shared.contract import Email

    remembered, plain = TypeAdapter(Email), TypeAdapter(EmailStr)

    def outcome(adapter: TypeAdapter[Any], value: str) -> str:
        try:
            return "ok " + str(adapter.validate_python(value.strip())).lower()
        except ValidationError as refused:
            return "refused " + refused.errors()[0]["msg"]

    for value in addresses + addresses[::-1]:  # each asked at least twice
        assert outcome(remembered, value) == outcome(plain, value)


def _near_plain() -> st.SearchStrategy[str]:
    """Addresses at the edges of the plain kind (shared.contract._plain_address): atoms and labels
    near their limits, hyphens where they may and may not be, Punycode, special-use names,
    numeric and one-letter top-level domains, upper case."""
    from email_validator import SPECIAL_USE_DOMAIN_NAMES

    def run(alphabet: str, sizes: list[int]) -> st.SearchStrategy[str]:
        return st.integers(1, 3).flatmap(lambda _: st.sampled_from(sizes)).flatmap(
            lambda n: st.text(alphabet, min_size=n, max_size=n))

    atom = st.one_of(run("aZ09_+-", [1, 2, 5, 63, 64, 65]), st.sampled_from(["", "é", "a!b", '"q"', "a b"]))
    label = st.one_of(run("aZ09-", [1, 2, 4, 62, 63, 64]), st.sampled_from(["xn--bcher-kva", "ab--c", "a-b", "-a", "a-"]))
    top = st.one_of(st.sampled_from([*SPECIAL_USE_DOMAIN_NAMES, "com", "IO", "c", "c0m", "123", "co"]),
                    run("aZ", [2, 63, 64]))
    return st.builds(lambda local, labels, tld: f"{local}@{'.'.join([*labels, tld])}",
                     st.lists(atom, min_size=1, max_size=3).map(".".join),
                     st.lists(label, min_size=0, max_size=4), top)


@FUZZ
@given(st.lists(st.one_of(_near_plain(), ADDRESSES), min_size=1, max_size=5))
def test_a_plain_address_is_accepted_only_as_email_validator_accepts_it(addresses: list[str]) -> None:
    """The plain addresses are decided without email-validator: whatever is decided so is what
    email-validator would say (valid, the same address in lower case); anything else is asked."""
    from pydantic_core import PydanticCustomError
    from pydantic.networks import validate_email

    from shared.contract import _plain_address

    for value in addresses:
        decided = _plain_address(value)
        if decided is not None:
            try:
                expected = validate_email(value)[1]
            except PydanticCustomError as refused:
                raise AssertionError(f"{value!r} taken as plain, but email-validator refuses it: {refused}") from None
            assert decided == expected.lower()


def test_common_addresses_are_plain() -> None:
    from shared.contract import _plain_address

    for value in ("lee.park+jobs@Example.co.uk", "s1-x_y@mail.example.com", "A@B.IO"):
        assert _plain_address(value) == value.lower()
    for value in ("a@xn--bcher-kva.ch", "a@host.localhost", "a@b.c", "a..b@x.com", "\"a\"@x.com", "a@1.123",
                  "a" * 65 + "@x.com", "é@x.com", "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".com"):
        assert _plain_address(value) is None  # asked of email-validator


@FUZZ
@given(st.lists(st.text(max_size=30), min_size=1, max_size=4))
def test_derived_ids_are_the_uuid5_of_their_parts(parts: list[str]) -> None:
    """Every id we derive (prospects, people, events) is the UUIDv5 the contract names, written
    out faster than `uuid.uuid5`: the same value for any parts, or stored ids would not match."""
    import uuid

    from shared import ids

    try:
        expected = str(uuid.uuid5(ids.NAMESPACE, "\x1f".join(parts)))
    except UnicodeEncodeError:  # a lone surrogate: neither can derive one
        with pytest.raises(UnicodeEncodeError):
            ids.derive(*parts)
        return
    assert ids.derive(*parts) == expected
