"""Rating's HTTP routes: a recruiter's prospects by view, for recruiter apps and the dashboard.

Every request carries `Authorization: Bearer <JWT>` (HS256 with RATING_JWT_SECRET, or an identity
provider's key from RATING_JWKS_URL) with `sub` the recruiter id and an `exp`; a recruiter sees
only their own prospects. Errors say what went
wrong without echoing personal data.
"""


from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from services.rating.handlers import BadCursor, Board
from shared.http import Recruiter, documented, provided
from shared.views import VIEWS, needs_follow_up


View = StrEnum("View", {v.upper(): v for v in VIEWS})  # type: ignore[misc]  # members from the one list of views
"""The contract's views (shared.views)."""
DEFAULT_VIEW = View("needs_follow_up")


class LastMessage(BaseModel):
    message_id: str | None = None
    template: str
    sent_at: datetime = Field(description="when it was sent, or when it failed")
    status: str = Field("sent", description="`sent` or `failed`")
    reason: str | None = Field(None, description="why it failed")


class LastReply(BaseModel):
    received_at: datetime
    message_id: str = Field(description="the message it answers")
    text: str = Field(description="the start of the reply's new text (plain text; the whole of it is on the timeline)")


class Bounce(BaseModel):
    at: datetime
    message_id: str = Field(description="the message that bounced")
    permanent: bool = Field(description="permanent (5.x.x: later sends to the address are rejected `bounced`)")
    status: str = Field("", description="RFC 3463 status, e.g. 5.1.1")
    diagnostic: str = Field("", description="the receiving server's words")


class ReferredFrom(BaseModel):
    job_id: str
    prospect_id: str
    job_title: str | None = None


class ReferredBy(BaseModel):
    person_id: str
    prospect_id: str
    name: str | None = None


class Consent(BaseModel):
    given_at: datetime
    statement: str


