"""What every HTTP side of ours does the same way: run the service's Kafka side for the app's
lifetime, and know the recruiter from a bearer token.

No `from __future__ import annotations` here (nor in the modules that declare routes inside a
factory): FastAPI reads a dependency's `Annotated[...]` at run time, and a string annotation
naming a closure's local cannot be resolved, so the parameter silently becomes a query field."""


import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from faststream import FastStream
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from shared.auth import InvalidToken, TokenVerifier
from shared.logs import get_logger

log = get_logger("prospectflow.http")


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
             404: "no such prospect or job among the recruiter's own",
             503: "not configured to check tokens"}


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error responses of a route, for its OpenAPI document."""
    return {code: {"model": Problem, "description": _MEANINGS[code]} for code in codes}


def recruiter_from_bearer(verifier: TokenVerifier | None, *, unconfigured: str = "") -> Callable[..., str]:
    """A FastAPI dependency: the recruiter (`sub`) of a valid bearer token, else 401 (503 when
    no way to check tokens is configured, with `unconfigured` saying what to set)."""
    bearer = HTTPBearer(auto_error=False)

    def recruiter(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
        if verifier is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, unconfigured)
        if credentials is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is required",
                                headers={"WWW-Authenticate": "Bearer"})
        try:
            return verifier.recruiter(credentials.credentials)
        except InvalidToken:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the bearer token is invalid or expired",
                                headers={"WWW-Authenticate": "Bearer"}) from None

    return recruiter


def add_operations(api: FastAPI, stream: FastStream | None) -> None:
    """`GET /health` (the process and its event loop answer), `GET /ready` (broker connected,
    consumer in its group, database answering; else 503 naming what is not) and `GET /metrics`."""
    from fastapi.responses import JSONResponse

    from shared.service import operations_of

    @api.get("/health", tags=["operations"])
    async def health() -> dict[str, str]:
        """Liveness: the process and its event loop answer."""
        return {"status": "ok"}

    @api.get("/ready", tags=["operations"], responses={503: {"description": "not ready; `problems` says why"}})
    async def readiness() -> JSONResponse:
        """Readiness: the broker is connected, the consumer has joined its group (with partitions,
        or none because replicas outnumber them) and the database answers."""
        problems = await operations_of(stream).problems() if stream is not None else {}
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    add_metrics(api)


def add_metrics(api: FastAPI) -> None:
    """`GET /metrics`: this process's Prometheus metrics, in the text format."""
    from fastapi.responses import Response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    @api.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics (text format): lag, throughput, batch time, event age, dead letters, retries."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def operations_api(stream: FastStream, *, title: str, description: str) -> FastAPI:
    """The HTTP side of a service that serves nothing else: health, readiness and metrics."""
    from shared.service import VERSION

    api = FastAPI(title=title, description=description, version=VERSION, lifespan=running(stream))
    add_operations(api, stream)
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
