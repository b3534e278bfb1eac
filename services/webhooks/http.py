"""The webhooks service's HTTP routes: a recruiter registers endpoints and reads their deliveries,
with the same bearer token as rating's API (a recruiter sees only their own endpoints)."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, Field

from shared.http import Recruiter, provided

from services.webhooks import domain
from services.webhooks.handlers import Endpoints

Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]


EventName = Literal[("*", *domain.EVENT_TYPES)]  # type: ignore[valid-type]  # from the one list of types


class NewEndpoint(BaseModel):
    url: str = Field(min_length=1, max_length=2_000, description="https://… (http only where WEBHOOKS_ALLOW_HTTP is set)")
    events: list[EventName] = Field(min_length=1, max_length=50, description="event types, or `*` for all")


class Endpoint(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: Any
    disabled: dict[str, Any] | None = Field(None, description="when and why it was disabled")
    failing_since: Any = None


class Created(Endpoint):
    secret: str = Field(description="whsec_…: shown once; verify each delivery's webhook-signature with it")


class Secret(BaseModel):
    secret: str
    previous_retires_at: Any = Field(description="until then the old secret signs too")


class Attempt(BaseModel):
    at: Any
    status: int | None
    duration_ms: float
    error: str | None


class Delivery(BaseModel):
    id: str
    event_id: str = Field(description="the webhook-id of every attempt")
    event_type: str
    state: str = Field(description="`pending`, `delivered` or `dead`")
    created_at: Any
    next_at: Any = None
    delivered_at: Any = None
    dead_reason: str | None = None
    attempts: list[Attempt]


def _endpoint(doc: dict[str, Any]) -> dict[str, Any]:
    return {"id": doc["_id"], "url": doc["url"], "events": doc["events"], "created_at": doc["created_at"],
            "disabled": doc.get("disabled"), "failing_since": doc.get("failing_since")}


router = APIRouter()
EndpointsOf = Annotated[Endpoints, provided(Endpoints)]
NOT_YOURS: dict[int | str, dict[str, Any]] = {404: {"description": "not yours"}}



@router.post("/v1/endpoints", status_code=201, response_model=Created, tags=["endpoints"],
             responses={401: {"description": "no or a bad token"},
                        409: {"description": "the recruiter has WEBHOOKS_MAX_ENDPOINTS endpoints already"},
                        422: {"description": "the URL is not allowed (why), or an unknown event type"}})
async def add(body: NewEndpoint, recruiter_id: Recruiter, endpoints: EndpointsOf) -> dict[str, Any]:
    """Register an endpoint for some event types; the answer holds its secret, once."""
    doc, secret = await endpoints.add(recruiter_id, body.url, list(body.events))
    return {**_endpoint(doc), "secret": secret}


@router.get("/v1/endpoints", response_model=list[Endpoint], tags=["endpoints"])
async def listed(recruiter_id: Recruiter, endpoints: EndpointsOf) -> list[dict[str, Any]]:
    return [_endpoint(d) for d in await endpoints.listed(recruiter_id)]


@router.delete("/v1/endpoints/{endpoint_id}", status_code=204, tags=["endpoints"], responses=NOT_YOURS)
async def delete(endpoint_id: Id, recruiter_id: Recruiter, endpoints: EndpointsOf) -> Response:
    await endpoints.delete(endpoint_id, recruiter_id)
    return Response(status_code=204)


@router.post("/v1/endpoints/{endpoint_id}/rotate-secret", response_model=Secret, tags=["endpoints"],
             responses=NOT_YOURS)
async def rotate(endpoint_id: Id, recruiter_id: Recruiter, endpoints: EndpointsOf) -> dict[str, Any]:
    """A new secret; the current one keeps signing beside it for WEBHOOKS_ROTATION_HOURS."""
    secret, retires = await endpoints.rotate(endpoint_id, recruiter_id)
    return {"secret": secret, "previous_retires_at": retires}


@router.post("/v1/endpoints/{endpoint_id}/enable", response_model=Endpoint, tags=["endpoints"], responses=NOT_YOURS)
async def enable(endpoint_id: Id, recruiter_id: Recruiter, endpoints: EndpointsOf) -> dict[str, Any]:
    """Enable a disabled endpoint again (its dead deliveries can then be retried one by one)."""
    return _endpoint(await endpoints.enable(endpoint_id, recruiter_id))


@router.get("/v1/endpoints/{endpoint_id}/deliveries", response_model=list[Delivery], tags=["deliveries"],
            responses=NOT_YOURS)
async def deliveries(endpoint_id: Id, recruiter_id: Recruiter, endpoints: EndpointsOf) -> list[dict[str, Any]]:
    """The last 50 deliveries, newest first, each with every attempt (time, status, duration, error)."""
    return [{**d, "id": d["_id"]} for d in await endpoints.deliveries(endpoint_id, recruiter_id)]


@router.post("/v1/endpoints/{endpoint_id}/deliveries/{delivery_id}/retry", status_code=202, tags=["deliveries"],
             responses=NOT_YOURS)
async def retry(endpoint_id: Id, delivery_id: Id, recruiter_id: Recruiter, endpoints: EndpointsOf) -> dict[str, str]:
    """Attempt it again now (a dead one too), with the same webhook-id."""
    await endpoints.retry(endpoint_id, delivery_id, recruiter_id)
    return {"status": "pending"}
