"""Insights' decisions, without I/O: what one prospect adds to the day buckets, from the facts
kept of it, and the figures of a period from the buckets read back.

A prospect's contribution is a pure function of the set of its facts (and its job's recruiter
and time zone, and its person's opt-outs), whatever order they came in. The service stores
what it last added and adds the difference when a fact arrives, so a backfill that reads the
topics in another order ends with the same figures as a service that ran all along, and a fact
seen twice (same event id) changes nothing."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

READINGS = ("activity", "cohort")
REPLY_WINDOW = timedelta(days=14)
TOTALS = ("inquiries", "prospects", "rated", "shortlisted", "contacted", "replied", "bounced", "complained",
          "opted_out")
PER_DAY = ("inquiries", "contacted", "replied")
BOARD = ("inquiries", "contacted", "replied")
SENT = ("sent", "replied")
ALL = "*"
"""The recruiter of the buckets that add up every recruiter's figures."""

Paths = dict[str, int]
Contribution = dict[tuple[str, str], Paths]
"""(reading, local day) → counter path → amount."""


def key(part: str) -> str:
    """A name as one segment of a stored path: identifiers may hold `.`, which MongoDB reads as a
    path separator, and `%` is escaped so the encoding is reversible."""
    return part.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def unkey(part: str) -> str:
    return part.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


@dataclass(frozen=True, slots=True)
class Job:
    recruiter_id: str
    timezone: str = "UTC"


def _day(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).date().isoformat()


def _when(fact: Mapping[str, Any]) -> datetime:
    at = fact["at"]
    return at if isinstance(at, datetime) else datetime.fromisoformat(at)


def contribution(facts: Mapping[str, Mapping[str, Any]], job: Job | None,
                 opted_out: Iterable[str] = ()) -> Contribution:
    """What one prospect adds, by (reading, day): `facts` by event id, each `{"k": kind, "at": …}`
    with kind `inquiry` (+ `board`), `rated` (+ `rating`), `sent` (+ `template`, `step`),
    `replied`, `bounced` (+ `permanent`), `complained`. Nothing while the job is unknown (no
    recruiter, no time zone); nothing by cohort while the first inquiry is unknown."""
    if job is None:
        return {}
    zone = ZoneInfo(job.timezone)
    ordered = sorted(facts.items(), key=lambda item: (_when(item[1]), item[0]))
    by_kind: dict[str, list[tuple[datetime, Mapping[str, Any]]]] = defaultdict(list)
    for _, fact in ordered:
        by_kind[fact["k"]].append((_when(fact), fact))
    counted: list[tuple[datetime, str, int]] = []  # (when it happened, path, amount)

    def count(at: datetime, path: str, n: int = 1) -> None:
        counted.append((at, path, n))

    inquiries = by_kind["inquiry"]
    board = key(inquiries[0][1].get("board") or "unknown") if inquiries else None
    for at, fact in inquiries:
        count(at, "inquiries")
        count(at, f"board.{key(fact.get('board') or 'unknown')}.inquiries")
    if inquiries:
        count(inquiries[0][0], "prospects")

    ratings = by_kind["rated"]
    if ratings and ratings[-1][1]["rating"] != "unrated":
        at, fact = ratings[-1]
        count(at, "rated")
        if fact["rating"] == "shortlist":
            count(at, "shortlisted")

    sent = by_kind["sent"]
    if sent:
        first = sent[0][0]
        count(first, "contacted")
        if board is not None:
            count(first, f"board.{board}.contacted")
        if inquiries:
            count(first, f"ttfc.{ttfc_bucket(int((first - inquiries[0][0]).total_seconds()))}")
    def once(at: datetime, message: Mapping[str, Any], what: str, seen: set[str]) -> None:
        """Count the message's template and step (if any) for `what`, each once per prospect."""
        for group, name in (("template", message["template"]), ("step", message.get("step"))):
            path = f"{group}.{key(name)}.{what}" if name else None
            if path and path not in seen:
                seen.add(path)
                count(at, path)

    sent_seen: set[str] = set()
    for at, fact in sent:
        once(at, fact, "sent", sent_seen)

    replied_seen: set[str] = set()
    replied = False
    for at, _ in by_kind["replied"]:
        answered = [m for t, m in sent if t <= at and at - t <= REPLY_WINDOW]
        if not answered:
            continue  # no message within 14 days before it: not a reply to our follow-up
        last = answered[-1]
        if not replied:
            replied = True
            count(at, "replied")
            if board is not None:
                count(at, f"board.{board}.replied")
        once(at, last, "replied", replied_seen)

    permanent = [at for at, fact in by_kind["bounced"] if fact.get("permanent", True)]
    if permanent:
        count(permanent[0], "bounced")
    if by_kind["complained"]:
        count(by_kind["complained"][0][0], "complained")
    opt_outs = sorted(datetime.fromisoformat(at) for at in opted_out)
    if opt_outs:
        count(opt_outs[0], "opted_out")

    out: Contribution = defaultdict(lambda: defaultdict(int))
    cohort = _day(inquiries[0][0], zone) if inquiries else None
    for at, path, n in counted:
        out[("activity", _day(at, zone))][path] += n
        if cohort is not None:
            out[("cohort", cohort)][path] += n
    return {k: dict(v) for k, v in out.items()}


