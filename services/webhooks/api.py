"""The webhooks service's HTTP side: a recruiter registers endpoints and reads their deliveries,
with the same bearer token as rating's API (a recruiter sees only their own endpoints).

No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
"""

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, status
from fastapi.responses import Response
from faststream import FastStream
from pydantic import BaseModel, Field

from shared import ids
from shared.auth import TokenVerifier
from shared.http import add_operations, running

from services.webhooks import domain, safety
from services.webhooks.crypto import SecretBox, new_secret
from services.webhooks.store import WebhooksStore, utcnow

Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]


EventName = Literal[("*", *domain.EVENT_TYPES)]  # type: ignore[valid-type]


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


def create_api(store: WebhooksStore, box: SecretBox, rules: safety.Rules, *, verifier: TokenVerifier | None,
               rotation: timedelta, stream: FastStream | None = None, max_endpoints: int = 20) -> FastAPI:
    from shared.http import recruiter_from_bearer

    api = FastAPI(title="Prospectflow webhooks", version="0.1.0", lifespan=running(stream),
                  description="Recruiter apps register HTTPS endpoints; Prospectflow's events are delivered to them "
                              "signed by Standard Webhooks, retried with backoff, and logged.")
    add_operations(api, stream)
    recruiter = recruiter_from_bearer(verifier, unconfigured="set WEBHOOKS_JWT_SECRET or WEBHOOKS_JWKS_URL")
    Recruiter = Annotated[str, Depends(recruiter)]

    async def own(endpoint_id: str, recruiter_id: str) -> dict[str, Any]:
        doc = await store.endpoint(endpoint_id, recruiter_id)
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such endpoint among yours")
        return doc

    @api.post("/v1/endpoints", status_code=201, response_model=Created, tags=["endpoints"],
              responses={401: {"description": "no or a bad token"},
                         409: {"description": "the recruiter has WEBHOOKS_MAX_ENDPOINTS endpoints already"},
                         422: {"description": "the URL is not allowed (why), or an unknown event type"}})
    async def add(body: NewEndpoint, recruiter_id: Recruiter) -> dict[str, Any]:
        """Register an endpoint for some event types; the answer holds its secret, once."""
        if len(await store.endpoints_of(recruiter_id)) >= max_endpoints:
            raise HTTPException(409, f"at most {max_endpoints} endpoints per recruiter: remove one first")
        try:
            _, host, port = safety.check_url(body.url, rules)
            await safety.resolve(host, port, rules)
        except safety.Unsafe as unsafe:
            raise HTTPException(422, str(unsafe)) from None
        endpoint_id = ids.derive("endpoint", recruiter_id, body.url, str(utcnow().timestamp()))
        secret = new_secret()
        doc = {"_id": endpoint_id, "recruiter_id": recruiter_id, "url": body.url, "events": sorted(set(body.events)),
               "secrets": [{"sealed": box.seal(secret, bound_to=endpoint_id), "created_at": utcnow(), "retires_at": None}],
               "created_at": utcnow(), "disabled": None, "failing_since": None}
        await store.add_endpoint(doc)
        return {**_endpoint(doc), "secret": secret}

    @api.get("/v1/endpoints", response_model=list[Endpoint], tags=["endpoints"])
    async def listed(recruiter_id: Recruiter) -> list[dict[str, Any]]:
        return [_endpoint(d) for d in await store.endpoints_of(recruiter_id)]

    @api.delete("/v1/endpoints/{endpoint_id}", status_code=204, tags=["endpoints"], responses={404: {"description": "not yours"}})
    async def delete(endpoint_id: Id, recruiter_id: Recruiter) -> Response:
        if not await store.delete_endpoint(endpoint_id, recruiter_id):
            raise HTTPException(404, "no such endpoint among yours")
        return Response(status_code=204)

    @api.post("/v1/endpoints/{endpoint_id}/rotate-secret", response_model=Secret, tags=["endpoints"],
              responses={404: {"description": "not yours"}})
    async def rotate(endpoint_id: Id, recruiter_id: Recruiter) -> dict[str, Any]:
        """A new secret; the current one keeps signing beside it for WEBHOOKS_ROTATION_HOURS."""
        doc = await own(endpoint_id, recruiter_id)
        now = utcnow()
        retires = now + rotation
        kept = [{**s, "retires_at": s.get("retires_at") or retires} for s in doc.get("secrets", [])
                if s.get("retires_at") is None or s["retires_at"].replace(tzinfo=now.tzinfo) > now]
        secret = new_secret()
        await store.set_secrets(endpoint_id, [*kept, {"sealed": box.seal(secret, bound_to=endpoint_id),
                                                      "created_at": now, "retires_at": None}])
        return {"secret": secret, "previous_retires_at": retires}

    @api.post("/v1/endpoints/{endpoint_id}/enable", response_model=Endpoint, tags=["endpoints"],
              responses={404: {"description": "not yours"}})
    async def enable(endpoint_id: Id, recruiter_id: Recruiter) -> dict[str, Any]:
        """Enable a disabled endpoint again (its dead deliveries can then be retried one by one)."""
        await own(endpoint_id, recruiter_id)
        await store.enable(endpoint_id, recruiter_id)
        return _endpoint(await own(endpoint_id, recruiter_id))

    @api.get("/v1/endpoints/{endpoint_id}/deliveries", response_model=list[Delivery], tags=["deliveries"],
             responses={404: {"description": "not yours"}})
    async def deliveries(endpoint_id: Id, recruiter_id: Recruiter) -> list[dict[str, Any]]:
        """The last 50 deliveries, newest first, each with every attempt (time, status, duration, error)."""
        await own(endpoint_id, recruiter_id)
        return [{**d, "id": d["_id"]} for d in await store.log(endpoint_id)]

    @api.post("/v1/endpoints/{endpoint_id}/deliveries/{delivery_id}/retry", status_code=202, tags=["deliveries"],
              responses={404: {"description": "not yours"}})
    async def retry(endpoint_id: Id, delivery_id: Id, recruiter_id: Recruiter) -> dict[str, str]:
        """Attempt it again now (a dead one too), with the same webhook-id."""
        await own(endpoint_id, recruiter_id)
        if not await store.retry(endpoint_id, delivery_id):
            raise HTTPException(404, "no such delivery on this endpoint")
        return {"status": "pending"}

    return api
