"""What every HTTP side of ours does the same way: run the service's Kafka side for the app's
lifetime, and know the recruiter from a bearer token.

No `from __future__ import annotations` here (nor in the modules that declare routes inside a
factory): FastAPI reads a dependency's `Annotated[...]` at run time, and a string annotation
naming a closure's local cannot be resolved, so the parameter silently becomes a query field."""


from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from faststream import FastStream

from shared.auth import InvalidToken, TokenVerifier


def running(stream: FastStream | None) -> Callable[[FastAPI], Any]:
    """A lifespan that starts `stream` (the Kafka side) with the app and stops it after."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if stream is not None:
            await stream.start()
        try:
            yield
        finally:
            if stream is not None:
                await stream.stop()

    return lifespan


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


def add_operations(api: FastAPI, ready: Callable[[], Any] | None) -> None:
    """`GET /health` (the process answers) and `GET /ready` (what `ready()` says: 503 if not)."""
    from fastapi.responses import JSONResponse

    @api.get("/health", tags=["operations"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @api.get("/ready", tags=["operations"])
    async def readiness() -> JSONResponse:
        """Readiness: the database answers (and the consumer runs)."""
        ok = await ready() if ready is not None else True
        return JSONResponse({"status": "ready" if ok else "not ready"}, status_code=200 if ok else 503)
