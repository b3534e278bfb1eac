"""Rating's decisions: access, rating and flag changes, automatic flag moves."""

from datetime import datetime, timezone

from services.rating import domain
from shared.contract import FollowUpCause, Rating, RejectionReason

T0 = datetime(2026, 11, 20, 9, 29, tzinfo=timezone.utc)
T1 = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


def entry(**changes) -> domain.Entry:
    base = dict(prospect_id="p1", job_id="job-42", recruiter_id="rec-7", job_open=True, waiting_since=T0)
    base.update(changes)
    return domain.Entry(**base)


def test_access_rules():
    assert domain.check_access(None, "rec-7") == RejectionReason.UNKNOWN_PROSPECT
    assert domain.check_access(entry(), "rec-8") == RejectionReason.FORBIDDEN
    assert domain.check_access(entry(recruiter_id=None, job_open=None), "rec-7") == RejectionReason.FORBIDDEN
    assert domain.check_access(entry(job_open=False), "rec-7") == RejectionReason.JOB_CLOSED
    assert domain.check_access(entry(), "rec-7") is None


def test_rating_changes_only_when_different():
    rated, previous = domain.rate(entry(), Rating.SHORTLIST)
    assert rated.rating == Rating.SHORTLIST and previous == Rating.UNRATED
    assert domain.rate(rated, Rating.SHORTLIST) == (rated, None)


def test_unflagging_starts_a_new_wait():
    flagged, changed = domain.flag(entry(), True, T1)
    assert changed and flagged.flagged and flagged.waiting_since == T0
    assert domain.flag(flagged, True, T1) == (flagged, False)
    unflagged, changed = domain.flag(flagged, False, T1)
    assert changed and unflagged.waiting_since == T1


def test_new_inquiry_clears_the_flag_and_message_sets_it():
    flagged = entry(flagged=True)
    cleared, cause = domain.on_new_inquiry(flagged, T1)
    assert cause == FollowUpCause.NEW_INQUIRY and not cleared.flagged and cleared.waiting_since == T1
    assert domain.on_new_inquiry(entry(), T1) == (entry(), None)
    sent, cause = domain.on_message_sent(entry(), auto_flag=True)
    assert cause == FollowUpCause.MESSAGE_SENT and sent.flagged
    assert domain.on_message_sent(entry(), auto_flag=False) == (entry(), None)


def test_needs_follow_up_means_flag_off_and_job_open():
    assert entry().needs_follow_up
    assert not entry(flagged=True).needs_follow_up
    assert not entry(job_open=False).needs_follow_up
    assert not entry(job_open=None).needs_follow_up
