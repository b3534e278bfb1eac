"""The Insights page (a period's figures as charts and tables, one job or all, by activity or
cohort, and their CSV) and Home's three headline figures with the change from last week; all of
it the insights service's answers, read with the recruiter's own token."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.dashboard.clients import InsightsApi, NotFound, Refused, SessionExpired, Unavailable
from services.dashboard.errors import Problem
from services.dashboard.present import TEMPLATE_NAMES
from services.dashboard.routes.consider import open_jobs
from services.dashboard.web import ID_PATTERN, Current, Dashboard, Parts

router = APIRouter()
DATE = r"^\d{4}-\d{2}-\d{2}$"
WEEKS_SHOWN = (8, 26)  # time to first contact by week: at least 8 weeks, at most 26
FUNNEL = (("inquiries", "Inquired"), ("rated", "Rated"), ("shortlisted", "Shortlisted"),
          ("contacted", "Contacted"), ("replied", "Replied"))


def _api(dashboard: Parts) -> InsightsApi:
    if dashboard.insights is None:
        raise Problem("Insights unavailable", "No insights service is configured (DASHBOARD_INSIGHTS_API_URL).", 503)
    return dashboard.insights


def today(jobs: list[dict[str, Any]], now: datetime | None = None) -> date:
    """The recruiter's today: insights counts a job's days in its recruiter's time zone, so "this
    week" ends on the local date of the zone most of their (open) jobs give; UTC without any."""
    zones = Counter(str(j.get("timezone") or "UTC") for j in jobs)
    zone: tzinfo
    try:
        zone = ZoneInfo(zones.most_common(1)[0][0]) if zones else timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        zone = timezone.utc
    return (now or datetime.now(timezone.utc)).astimezone(zone).date()


def _day(text: str | None, default: date, name: str) -> date:
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Problem("Not a date", f"`{name}` must be a date like 2026-12-01.", 400) from None


def weeks(start: date, end: date) -> list[tuple[date, date]]:
    """The weeks (7 days each, the last ending on `end`) the time-to-first-contact line shows:
    those of the period, at least 8 and at most 26, oldest first."""
    n = min(max(math.ceil(((end - start).days + 1) / 7), WEEKS_SHOWN[0]), WEEKS_SHOWN[1])
    return [(end - timedelta(days=7 * k + 6), end - timedelta(days=7 * k)) for k in reversed(range(n))]


def _hours(seconds: int | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 1)


async def sequence_names(dashboard: Parts, token: str) -> dict[str, str]:
    """The recruiter's sequences' names by id, to name the steps (none if sequences does not answer)."""
    if dashboard.sequences is None:
        return {}
    try:
        return {s["sequence_id"]: s["name"] for s in await dashboard.sequences.sequences(token)}
    except (Unavailable, SessionExpired, NotFound, Refused):
        return {}


def step_label(step: str, names: dict[str, str]) -> str:
    """`<sequence_id>:<n>` as people read it: 'New grads · step 2'."""
    sequence_id, _, n = step.rpartition(":")
    return f"{names.get(sequence_id, sequence_id)} · step {n}"


def chart_data(answer: dict[str, Any], by_week: list[tuple[tuple[date, date], dict[str, Any]]],
               names: dict[str, str]) -> dict[str, Any]:
    """What the page's charts draw (the same figures its tables show)."""
    return {
        "weeks": {"labels": [f"{a:%d %b}–{b:%d %b}" for (a, b), _ in by_week],
                  "median_h": [_hours(w["time_to_first_contact_s"]["median"]) for _, w in by_week],
                  "p90_h": [_hours(w["time_to_first_contact_s"]["p90"]) for _, w in by_week]},
        "templates": {"labels": [TEMPLATE_NAMES.get(t, t) for t in answer["by_template"]],
                      "rate": [round(100 * (t["reply_rate"] or 0), 1) for t in answer["by_template"].values()]},
        "steps": {"labels": [step_label(k, names) for k in answer["by_step"]],
                  "rate": [round(100 * (s["reply_rate"] or 0), 1) for s in answer["by_step"].values()]},
        "boards": {"labels": list(answer["by_board"]),
                   "inquiries": [b["inquiries"] for b in answer["by_board"].values()],
                   "contacted": [b["contacted"] for b in answer["by_board"].values()]},
        "funnel": {"labels": [label for _, label in FUNNEL], "values": [answer[name] for name, _ in FUNNEL]},
    }


