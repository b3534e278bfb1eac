"""Intake's decisions: ids, profile snapshots, which event an inquiry causes."""

from datetime import datetime, timedelta, timezone

from services.intake import domain
from shared import ids
from shared.contract import InquiryReceived

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


def make(event_id: str, *, email="Lee.Park@example.com", job="job-42", at=T0, **profile) -> domain.Inquiry:
    data = InquiryReceived.model_validate({
        "job_id": job, "board": "acme", "board_inquiry_id": f"b-{event_id}",
        "prospect": {"name": "Lee Park", "email": email, **profile},
    })
    return domain.inquiry_from_event(event_id, data, at)


def test_ids_depend_on_normalised_email_and_job():
    a = make("e1", email="  LEE.PARK@example.com")
    b = make("e2", email="lee.park@EXAMPLE.com ")
    other_job = make("e3", job="job-43")
    assert a.prospect_id == b.prospect_id
    assert a.person_id == b.person_id == other_job.person_id
    assert other_job.prospect_id != a.prospect_id
    assert a.prospect_id == ids.prospect_id("job-42", "lee.park@example.com")


def test_inquired_at_defaults_to_event_time():
    assert make("e1", at=T0).inquired_at == T0


def test_board_key_uses_board_inquiry_id_else_event_id():
    data = InquiryReceived.model_validate({"job_id": "j", "board": "b", "prospect": {"name": "N", "email": "n@example.com"}})
    anonymous = domain.inquiry_from_event("e9", data, T0)
    assert make("e1").board_key != make("e2").board_key
    assert anonymous.board_key.endswith("e9")


def test_first_inquiry_registers_later_ones_inquire_again():
    first, later = make("e1"), make("e2", at=T0 + timedelta(days=1))
    assert domain.event_type(first, registered_by="e1") == domain.REGISTERED
    assert domain.event_type(later, registered_by="e1") == domain.INQUIRED_AGAIN


def test_profile_takes_latest_values_and_keeps_earlier_ones():
    merged = domain.merge_profile({"name": "Lee", "phone": "+49 1", "headline": "Go"}, {"name": "Lee Park", "headline": "Python", "skills": []})
    assert merged == {"name": "Lee Park", "phone": "+49 1", "headline": "Python"}
    assert domain.merge_profile(merged, {"headline": "Python"}) == merged  # a replay changes nothing


def test_snapshots_fold_a_batch_onto_what_was_known():
    first = make("e1", phone="+49 1")
    second = make("e2", headline="Python engineer")
    known = {first.prospect_id: domain.Known(registered_by="e0", profile={"name": "Lee", "location": "Berlin"})}
    per_event, profiles = domain.snapshots([first, second], known)
    assert per_event["e1"]["phone"] == "+49 1" and "headline" not in per_event["e1"]
    assert per_event["e2"] == profiles[first.prospect_id]
    assert profiles[first.prospect_id]["location"] == "Berlin" and profiles[first.prospect_id]["headline"] == "Python engineer"


def test_duplicate_events_in_a_batch_collapse():
    a, again = make("e1"), make("e1")
    assert domain.unique_by_event_id([a, again, make("e2")]) == [a, make("e2")]
