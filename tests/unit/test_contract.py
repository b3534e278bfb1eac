"""The contract's validation rules, and how a bad message is classified for the DLQ."""

import json

import pytest
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from shared.contract import EVENT_TYPES, InquiryReceived, JobOpened, RateProspects, SendMessages, new_event
from shared.kafka import parse_record
from shared.messages import BadMessage


def record(value: bytes | None, topic: str = "inquiries") -> ConsumerRecord:
    return ConsumerRecord(topic=topic, partition=0, offset=7, timestamp=1764063000000, timestamp_type=0,
                          key=b"k", value=value, checksum=None, serialized_key_size=1,
                          serialized_value_size=len(value or b""), headers=())


def inquiry(**changes):
    data = {"job_id": "job-42", "board": "acme-board", "board_inquiry_id": "A-991",
            "prospect": {"name": "Lee Park", "email": " Lee.Park@Example.com "}}
    data.update(changes)
    return {"specversion": "1.0", "id": "e1", "source": "jobboard/acme", "type": "inquiry.received",
            "time": "2026-11-25T09:30:00Z", "data": data}


def test_email_is_trimmed_and_lower_cased():
    parsed = InquiryReceived.model_validate(inquiry()["data"])
    assert parsed.prospect.email == "lee.park@example.com"


def test_unknown_fields_and_attributes_are_ignored():
    event = inquiry(future_field={"x": 1})
    event["someextension"] = "yes"
    received = parse_record(record(json.dumps(event).encode()), topic_prefix="")
    assert received.data.job_id == "job-42"


@pytest.mark.parametrize("value, reason", [
    (b"\xff\xfe not json", "not_json"),
    (None, "not_json"),
    (b"[1, 2]", "not_cloudevent"),
    (json.dumps({"id": "x", "type": "inquiry.received", "data": {}}).encode(), "not_cloudevent"),
    (json.dumps({**inquiry(), "type": "job.opened"}).encode(), "unknown_type"),
    (json.dumps(inquiry(job_id="job 42")).encode(), "invalid_data"),
    (json.dumps(inquiry(prospect={"name": "Lee", "email": "not-an-address"})).encode(), "invalid_data"),
    (json.dumps(inquiry(prospect={"name": "Lee\x07", "email": "lee@example.com"})).encode(), "invalid_data"),
])
def test_bad_messages_are_classified(value, reason):
    with pytest.raises(BadMessage) as caught:
        parse_record(record(value), topic_prefix="")
    assert caught.value.reason == reason


def test_validation_error_does_not_echo_personal_data():
    value = json.dumps(inquiry(prospect={"name": "Lee Secret-Name", "email": "secret-address"})).encode()
    with pytest.raises(BadMessage) as caught:
        parse_record(record(value), topic_prefix="")
    assert "prospect.email" in caught.value.error
    assert "secret-address" not in caught.value.error


def test_topic_prefix_is_stripped_before_checking_types():
    received = parse_record(record(json.dumps(inquiry()).encode(), topic="acme-inquiries"), topic_prefix="acme-")
    assert received.topic == "inquiries"


def test_identifiers_and_free_text_rules():
    with pytest.raises(ValidationError):
        JobOpened.model_validate({"job_id": "x" * 129, "title": "T", "company": "C",
                                  "recruiter": {"recruiter_id": "r", "name": "N", "email": "n@example.com"}})
    job = JobOpened.model_validate({"job_id": "job-1", "title": "T", "company": "C",
                                    "recruiter": {"recruiter_id": "r", "name": "N", "email": "n@example.com"}})
    assert job.recruiter.timezone == "UTC" and job.recruiter.reminder_hour == 8
    with pytest.raises(ValidationError):
        JobOpened.model_validate({"job_id": "job-1", "title": "T", "company": "C",
                                  "recruiter": {"recruiter_id": "r", "name": "N", "email": "n@example.com",
                                                "timezone": "Mars/Olympus", "reminder_hour": 24}})
    note = SendMessages.model_validate({"recruiter_id": "r", "template": "ask_to_apply",
                                        "prospect_ids": ["p"], "note": "Hi,\nthanks"})
    assert note.note == "Hi,\nthanks"


def test_commands_take_one_to_a_thousand_ids():
    RateProspects.model_validate({"recruiter_id": "r", "prospect_ids": ["p"] * 1000, "rating": "shortlist"})
    for ids in ([], ["p"] * 1001):
        with pytest.raises(ValidationError):
            RateProspects.model_validate({"recruiter_id": "r", "prospect_ids": ids, "rating": "shortlist"})
    with pytest.raises(ValidationError):
        RateProspects.model_validate({"recruiter_id": "r", "prospect_ids": ["p"], "rating": "maybe"})


def test_new_event_is_a_valid_cloudevent_of_a_contract_type():
    data = EVENT_TYPES["prospect.rated"].model_validate(
        {"prospect_id": "p", "job_id": "j", "recruiter_id": "r", "rating": "shortlist",
         "previous_rating": "unrated", "command_id": "c"})
    event = new_event(event_id="id-1", source="prospectflow/rating", type="prospect.rated", data=data, correlationid="c")
    assert event["specversion"] == "1.0" and event["time"].endswith("Z") and event["correlationid"] == "c"
    with pytest.raises(ValueError):
        new_event(event_id="x", source="s", type="prospect.vanished", data=data)
