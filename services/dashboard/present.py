"""How things read on the page: the seed's words for views, ratings, templates and reasons, and
how long someone has been waiting. No I/O."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from shared import views

VIEWS = dict(zip(views.VIEWS, ("Needs follow-up", "Replied", "Shortlist", "Not for this job", "All"), strict=True))
RATINGS = {"unrated": "Not rated", "shortlist": "Shortlist", "not_a_fit": "Not for this job"}
TEMPLATES = {"ask_to_apply": "Ask to apply", "arrange_interview": "Arrange an interview", "not_a_match": "Not a match"}
TEMPLATE_NAMES = {**TEMPLATES, "follow_up": "Follow-up"}  # what a message was: a sequence's follow-up too
REASONS = {
    "unknown_prospect": "not known (yet) to the service",
    "forbidden": "not one of your prospects",
    "job_closed": "the job is closed",
    "opted_out": "opted out of messages",
    "missing_link": "the job has no link for this template (apply or interview link)",
    "bounced": "e-mail bounced",
}
CAUSES = {"recruiter": "by you", "message_sent": "when a message was sent", "new_inquiry": "inquired again",
          "replied": "they replied"}
AUTO_KINDS = {"out_of_office": "out of office", "auto": "automatic answer"}


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


STOP_REASONS = {"replied": "they replied", "bounced": "their e-mail bounced", "complained": "they marked a mail as spam",
                "opted_out": "they opted out", "not_a_fit": "rated not for this job", "job_closed": "the job closed",
                "recruiter": "stopped by you", "send_failed": "a mail could not be sent",
                "rejected": "messaging refused a step", "erased": "their data was erased"}


def timeline(history: list[dict[str, Any]], enrollments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The prospect's history (rating's, oldest first) with each sequence event of their
    enrollments in its place: `kind` "sequence", `event` enrolled / paused / resumed / stopped /
    completed, the sequence's name and the event's own fields."""
    lines = [(parse_time(h.get("at")), n, h) for n, h in enumerate(history)]
    for e in enrollments:
        for ev in e.get("events") or []:
            lines.append((parse_time(ev.get("at")), len(lines), {
                **ev, "kind": "sequence", "event": ev.get("kind"), "sequence_name": e.get("sequence_name") or "Sequence",
                "steps_total": e.get("steps_total")}))
    floor = datetime.min.replace(tzinfo=timezone.utc)
    return [h for _, _, h in sorted(lines, key=lambda x: (x[0] or floor, x[1]))]


def waiting(value: Any, now: datetime | None = None) -> str:
    """'3 days', '5 h', '12 min', 'just now'."""
    since = parse_time(value)
    if since is None:
        return ""
    seconds = max(0.0, ((now or datetime.now(timezone.utc)) - since).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86_400:
        return f"{int(seconds // 3600)} h"
    days = int(seconds // 86_400)
    return "1 day" if days == 1 else f"{days} days"


def ago(value: Any, now: datetime | None = None) -> str:
    """'3 days ago', '5 min ago', 'just now'."""
    span = waiting(value, now)
    return span if span in ("", "just now") else f"{span} ago"


def when(value: Any) -> str:
    """An instant as people read it: 'Nov 25, 09:29 UTC'."""
    at = parse_time(value)
    return at.astimezone(timezone.utc).strftime("%b %d, %H:%M UTC") if at else ""


def views_holding(prospect: dict[str, Any]) -> list[str]:
    """The views a prospect (as rating's API gives it) appears in, by the contract's rules."""
    return views.views_holding(flagged=prospect.get("flagged"), job_open=prospect.get("job_open"),
                               rating=prospect.get("rating"), replied=prospect.get("replied"))


def first_line(text: Any, limit: int = 120) -> str:
    """A reply's first line with words in it, past a greeting ("Hi Dana,"), shortened: what a
    row shows of it."""
    lines = [ln.strip() for ln in str(text or "").splitlines() if ln.strip()]
    if len(lines) > 1 and lines[0].endswith(",") and len(lines[0]) <= 40:
        lines = lines[1:]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"


def number(value: Any) -> str:
    """A count as people read it: '2,010'."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def send_done(progress: dict[str, Any] | None, expected_commands: int) -> bool:
    """Every command of the send taken by messaging, and every accepted message sent or failed."""
    return progress is not None and progress["commands"] >= expected_commands and progress["pending"] == 0


def filesize(value: Any) -> str:
    """Bytes as a person reads them: 980 bytes, 12 KB, 1.4 MB."""
    size = int(value or 0)
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.0f} KB"
    return f"{size / 1_000_000:.1f} MB"


def duration(seconds: Any) -> str:
    """Seconds as people read them: '45 min', '5 h 30 min', '2 days 3 h'; '–' for none."""
    if seconds is None:
        return "–"
    s = abs(int(seconds))
    if s < 3600:
        return f"{max(1, round(s / 60)) if s else 0} min"
    if s < 86_400:
        h, m = divmod(round(s / 60), 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(round(s / 3600), 24)
    return (f"{d} day" if d == 1 else f"{d} days") + (f" {h} h" if h else "")


def percent(rate: Any) -> str:
    """A rate as a percentage: 0.333 → '33%'; '–' when there is none (nothing sent)."""
    return "–" if rate is None else f"{100 * float(rate):.0f}%"