class HistoryLine(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    at: datetime
    kind: str = Field(description="`inquiry`, `rated`, `flag`, `message`, `reply`, `auto_reply`, `bounce`, "
                                  "`complaint` or `considered` (for another job: `job_id`, `job_title`)")
    board: str | None = None
    board_inquiry_id: str | None = None
    message: str | None = Field(None, description="the inquiry's message")
    rating: str | None = None
    previous_rating: str | None = None
    flagged: bool | None = None
    cause: str | None = None
    template: str | None = None
    status: str | None = None
    subject: str | None = None
    reason: str | None = None
    text: str | None = Field(None, description="a reply's new text, as plain text")
    from_: str | None = Field(None, alias="from", description="who replied")
    auto_kind: str | None = Field(None, description="an automatic answer: `out_of_office` or `auto`")
    permanent: bool | None = None
    diagnostic: str | None = Field(None, description="a bounce's diagnostic")
    resume: str | None = Field(None, description="the file name of the résumé an inquiry came with")
    referred_from: ReferredFrom | None = Field(None, description="an inquiry: considered from another job")
    referred_by: ReferredBy | None = Field(None, description="an inquiry: referred by someone we wrote to")
    consent: Consent | None = Field(None, description="an inquiry: what the person agreed to, as the board says it")
    job_id: str | None = Field(None, description="`considered`: the job they were considered for")
    job_title: str | None = None


class ResumeRef(BaseModel):
    resume_id: str = Field(description="download from intake: `GET /v1/resumes/{resume_id}` with the same token")
    filename: str
    content_type: str
    size: int


class Prospect(BaseModel):
    prospect_id: str
    job_id: str
    job_title: str | None = None
    board: str | None = Field(None, description="the job board of the latest inquiry")
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    location: str | None = None
    headline: str | None = None
    profile_url: str | None = None
    skills: list[str] = []
    rating: str
    flagged: bool
    needs_follow_up: bool
    job_open: bool = Field(False, description="the job is open (closed jobs' prospects leave the follow-up views)")
    waiting_since: datetime | None = None
    last_message: LastMessage | None = None
    replied: bool = Field(False, description="waiting because they answered a message (the `replied` view)")
    last_reply: LastReply | None = None
    bounced: Bounce | None = Field(None, description="the last bounce of a message to them")
    resume: ResumeRef | None = Field(None, description="the latest résumé a job board sent (added)")
    referred_from: ReferredFrom | None = Field(None, description="considered for this job from another (board `internal`)")
    referred_by: ReferredBy | None = Field(None, description="referred by someone we wrote to (board `referral`)")
    consent: Consent | None = Field(None, description="what the person agreed to with their latest inquiry (added)")


class Page(BaseModel):
    view: View
    items: list[Prospect]
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page; null at the end")


def _prospect(doc: dict[str, Any]) -> Prospect:
    profile = doc.get("profile") or {}
    return Prospect(
        prospect_id=doc["_id"], job_id=doc["job_id"], job_title=doc.get("job_title"), board=doc.get("board"),
        **{k: profile.get(k) for k in ("name", "email", "phone", "location", "headline", "profile_url")},
        skills=profile.get("skills") or [], rating=doc.get("rating", "unrated"), flagged=doc.get("flagged", False),
        needs_follow_up=needs_follow_up(flagged=doc.get("flagged"), job_open=doc.get("job_open")),
        job_open=doc.get("job_open") is True,
        waiting_since=doc.get("waiting_since"), last_message=doc.get("last_message"),
        replied=doc.get("replied") is True and needs_follow_up(flagged=doc.get("flagged"), job_open=doc.get("job_open")),
        last_reply=doc.get("last_reply"), bounced=doc.get("bounced"), resume=doc.get("resume"),
        referred_from=doc.get("referred_from"), referred_by=doc.get("referred_by"), consent=doc.get("consent"),
    )


router = APIRouter(tags=["prospects"])
BoardOf = Annotated[Board, provided(Board)]


async def own_job(recruiter_id: Recruiter, board: BoardOf,
                  job_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._:-]{1,128}$")] = None) -> str | None:
    """The `job_id` filter, which must be one of the recruiter's jobs (404 otherwise)."""
    if job_id is not None and not await board.owns_job(recruiter_id, job_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such job among yours")
    return job_id


OwnJob = Annotated[str | None, Depends(own_job)]


@router.get("/prospects", response_model=Page, responses=documented(400, 401, 404))
async def prospects(
    recruiter_id: Recruiter,
    board: BoardOf,
    job_id: OwnJob,
    view: View = DEFAULT_VIEW,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> Page:
    """The recruiter's prospects in a view, oldest waiting first, a page at a time."""
    try:
        docs, next_cursor = await board.page(recruiter_id, view.value, job_id, limit, cursor)
    except BadCursor as bad:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(bad)) from None
    return Page(view=view, items=[_prospect(d) for d in docs], next_cursor=next_cursor)


class Job(BaseModel):
    job_id: str
    title: str | None = None
    company: str | None = None
    open: bool
    timezone: str = Field("UTC", description="the recruiter's IANA time zone for this job: their days (insights, reminders) are read in it")


@router.get("/jobs", response_model=list[Job], responses=documented(401))
async def jobs(recruiter_id: Recruiter, board: BoardOf) -> list[dict[str, Any]]:
    """The recruiter's jobs (open and closed), by title: what a prospect may be considered for."""
    return await board.jobs(recruiter_id)


@router.get("/prospect-ids", responses=documented(401, 404))
async def prospect_ids(recruiter_id: Recruiter, board: BoardOf, job_id: OwnJob,
                       view: View = DEFAULT_VIEW) -> dict[str, Any]:
    """Every id in a view, oldest waiting first ("select all"): one query instead of many pages."""
    return {"view": view, "ids": await board.ids(recruiter_id, view.value, job_id)}


@router.get("/prospects/{prospect_id}", response_model=Prospect, responses=documented(401, 404))
async def prospect(recruiter_id: Recruiter, board: BoardOf,
                   prospect_id: Annotated[str, Path(max_length=128)]) -> Prospect:
    """One of the recruiter's prospects (404 for unknown ids and other recruiters' prospects)."""
    doc = await board.one(recruiter_id, prospect_id)
    if doc is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such prospect among yours")
    return _prospect(doc)


@router.get("/prospects/{prospect_id}/history", response_model=list[HistoryLine], responses={
    200: {"description": "a page of the timeline; the header `Next-Cursor` names the next page when there is one",
          "headers": {"Next-Cursor": {"description": "pass as `cursor` for the next page", "schema": {"type": "string"}}}},
    **documented(400, 401, 404)})
async def history(recruiter_id: Recruiter, board: BoardOf, response: Response,
                  prospect_id: Annotated[str, Path(max_length=128)],
                  limit: Annotated[int, Query(ge=1, le=1_000)] = 1_000, cursor: str | None = None) -> list[HistoryLine]:
    """The prospect's timeline, oldest first: inquiries, ratings, flag changes, messages; a page
    of `limit` lines, the next named by the `Next-Cursor` header (a long history is never cut)."""
    try:
        found = await board.history(recruiter_id, prospect_id, limit, cursor)
    except BadCursor as bad:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(bad)) from None
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such prospect among yours")
    lines, next_cursor = found
    if next_cursor is not None:
        response.headers["Next-Cursor"] = next_cursor
    return [HistoryLine(**line) for line in lines]


@router.get("/summary", responses=documented(401))
async def summary(recruiter_id: Recruiter, board: BoardOf) -> dict[str, Any]:
    """How many prospects each view holds, in total and per job."""
    return await board.summary(recruiter_id)
