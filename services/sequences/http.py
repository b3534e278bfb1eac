"""The sequences service's HTTP routes (the recruiter's bearer token, as rating's API): define,
list with per-step figures, read, new version, archive; a prospect's enrollments."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from shared.http import Recruiter, provided

from services.sequences.domain import DAYS
from services.sequences.handlers import Definitions

router = APIRouter(tags=["sequences"])
DefinitionsOf = Annotated[Definitions, provided(Definitions)]
Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
Day = Literal[DAYS]  # type: ignore[valid-type]  # the days, listed once in the domain
NOT_YOURS: dict[int | str, dict[str, Any]] = {401: {"description": "no or a bad token"},
                                               404: {"description": "no such sequence among yours"}}


class StepIn(BaseModel):
    template: str = Field(max_length=140, description="ask_to_apply, arrange_interview, not_a_match, follow_up, or "
                                                      "one of the recruiter's own as custom:<template_id>")
    delay_business_days: int = Field(description="0 for the first step only; 1 to 60 after the step before")


class WindowIn(BaseModel):
    start_hour: int = Field(9, ge=0, le=23)
    end_hour: int = Field(17, ge=1, le=24)
    days: list[Day] = Field(default_factory=lambda: list(DAYS[:5]), max_length=7)


class SequenceIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    steps: list[StepIn] = Field(max_length=50, description="1 to 10 steps")
    window: WindowIn = Field(default_factory=WindowIn, description="read in the person's time zone, else the "
                                                                   "recruiter's")
    daily_cap: int = Field(200, description="most steps a recruiter sends a local day, spread over the window")


class StepFigures(BaseModel):
    step: int
    sent: int
    replied: int
    bounced: int
    stopped: int = Field(description="stopped after this step for another reason")
    reply_rate: float | None


class SequenceOut(BaseModel):
    sequence_id: str
    version: int
    name: str
    steps: list[StepIn]
    window: WindowIn
    daily_cap: int
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None
    figures: list[StepFigures] | None = None


class EnrollmentEvent(BaseModel):
    kind: Literal["enrolled", "paused", "resumed", "stopped", "completed"]
    at: datetime
    next_at: datetime | None = Field(None, description="enrolled: when step 1 goes")
    until: datetime | None = Field(None, description="paused: until when")
    reason: str | None = Field(None, description="stopped: why")
    steps_sent: int | None = Field(None, description="completed: how many steps were sent")


class EnrollmentOut(BaseModel):
    enrollment_id: str
    sequence_id: str
    version: int
    prospect_id: str
    job_id: str
    sequence_name: str | None = None
    steps_total: int = Field(description="how many steps the version it runs has")
    state: str = Field(description="running, awaiting (a step with messaging), paused, stopped or completed")
    step: int = Field(description="the next step (running, paused) or the one with messaging (awaiting)")
    steps_sent: int
    next_at: datetime | None = None
    paused_until: datetime | None = None
    reason: str | None = Field(None, description="why it stopped")
    created_at: datetime
    events: list[EnrollmentEvent] = Field(default_factory=list, description="what happened to it, oldest first "
                                                                            "(the sequence.* events, as a timeline)")


@router.post("/v1/sequences", status_code=201, response_model=SequenceOut, responses={
    401: {"description": "no or a bad token"}, 422: {"description": "the definition is refused (why)"}})
async def create(body: SequenceIn, recruiter_id: Recruiter, definitions: DefinitionsOf) -> dict[str, Any]:
    """A new sequence (version 1)."""
    return await definitions.create(recruiter_id, body.model_dump())


@router.get("/v1/sequences", response_model=list[SequenceOut], responses={401: {"description": "no or a bad token"}})
async def listed(recruiter_id: Recruiter, definitions: DefinitionsOf) -> list[dict[str, Any]]:
    """The recruiter's sequences (archived too), each with per-step sent, replied, bounced, stopped."""
    return await definitions.listed(recruiter_id)


@router.get("/v1/sequences/{sequence_id}", response_model=SequenceOut, responses=NOT_YOURS)
async def read(sequence_id: Id, recruiter_id: Recruiter, definitions: DefinitionsOf) -> dict[str, Any]:
    return await definitions.own(recruiter_id, sequence_id)


@router.put("/v1/sequences/{sequence_id}", response_model=SequenceOut, responses={
    **NOT_YOURS, 409: {"description": "archived"}, 422: {"description": "the definition is refused (why)"}})
async def new_version(sequence_id: Id, body: SequenceIn, recruiter_id: Recruiter,
                      definitions: DefinitionsOf) -> dict[str, Any]:
    """A new version; enrollments keep the version they started on."""
    return await definitions.new_version(recruiter_id, sequence_id, body.model_dump())


@router.delete("/v1/sequences/{sequence_id}", status_code=204, responses=NOT_YOURS)
async def archive(sequence_id: Id, recruiter_id: Recruiter, definitions: DefinitionsOf) -> Response:
    """Archived: no new enrollments; running ones go on."""
    await definitions.archive(recruiter_id, sequence_id)
    return Response(status_code=204)


@router.get("/v1/enrollments", response_model=list[EnrollmentOut], responses={401: {"description": "no or a bad token"}})
async def enrollments(recruiter_id: Recruiter, definitions: DefinitionsOf,
                      prospect_id: Annotated[list[Annotated[str, Query(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]],
                                             Query(min_length=1, max_length=200)]) -> list[dict[str, Any]]:
    """The enrollments of one or more prospects (`prospect_id` repeated, at most 200; the
    recruiter's own), oldest first, with their state: what a page of prospects shows."""
    return await definitions.enrollments(recruiter_id, list(dict.fromkeys(prospect_id)))
