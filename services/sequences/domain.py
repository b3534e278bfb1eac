"""The sequences service's decisions, without I/O: when a step is due (the window in the person's
time zone, business days without the recruiter's country's public holidays), how many steps a
recruiter may send by now (a daily cap spread over the window), what stops or pauses an
enrollment, and the return date an out-of-office answer gives."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from shared import ids
from shared.contract import AutoReplyKind, Rating, StopReason

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOOK_AHEAD_DAYS = 400  # a window with no business day in a year is refused when it is defined


@dataclass(frozen=True, slots=True)
class Window:
    start_hour: int = 9
    end_hour: int = 17
    days: tuple[str, ...] = DAYS[:5]


@dataclass(frozen=True, slots=True)
class Step:
    template: str
    delay_business_days: int


@dataclass(frozen=True, slots=True)
class Calendar:
    """Where and when a person may be written to: the window, read in `timezone`, on business
    days (the window's days, minus `country`'s public holidays)."""

    window: Window
    timezone: str = "UTC"
    country: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_business_day(self, day: date) -> bool:
        return DAYS[day.weekday()] in self.window.days and day not in public_holidays(self.country, day.year)

    def first_moment(self, at: datetime) -> datetime:
        """The first window moment at or after `at` (UTC)."""
        local = at.astimezone(self.zone)
        day = local.date()
        for _ in range(LOOK_AHEAD_DAYS):
            if self.is_business_day(day):
                start = _local(day, self.window.start_hour, self.zone)
                end = _local(day, self.window.end_hour, self.zone) if self.window.end_hour < 24 else \
                    _local(day + timedelta(days=1), 0, self.zone)
                if local < start:
                    return start.astimezone(timezone.utc)
                if local < end:
                    return local.astimezone(timezone.utc)
            day += timedelta(days=1)
        raise ValueError("no business day in the window within a year")

    def after_business_days(self, at: datetime, days: int) -> datetime:
        """`days` business days after `at`, at the same local time (0: `at` itself)."""
        local = at.astimezone(self.zone)
        day = local.date()
        while days > 0:
            day += timedelta(days=1)
            if self.is_business_day(day):
                days -= 1
        return datetime.combine(day, local.time(), self.zone).astimezone(timezone.utc)

    def next_step_at(self, sent_at: datetime, delay_business_days: int) -> datetime:
        """Step n+1: the first window moment at or after `delay` business days after step n was sent."""
        return self.first_moment(self.after_business_days(sent_at, delay_business_days))

    def resume_at(self, back: date) -> datetime:
        """After an out-of-office: the first window moment of the first business day from `back` on."""
        return self.first_moment(_local(back, 0, self.zone))


def _local(day: date, hour: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour), zone)


@lru_cache(maxsize=256)
def _holidays(country: str, year: int) -> frozenset[date]:
    import holidays

    try:
        return frozenset(holidays.country_holidays(country, years=year))
    except NotImplementedError:  # a country the package does not know: no holidays, as without one
        return frozenset()


def public_holidays(country: str | None, year: int) -> frozenset[date]:
    return _holidays(country, year) if country else frozenset()


def allowance(cap: int, calendar: Calendar, now: datetime, sent_today: int) -> int:
    """How many more steps a recruiter may send now: at most `cap` a local day, spread over the
    window (by a fraction f of the window, ceil(cap * f), at least one), never outside it."""
    local = now.astimezone(calendar.zone)
    if not calendar.is_business_day(local.date()):
        return 0
    start = _local(local.date(), calendar.window.start_hour, calendar.zone)
    length = timedelta(hours=calendar.window.end_hour - calendar.window.start_hour)
    if not start <= local < start + length:
        return 0
    fraction = (local - start) / length
    return max(0, min(cap, max(1, math.ceil(cap * fraction))) - sent_today)


def local_day(calendar: Calendar, at: datetime) -> str:
    return at.astimezone(calendar.zone).date().isoformat()


# --- definitions -------------------------------------------------------------------------------

MAX_STEPS = 10
CUSTOM = re.compile(r"^custom:[A-Za-z0-9._:-]{1,128}$")  # a recruiter's own template, kept by messaging
MAX_DELAY = 60


def refusal(steps: list[Step], window: Window, daily_cap: int, templates: frozenset[str] | set[str]) -> str | None:
    """Why a sequence definition cannot be saved, in words, or None."""
    if not steps:
        return "a sequence has at least one step"
    if len(steps) > MAX_STEPS:
        return f"a sequence has at most {MAX_STEPS} steps"
    for n, step in enumerate(steps, 1):
        if step.template not in templates and not CUSTOM.match(step.template):
            return (f"step {n}: unknown template {step.template!r} (known: {', '.join(sorted(templates))}, or a "
                    "template of yours as custom:<template_id>)")
        if not 0 <= step.delay_business_days <= MAX_DELAY:
            return f"step {n}: delay_business_days must be 0 to {MAX_DELAY}"
        if n > 1 and step.delay_business_days == 0:
            return f"step {n}: only the first step may have delay_business_days 0"
    if not 0 <= window.start_hour < window.end_hour <= 24:
        return "the window must start before it ends (start_hour before end_hour, 0 to 24)"
    if window.end_hour - window.start_hour < 1:
        return "the window is at least an hour"
    if not window.days or any(d not in DAYS for d in window.days):
        return f"the window's days are some of {', '.join(DAYS)}"
    if daily_cap < 1:
        return "daily_cap is at least 1"
    return None


def enrollment_id(command_id: str, prospect_id: str) -> str:
    return ids.derive("enrollment", command_id, prospect_id)


def step_command_id(enrollment: str, step: int) -> str:
    """The `messages.send` of a step: whoever publishes it, however often, it is one command,
    which messaging carries out once."""
    return ids.derive("sequence-step", enrollment, str(step))


# --- what events do to a running enrollment ------------------------------------------------------


def stop_reason(event_type: str, data: dict[str, Any]) -> StopReason | None:
    """The reason an event about a prospect stops their enrollment, or None."""
    if event_type == "message.replied":
        return StopReason.REPLIED
    if event_type == "message.bounced" and data.get("permanent"):
        return StopReason.BOUNCED
    if event_type == "message.complained":
        return StopReason.COMPLAINED
    if event_type == "prospect.rated" and data.get("rating") == Rating.NOT_A_FIT:
        return StopReason.NOT_A_FIT
    if event_type == "message.failed" and data.get("sequence"):  # failed for good, after its retries
        return StopReason.SEND_FAILED
    return None


def is_out_of_office(event_type: str, data: dict[str, Any]) -> bool:
    return event_type == "message.auto_replied" and data.get("kind") == AutoReplyKind.OUT_OF_OFFICE


# --- an out-of-office answer's return date ---------------------------------------------------------

OOO_LANGUAGES = ["en", "de", "fr", "es"]
_DAY_MONTH = re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(?!\d)")  # "14.12." without a year


def return_date(text: str | None, received: datetime) -> date | None:
    """The day the person says they are back, read by dateparser in English, German, French or
    Spanish ("back on 14 December", "zurück am 14.12.", "de retour le 14 décembre", "de vuelta el
    14 de diciembre"): the first date in the text after the answer came, within a year."""
    if not text:
        return None
    from dateparser.search import search_dates

    day = received.date()
    # dateparser reads "14.12." (no year, as German, French and Spanish write it) as a time of day
    text = _DAY_MONTH.sub(lambda m: f"{m.group(1)}.{m.group(2)}.{day.year}", text[:2_000])
    settings = {"PREFER_DATES_FROM": "future", "RELATIVE_BASE": received.replace(tzinfo=None),
                "REQUIRE_PARTS": ["day", "month"], "DATE_ORDER": "DMY"}
    found = search_dates(text, languages=OOO_LANGUAGES, settings=settings) or []
    for _, when in found:
        back: date = when.date()
        if back < day:  # "back 05.01." written in December: next year's
            try:
                back = back.replace(year=back.year + 1)
            except ValueError:
                continue
        if day < back <= day + timedelta(days=365):
            return back
    return None
