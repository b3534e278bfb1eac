"""The contract's views of a recruiter's prospects, defined once (docs/contract.md, section 4):
rating's store and API, its summary, the reminder's rules, the dashboard and the CLI all use
these words and rules.

A prospect **needs follow-up** while its follow-up flag is off and its job is open. The
`shortlist` and `not_a_fit` views show prospects of open jobs with that rating; `all` shows
every prospect of the recruiter's jobs, closed ones included. `replied` (added) shows those of
needs follow-up who are there because they answered a message (the reply turned the flag off).
"""

from __future__ import annotations

from typing import Any

NEEDS_FOLLOW_UP, SHORTLIST, NOT_A_FIT, ALL = "needs_follow_up", "shortlist", "not_a_fit", "all"
REPLIED = "replied"
VIEWS = (NEEDS_FOLLOW_UP, REPLIED, SHORTLIST, NOT_A_FIT, ALL)
VIEW_PATTERN = "^(" + "|".join(VIEWS) + ")$"


def needs_follow_up(*, flagged: bool | None, job_open: bool | None) -> bool:
    return job_open is True and not flagged


def views_holding(*, flagged: bool | None, job_open: bool | None, rating: str | None,
                  replied: bool | None = False) -> list[str]:
    """The views a prospect appears in."""
    held = [ALL]
    if needs_follow_up(flagged=flagged, job_open=job_open):
        held.append(NEEDS_FOLLOW_UP)
        if replied:
            held.append(REPLIED)
    if job_open is True and rating in (SHORTLIST, NOT_A_FIT):
        held.append(str(rating))
    return held


def view_query(recruiter_id: str, view: str, job_id: str | None = None) -> dict[str, Any]:
    """The same, as a MongoDB filter over documents with `recruiter_id`, `job_open`, `flagged`,
    `rating` and `replied` fields (rating's board)."""
    if view not in VIEWS:
        raise ValueError(f"no view {view!r}: one of {', '.join(VIEWS)}")
    query: dict[str, Any] = {"recruiter_id": recruiter_id}
    if view != ALL:
        query["job_open"] = True
    if view in (NEEDS_FOLLOW_UP, REPLIED):
        query["flagged"] = False
    if view == REPLIED:
        query["replied"] = True
    elif view in (SHORTLIST, NOT_A_FIT):
        query["rating"] = view
    if job_id is not None:
        query["job_id"] = job_id
    return query


def view_counters() -> dict[str, Any]:
    """Per view, a MongoDB aggregation expression that is 1 for a document in that view and 0
    otherwise (the same rules as `views_holding`), for counting with `$group`/`$sum`."""
    is_open = {"$eq": ["$job_open", True]}
    return {
        ALL: {"$literal": 1},
        NEEDS_FOLLOW_UP: {"$cond": [{"$and": [is_open, {"$ne": ["$flagged", True]}]}, 1, 0]},
        REPLIED: {"$cond": [{"$and": [is_open, {"$ne": ["$flagged", True]}, {"$eq": ["$replied", True]}]}, 1, 0]},
        SHORTLIST: {"$cond": [{"$and": [is_open, {"$eq": ["$rating", SHORTLIST]}]}, 1, 0]},
        NOT_A_FIT: {"$cond": [{"$and": [is_open, {"$eq": ["$rating", NOT_A_FIT]}]}, 1, 0]},
    }


WAITING_QUERY: dict[str, Any] = {"flagged": False, "job_open": True}
"""Needs follow-up, as a MongoDB filter over the reminder's records, which always hold `flagged`
(whichever event creates a record sets it), so the filter is equalities on the `waiting` index."""
