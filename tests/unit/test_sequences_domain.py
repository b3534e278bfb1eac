"""The sequences service's decisions, without I/O: windows, business days, holidays, the cap,
stops, and out-of-office return dates."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from services.sequences import domain
from services.sequences.domain import Calendar, Step, Window

UTC = timezone.utc
BERLIN = Calendar(Window(9, 17, ("mon", "tue", "wed", "thu", "fri")), "Europe/Berlin", "DE")


def test_step_one_goes_at_the_first_window_moment_not_at_night_nor_on_a_weekend():
    # Friday 2026-12-04 20:00 Berlin (19:00 UTC): the next moment is Monday 09:00 Berlin.
    assert BERLIN.first_moment(datetime(2026, 12, 4, 19, 0, tzinfo=UTC)) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    # Inside the window: at once.
    inside = datetime(2026, 12, 8, 10, 30, tzinfo=UTC)
    assert BERLIN.first_moment(inside) == inside
    # Early morning: at nine, the same day.
    assert BERLIN.first_moment(datetime(2026, 12, 8, 5, 0, tzinfo=UTC)) == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)


def test_public_holidays_of_the_recruiters_country_are_not_business_days():
    # 2026-12-25 (Friday) and 26 are German holidays: from Thursday evening the next is Monday 28.
    assert BERLIN.first_moment(datetime(2026, 12, 24, 17, 0, tzinfo=UTC)) == datetime(2026, 12, 28, 8, 0, tzinfo=UTC)
    american = Calendar(BERLIN.window, "Europe/Berlin", "US")
    assert american.first_moment(datetime(2026, 12, 24, 17, 0, tzinfo=UTC)) == datetime(2026, 12, 28, 8, 0, tzinfo=UTC)
    assert american.is_business_day(date(2026, 12, 24)) and not BERLIN.is_business_day(date(2026, 12, 25))
    assert Calendar(BERLIN.window, "UTC", "ZZ").is_business_day(date(2026, 12, 25))  # unknown country: none


def test_the_delay_counts_business_days():
    # Sent Thursday 10:00 Berlin; two business days later is Monday 10:00.
    sent = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
    assert BERLIN.next_step_at(sent, 2) == datetime(2026, 12, 14, 9, 0, tzinfo=UTC)
    # Sent at 16:30 Tuesday, one day later is 16:30 Wednesday: still in the window.
    assert BERLIN.next_step_at(datetime(2026, 12, 8, 15, 30, tzinfo=UTC), 1) == datetime(2026, 12, 9, 15, 30, tzinfo=UTC)


def test_the_window_is_read_in_the_persons_time_zone():
    tokyo = Calendar(Window(9, 17, domain.DAYS[:5]), "Asia/Tokyo")
    # Monday 2026-12-07 02:00 UTC is 11:00 in Tokyo: inside its window.
    assert tokyo.first_moment(datetime(2026, 12, 7, 2, 0, tzinfo=UTC)) == datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def test_the_cap_is_spread_over_the_window():
    cap = 80  # over 8 hours: ten an hour
    assert domain.allowance(cap, BERLIN, datetime(2026, 12, 8, 8, 0, tzinfo=UTC), 0) == 1  # 09:00: one
    assert domain.allowance(cap, BERLIN, datetime(2026, 12, 8, 10, 0, tzinfo=UTC), 0) == 20  # 11:00: a quarter
    assert domain.allowance(cap, BERLIN, datetime(2026, 12, 8, 10, 0, tzinfo=UTC), 15) == 5
    assert domain.allowance(cap, BERLIN, datetime(2026, 12, 8, 15, 59, tzinfo=UTC), 79) == 1
    assert domain.allowance(cap, BERLIN, datetime(2026, 12, 8, 15, 59, tzinfo=UTC), 80) == 0
    assert domain.allowance(cap, BERLIN, datetime(2026, 12, 8, 17, 0, tzinfo=UTC), 0) == 0  # 18:00: closed
    assert domain.allowance(cap, BERLIN, datetime(2026, 12, 12, 10, 0, tzinfo=UTC), 0) == 0  # Saturday


@pytest.mark.parametrize("steps,window,cap,says", [
    ([], Window(), 10, "at least one step"),
    ([Step("ask_to_apply", 0)] * 11, Window(), 10, "at most 10"),
    ([Step("ask_to_apply", -1)], Window(), 10, "0 to 60"),
    ([Step("ask_to_apply", 61)], Window(), 10, "0 to 60"),
    ([Step("ask_to_apply", 0), Step("ask_to_apply", 0)], Window(), 10, "only the first step"),
    ([Step("poem", 0)], Window(), 10, "unknown template 'poem'"),
    ([Step("ask_to_apply", 0)], Window(9, 9), 10, "must start before it ends"),
    ([Step("ask_to_apply", 0)], Window(9, 17, ("moon",)), 10, "window's days"),
    ([Step("ask_to_apply", 0)], Window(), 0, "daily_cap is at least 1"),
])
def test_bad_definitions_are_refused_with_the_reason(steps, window, cap, says):
    assert says in (domain.refusal(steps, window, cap, {"ask_to_apply"}) or "")


def test_a_good_definition_passes():
    assert domain.refusal([Step("ask_to_apply", 0), Step("ask_to_apply", 2)], Window(), 200, {"ask_to_apply"}) is None


@pytest.mark.parametrize("text", [
    "I am out of the office and back on 14 December. For urgent matters write to Bob.",
    "Vielen Dank für Ihre Nachricht. Ich bin zurück am 14.12. und antworte dann.",
    "Merci pour votre message. Je suis absent et de retour le 14 décembre.",
    "Gracias por su mensaje. Estoy fuera de la oficina, de vuelta el 14 de diciembre.",
])
def test_an_out_of_office_answer_gives_its_return_date_in_four_languages(text):
    assert domain.return_date(text, datetime(2026, 12, 7, 10, 0, tzinfo=UTC)) == date(2026, 12, 14)


def test_an_answer_without_a_date_gives_none_and_a_date_past_the_new_year_rolls_over():
    received = datetime(2026, 12, 28, 10, 0, tzinfo=UTC)
    assert domain.return_date("Thanks for your mail, I will answer soon.", received) is None
    assert domain.return_date("Ich bin ab dem 05.01. wieder im Büro.", received) == date(2027, 1, 5)


def test_what_stops_an_enrollment():
    assert domain.stop_reason("message.replied", {}) == "replied"
    assert domain.stop_reason("message.bounced", {"permanent": True}) == "bounced"
    assert domain.stop_reason("message.bounced", {"permanent": False}) is None
    assert domain.stop_reason("message.complained", {}) == "complained"
    assert domain.stop_reason("prospect.rated", {"rating": "not_a_fit"}) == "not_a_fit"
    assert domain.stop_reason("prospect.rated", {"rating": "shortlist"}) is None
    assert domain.stop_reason("message.failed", {"sequence": {"step": 1}}) == "send_failed"
    assert domain.stop_reason("message.failed", {}) is None  # another send's failure
    assert domain.is_out_of_office("message.auto_replied", {"kind": "out_of_office"})
    assert not domain.is_out_of_office("message.auto_replied", {"kind": "auto"})