def ttfc_bucket(seconds: int) -> int:
    """A time to first contact as kept (the start of its step, so the histogram stays small):
    to the minute under 2 h, to 10 minutes under a day, to the hour under 14 days, then to the
    day. A percentile read back is the step it falls in."""
    s = max(0, seconds)
    step = 60 if s < 7_200 else 600 if s < 86_400 else 3_600 if s < 14 * 86_400 else 86_400
    return s - s % step


def bucket_id(reading: str, day: str, recruiter_id: str) -> str:
    return f"{reading}|{day}|{recruiter_id}"


def bucket_paths(contrib: Contribution, recruiter_id: str, job_id: str) -> dict[str, Paths]:
    """A contribution as the increments of the stored buckets: the recruiter's day (totals under
    `f`, the job's under `j.<job>`) and every recruiter's day (totals only)."""
    out: dict[str, Paths] = defaultdict(dict)
    job = key(job_id)
    for (reading, day), paths in contrib.items():
        mine = out[bucket_id(reading, day, recruiter_id)]
        everyone = out[bucket_id(reading, day, ALL)]
        for path, n in paths.items():
            mine[f"f.{path}"] = mine.get(f"f.{path}", 0) + n
            mine[f"j.{job}.{path}"] = mine.get(f"j.{job}.{path}", 0) + n
            everyone[f"f.{path}"] = everyone.get(f"f.{path}", 0) + n
    return dict(out)


def difference(new: Mapping[str, Paths], old: Mapping[str, Paths]) -> dict[str, Paths]:
    """What to add to go from `old` to `new` (zeros left out)."""
    out: dict[str, Paths] = {}
    for bucket in set(new) | set(old):
        a, b = new.get(bucket, {}), old.get(bucket, {})
        changed = {p: a.get(p, 0) - b.get(p, 0) for p in set(a) | set(b) if a.get(p, 0) != b.get(p, 0)}
        if changed:
            out[bucket] = changed
    return out


def add_into(total: dict[str, Paths], more: Mapping[str, Paths]) -> None:
    for bucket, paths in more.items():
        mine = total.setdefault(bucket, {})
        for path, n in paths.items():
            mine[path] = mine.get(path, 0) + n


# --- reading the figures back ----------------------------------------------------------------------


def percentile(histogram: Mapping[int, int], q: float) -> int | None:
    """The nearest-rank percentile (the smallest value with at least `q` of the values at or
    below it) of values given as value → how many."""
    n = sum(c for c in histogram.values() if c > 0)
    if n == 0:
        return None
    rank = max(1, math.ceil(q * n))
    seen = 0
    for value in sorted(histogram):
        seen += max(0, histogram[value])
        if seen >= rank:
            return value
    return None


def _rate(replied: int, sent: int) -> float | None:
    return round(replied / sent, 3) if sent else None


def figures(days: Iterable[tuple[str, Mapping[str, Any]]], *, start: str, end: str, reading: str) -> dict[str, Any]:
    """The answer of `GET /v1/insights` from the stored counters of each day (`(day, counters)`,
    the counters of the recruiter's, or of one job's, or everyone's buckets)."""
    totals = dict.fromkeys(TOTALS, 0)
    boards: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(BOARD, 0))
    templates: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SENT, 0))
    steps: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SENT, 0))
    ttfc: dict[int, int] = defaultdict(int)
    per_day: dict[str, dict[str, int]] = {}
    for day, counters in days:
        for name in TOTALS:
            totals[name] += int(counters.get(name, 0))
        for board, c in (counters.get("board") or {}).items():
            for name in BOARD:
                boards[unkey(board)][name] += int(c.get(name, 0))
        for group, into in (("template", templates), ("step", steps)):
            for name, c in (counters.get(group) or {}).items():
                for field in SENT:
                    into[unkey(name)][field] += int(c.get(field, 0))
        for seconds, n in (counters.get("ttfc") or {}).items():
            ttfc[int(seconds)] += int(n)
        row = per_day.setdefault(day, dict.fromkeys(PER_DAY, 0))
        for name in PER_DAY:
            row[name] += int(counters.get(name, 0))

    def rated(groups: Mapping[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
        return {k: {**v, "reply_rate": _rate(v["replied"], v["sent"])} for k, v in sorted(groups.items())
                if any(v.values())}

    return {"from": start, "to": end, "reading": reading, **totals,
            "reply_rate": _rate(totals["replied"], totals["contacted"]),
            "time_to_first_contact_s": {"median": percentile(ttfc, 0.5), "p90": percentile(ttfc, 0.9),
                                        "count": sum(ttfc.values())},
            "by_board": {k: v for k, v in sorted(boards.items()) if any(v.values())},
            "by_template": rated(templates), "by_step": rated(steps),
            "by_day": [{"date": d, **per_day[d]} for d in sorted(per_day) if any(per_day[d].values())]}


def csv_rows(answer: Mapping[str, Any]) -> list[tuple[str, str, str, Any]]:
    """The answer as rows of (section, key, figure, value): the same figures as the JSON."""
    rows: list[tuple[str, str, str, Any]] = [("period", "", "from", answer["from"]), ("period", "", "to", answer["to"]),
                                             ("period", "", "reading", answer["reading"])]
    rows += [("total", "", name, answer[name]) for name in (*TOTALS, "reply_rate")]
    rows += [("time_to_first_contact_s", "", name, value) for name, value in answer["time_to_first_contact_s"].items()]
    for section in ("by_board", "by_template", "by_step"):
        rows += [(section, k, name, value) for k, figures_ in answer[section].items() for name, value in figures_.items()]
    rows += [("by_day", day["date"], name, day[name]) for day in answer["by_day"] for name in PER_DAY]
    return rows
