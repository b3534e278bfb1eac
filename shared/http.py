"""Every service's HTTP side, built one way: `service_api` makes the FastAPI app (the version,
`/health`, `/ready`, `/metrics`, the error answers, the Kafka side run for the app's lifetime),
and each service adds its module-level `APIRouter`s from `services/<name>/http.py`. A route
takes what it needs by type (`provided(Cls)`) and the recruiter from the one bearer-token check
(`Recruiter`); it calls a use case and answers.

Routers are module-level, so their annotations resolve as any module's do."""

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, cast

from bson import json_util
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from faststream import FastStream
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import ClientDisconnect

from shared import __version__
from shared.auth import InvalidToken, TokenVerifier
from shared.contract import Email
from shared.logs import get_logger
from shared.privacy import Exports
from shared.refusals import Refused

log = get_logger("prospectflow.http")
T = TypeVar("T")


def running(stream: FastStream | None) -> Callable[[FastAPI], Any]:
    """A lifespan that starts `stream` (the Kafka side) beside the app and stops it after.

    The start runs in the background: `/health` answers at once and `/ready` says "still
    starting" while topics and indexes are made (which waits for Kafka and the database)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        starting = asyncio.create_task(stream.start()) if stream is not None else None

        def failed(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                log.critical("the service could not start; stopping", exc_info=task.exception())
                os.kill(os.getpid(), signal.SIGTERM)

        if starting is not None:
            starting.add_done_callback(failed)
        try:
            yield
        finally:
            if starting is not None:
                if not starting.done():
                    starting.cancel()
                    await asyncio.gather(starting, return_exceptions=True)
                assert stream is not None
                await stream.stop()

    return lifespan


class Problem(BaseModel):
    """What went wrong, in words (FastAPI's error body)."""

    detail: str


_MEANINGS = {400: "the request names something this API never gave (a cursor)",
             401: "no bearer token, or one that is invalid or expired",
             403: "a valid token without the scope this route needs (a recruiter's, for an operator's route)",
             404: "no such prospect or job among the recruiter's own",
             422: "a parameter is not valid (the detail says which)",
             503: "not configured to check tokens"}


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error responses of a route, for its OpenAPI document."""
    return {code: {"model": Problem, "description": _MEANINGS[code]} for code in codes}


def provided(cls: type[T]) -> Any:
    """A dependency on what `service_api(provides=...)` was given for `cls` (a use case, a store,
    settings): `views: Annotated[BoardViews, provided(BoardViews)]`. Tests provide fakes."""

    def get(request: Request) -> T:
        return cast(T, request.app.state.provided[cls])

    return Depends(get)


_BEARER = HTTPBearer(auto_error=False)


def _checked(request: Request, credentials: HTTPAuthorizationCredentials | None,
             check: Callable[[TokenVerifier, str], T]) -> T:
    """`check(verifier, token)` of the request's bearer token: 401 without one or for an invalid
    one, 503 when the service has no way to check tokens (saying which settings give it one)."""
    verifier: TokenVerifier | None = request.app.state.verifier
    if verifier is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, request.app.state.unconfigured)
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        return check(verifier, credentials.credentials)
    except InvalidToken:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the bearer token is invalid or expired",
                            headers={"WWW-Authenticate": "Bearer"}) from None


def recruiter(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> str:
    """The recruiter (`sub`) of a valid bearer token."""
    return _checked(request, credentials, lambda verifier, token: verifier.recruiter(token))


Recruiter = Annotated[str, Depends(recruiter)]
"""A route's recruiter: the `sub` of the request's valid bearer token."""


def privacy_operator(request: Request,
                     credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> str:
    """An operator allowed to read what is held of a person: a valid bearer token whose `scope`
    includes `privacy` (403 for a recruiter's)."""
    operator = _checked(request, credentials, lambda verifier, token: verifier.operator(token, "privacy"))
    if operator is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a token whose scope includes `privacy` is required")
    return operator


PrivacyOperator = Annotated[str, Depends(privacy_operator)]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls a route that recruiters and operators both read: `sub`, and whether the token's
    scope grants the route's operator scope (then they may read any recruiter's)."""

    sub: str
    operator: bool


def recruiter_or_operator(scope: str) -> Callable[..., Caller]:
    """A dependency: the caller of a valid bearer token, an operator when its `scope` includes
    `scope`, else the recruiter `sub`."""

    def caller(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> Caller:
        operator = _checked(request, credentials, lambda verifier, token: verifier.operator(token, scope))
        if operator is not None:
            return Caller(operator, True)
        return Caller(_checked(request, credentials, lambda verifier, token: verifier.recruiter(token)), False)

    return caller
EMAIL: TypeAdapter[str] = TypeAdapter(Email)

privacy = APIRouter(tags=["privacy"])


@privacy.get("/v1/privacy/export", responses={
    200: {"description": "everything this service holds of the person, by place (JSON, MongoDB extended JSON "
                         "for dates and bytes)", "content": {"application/json": {}}},
    **documented(401, 403, 422, 503)})
async def privacy_export(operator: PrivacyOperator, exports: Annotated[Exports, provided(Exports)],
                         email: Annotated[str, Query(max_length=320, description="the person's address")]) -> Response:
    """What this service holds of a person (GDPR Art. 15): `{service, person_id, held: {place: [documents]}}`."""
    try:
        address = EMAIL.validate_python(email)
    except ValidationError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "`email` is not a valid address") from None
    return Response(json_util.dumps(await exports.of(address), json_options=json_util.RELAXED_JSON_OPTIONS),
                    media_type="application/json")


operations = APIRouter(tags=["operations"])


@operations.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process and its event loop answer."""
    return {"status": "ok"}


@operations.get("/ready", responses={503: {"description": "not ready; `problems` says why"}})
async def readiness(request: Request) -> JSONResponse:
    """Readiness: the broker is connected, the consumer has joined its group (with partitions,
    or none because replicas outnumber them) and the database answers."""
    problems = await request.app.state.readiness()
    if problems:
        return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})