@router.get("/insights", response_class=HTMLResponse)
async def insights_page(
    request: Request, dashboard: Dashboard, session: Current,
    start: Annotated[str | None, Query(alias="from", pattern=DATE)] = None,
    end: Annotated[str | None, Query(alias="to", pattern=DATE)] = None,
    job: Annotated[str | None, Query(pattern=f"({ID_PATTERN[1:-1]})?")] = None,
    reading: Annotated[str, Query(pattern="^(activity|cohort)$")] = "activity",
) -> HTMLResponse:
    api = _api(dashboard)
    jobs, names = await asyncio.gather(open_jobs(dashboard, session.token), sequence_names(dashboard, session.token))
    last = _day(end, today(jobs), "to")
    first = _day(start, last - timedelta(days=6), "from")
    if first > last:
        raise Problem("The period is backwards", "`from` must not be after `to`.", 400)
    job = job or None
    asked = [(first, last), *weeks(first, last)]
    try:
        answers = await asyncio.gather(*(api.figures(session.token, a.isoformat(), b.isoformat(), job_id=job,
                                                     reading=reading) for a, b in asked))
    except NotFound:
        raise Problem("No such job", "That job is not one of yours.", 404) from None
    except Refused as exc:
        raise Problem("Not a period insights can show", exc.detail, 400) from None
    answer, by_week = answers[0], list(zip(asked[1:], answers[1:]))
    steps = {step_label(k, names): v for k, v in answer["by_step"].items()}
    funnel_top = max(answer["inquiries"], 1)
    return dashboard.page(request, "insights.html", session, nav="insights", answer=answer, first=first, last=last,
                          job=job, reading=reading, jobs=jobs, charts=chart_data(answer, by_week, names), steps=steps,
                          by_week=by_week, funnel=[(label, answer[name], round(100 * answer[name] / funnel_top))
                                                   for name, label in FUNNEL])


@router.get("/insights.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "the figures as CSV rows (section, key, figure, value)"}})
async def insights_csv(
    dashboard: Dashboard, session: Current,
    start: Annotated[str, Query(alias="from", pattern=DATE)],
    end: Annotated[str, Query(alias="to", pattern=DATE)],
    job: Annotated[str | None, Query(pattern=f"({ID_PATTERN[1:-1]})?")] = None,
    reading: Annotated[str, Query(pattern="^(activity|cohort)$")] = "activity",
) -> Response:
    try:
        text = await _api(dashboard).csv(session.token, start, end, job_id=job or None, reading=reading)
    except NotFound:
        raise Problem("No such job", "That job is not one of yours.", 404) from None
    except Refused as exc:
        raise Problem("Not a period insights can show", exc.detail, 400) from None
    name = f"insights-{start}-{end}{'-' + job if job else ''}-{reading}.csv"
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _change(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else round(now - before, 3)


async def headline(dashboard: Parts, token: str, recruiter_id: str, waiting: int,
                   jobs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """This week's time to first contact, reply rate and people waiting, each with last week's;
    never holds Home up (no insights service, or one not answering: no figures)."""
    if dashboard.insights is None:
        return None
    day = today(jobs)
    await dashboard.store.note_waiting(recruiter_id, day.isoformat(), waiting)
    try:
        this, before, waiting_before = await asyncio.gather(
            dashboard.insights.figures(token, (day - timedelta(days=6)).isoformat(), day.isoformat()),
            dashboard.insights.figures(token, (day - timedelta(days=13)).isoformat(),
                                       (day - timedelta(days=7)).isoformat()),
            dashboard.store.waiting_on(recruiter_id, (day - timedelta(days=13)).isoformat(),
                                       (day - timedelta(days=7)).isoformat()))
    except (Unavailable, SessionExpired, NotFound, Refused):
        return None
    ttfc, ttfc_before = this["time_to_first_contact_s"]["median"], before["time_to_first_contact_s"]["median"]
    return {"ttfc": ttfc, "ttfc_change": _change(ttfc, ttfc_before),
            "reply_rate": this["reply_rate"], "reply_rate_change": _change(this["reply_rate"], before["reply_rate"]),
            "waiting": waiting, "waiting_change": _change(waiting, waiting_before)}
