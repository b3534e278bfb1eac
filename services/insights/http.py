"""The insights service's HTTP routes: a period's figures, for the recruiter of the bearer token,
or for an operator whose token's scope includes `insights` (one recruiter, or everyone), as
JSON or CSV."""

import csv
import io
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse, Response

from shared.http import Caller, documented, provided, recruiter_or_operator

from services.insights import domain
from services.insights.handlers import Figures

router = APIRouter(tags=["insights"])
Reader = Annotated[Caller, Depends(recruiter_or_operator("insights"))]
Identifier = Annotated[str, Query(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]


@router.get("/v1/insights", responses={
    200: {"description": "the period's figures (`format=csv`: the same figures as rows of section, key, figure, "
                         "value)", "content": {"application/json": {}, "text/csv": {}}},
    **documented(401, 403, 404, 422, 503)})
async def insights(caller: Reader, figures: Annotated[Figures, provided(Figures)],
                   start: Annotated[date, Query(alias="from", description="the first local day, YYYY-MM-DD")],
                   end: Annotated[date, Query(alias="to", description="the last local day, YYYY-MM-DD")],
                   reading: Literal["activity", "cohort"] = "activity",
                   job_id: Identifier | None = None,
                   recruiter_id: Annotated[Identifier | None, Query(description="operators: one recruiter's figures; "
                                                                                 "absent: everyone's")] = None,
                   format: Literal["json", "csv"] = "json") -> Response:
    """A recruiter's follow-up in figures: inquiries, prospects, rated, shortlisted, contacted,
    time to first contact (median and p90), replied and reply rate, bounced, complained, opted
    out; by board, template, sequence step and day. `reading=activity` counts what happened in
    the period; `reading=cohort` what happened (ever) to the people who first inquired in it."""
    if caller.operator:
        whose = recruiter_id
    elif recruiter_id is not None and recruiter_id != caller.sub:
        raise HTTPException(403, "a recruiter reads only their own figures (`recruiter_id` is for operators)")
    else:
        whose = caller.sub
    answer = await figures.of(whose, start=start, end=end, reading=reading, job_id=job_id)
    if format == "csv":
        return Response(as_csv(answer), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="insights-{answer["from"]}-{answer["to"]}.csv"'})
    return JSONResponse(answer)


def as_csv(answer: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("section", "key", "figure", "value"))
    writer.writerows(("" if v is None else v for v in row) for row in domain.csv_rows(answer))
    return out.getvalue()
