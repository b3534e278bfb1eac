"""The schedule across time zones and a daylight-saving change, and the reminder's contents."""

from datetime import date, datetime, timedelta, timezone

from services.reminder import domain

UTC = timezone.utc


def test_due_after_the_local_hour_only():
    berlin = domain.Schedule("rec-7", "Europe/Berlin", 8)
    assert domain.due_date(berlin, datetime(2026, 11, 25, 6, 59, tzinfo=UTC)) is None  # 07:59 in Berlin
    assert domain.due_date(berlin, datetime(2026, 11, 25, 7, 0, tzinfo=UTC)) == date(2026, 11, 25)
    assert domain.due_date(berlin, datetime(2026, 11, 25, 22, 59, tzinfo=UTC)) == date(2026, 11, 25)  # catch-up
    assert domain.due_date(berlin, datetime(2026, 11, 25, 23, 30, tzinfo=UTC)) is None  # 00:30 the next day


def test_the_local_date_is_the_recruiters_not_utc():
    tokyo = domain.Schedule("rec-9", "Asia/Tokyo", 8)
    assert domain.due_date(tokyo, datetime(2026, 11, 25, 23, 30, tzinfo=UTC)) == date(2026, 11, 26)
    la = domain.Schedule("rec-8", "America/Los_Angeles", 8)
    assert domain.due_date(la, datetime(2026, 11, 26, 3, 0, tzinfo=UTC)) == date(2026, 11, 25)


def test_daylight_saving_change_keeps_the_wall_clock_hour():
    berlin = domain.Schedule("rec-7", "Europe/Berlin", 8)
    # 29 March 2026: clocks go from 02:00 to 03:00; 08:00 local is 06:00 UTC that day
    assert domain.due_date(berlin, datetime(2026, 3, 29, 5, 59, tzinfo=UTC)) is None
    assert domain.due_date(berlin, datetime(2026, 3, 29, 6, 0, tzinfo=UTC)) == date(2026, 3, 29)
    # the day before, 08:00 local was 07:00 UTC
    assert domain.due_date(berlin, datetime(2026, 3, 28, 6, 30, tzinfo=UTC)) is None


def test_one_id_per_recruiter_and_date():
    assert domain.reminder_id("rec-7", date(2026, 11, 25)) == domain.reminder_id("rec-7", date(2026, 11, 25))
    assert domain.reminder_id("rec-7", date(2026, 11, 25)) != domain.reminder_id("rec-7", date(2026, 11, 26))


def test_reminder_counts_jobs_and_the_fifty_oldest():
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    waiting = [domain.Waiting(f"p{n:02d}", "job-1" if n % 3 else "job-2", f"N{n}",
                              ("unrated", "shortlist", "not_a_fit")[n % 3], t0 + timedelta(hours=60 - n)) for n in range(60)]
    data = domain.reminder(domain.Schedule("rec-7", "Europe/Berlin"), date(2026, 11, 25), waiting, {"job-1": "Backend"})
    assert data["pending_total"] == 60
    assert data["counts"] == {"unrated": 20, "shortlist": 20, "not_a_fit": 20}
    assert data["jobs"][0] == {"job_id": "job-1", "title": "Backend", "pending": 40}
    assert len(data["prospects"]) == 50 and data["prospects"][0]["prospect_id"] == "p59"
    assert data["oldest_pending_since"] == t0 + timedelta(hours=1)
    assert domain.reminder(domain.Schedule("rec-7"), date(2026, 11, 25), [], {}) is None


def test_pending_keeps_the_fifty_oldest_of_many_in_any_order():
    import random

    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    waiting = [domain.Waiting(f"p{n:04d}", "job-1", f"N{n}", "unrated", t0 + timedelta(minutes=n)) for n in range(1000)]
    random.Random(7).shuffle(waiting)
    pending = domain.Pending()
    for w in waiting:
        pending.add(w)
    assert pending.total == 1000 and pending.counts["unrated"] == 1000
    assert [w.prospect_id for w in pending.oldest()] == [f"p{n:04d}" for n in range(50)]
    assert len(pending._oldest) < 4 * domain.MOST_LISTED  # bounded, however many wait