metrics = APIRouter(tags=["operations"])


@metrics.get("/metrics", response_class=Response)
async def prometheus() -> Response:
    """Prometheus metrics (text format): lag, throughput, batch time, event age, dead letters, retries."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def service_api(*, title: str, description: str, stream: FastStream | None = None,
                lifespan: Callable[[FastAPI], Any] | None = None,
                readiness: Callable[[], Awaitable[dict[str, str]]] | None = None, routers: Sequence[APIRouter] = (),
                provides: Mapping[type, object] | None = None, verifier: TokenVerifier | None = None,
                unconfigured: str = "", probes_in_schema: bool = True, **fastapi: Any) -> FastAPI:
    """A service's HTTP app: `/health`, `/ready`, `/metrics`, then `routers`. A service with a
    Kafka side passes its `stream` (run for the app's lifetime; ready when its operations say
    so); another its own `lifespan` and `readiness` (what is not ready, by part). `provides`
    what routes take by type, `verifier` the bearer-token check (`unconfigured`: what to set
    when there is none; `probes_in_schema`: `/health` and `/ready` in its OpenAPI document). A
    body that is not read (`BodyRefused`) or a use case's refusal (`shared.refusals.Refused`)
    answers its status with why."""

    async def stream_problems() -> dict[str, str]:
        from shared.service import operations_of

        return await operations_of(stream).problems() if stream is not None else {}

    api = FastAPI(title=title, description=description, version=__version__,
                  lifespan=lifespan or running(stream), **fastapi)
    api.state.readiness = readiness or stream_problems
    api.state.provided = dict(provides or {})
    api.state.verifier = verifier
    api.state.unconfigured = unconfigured or "this service is not configured to check tokens"
    api.include_router(operations, include_in_schema=probes_in_schema)
    api.include_router(metrics)
    for router in routers:
        api.include_router(router)

    @api.exception_handler(BodyRefused)
    @api.exception_handler(Refused)
    async def refused(_: Request, exc: BodyRefused | Refused) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, exc.status)

    return api


class BodyRefused(Exception):
    """A request body that is not read: `status` (400, 408 or 413) and why, for the client."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


async def read_body(request: Any, *, max_bytes: int, deadline_s: float) -> bytes:
    """A request's whole body, at most `max_bytes`, within `deadline_s` of the first byte asked:
    a stranger trickling a body (or announcing a huge one) is refused before it costs more than
    its own connection. Chunks are joined once (`+=` on bytes copies all so far, each time)."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise BodyRefused(413, f"the body is larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(deadline_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise BodyRefused(413, f"the body is larger than {max_bytes} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise BodyRefused(408, f"the body did not arrive within {deadline_s:g} s") from None
    except ClientDisconnect:
        raise BodyRefused(400, "the client disconnected before the body was complete") from None
    return b"".join(chunks)
