"""Intake's HTTP routes: the job-board gateway (each board posts in its own format, signed its own
way, and hears 200 only once the inquiry is in Kafka) and résumé downloads.

A board's request goes: the body, bounded and under a deadline; the signature on the raw bytes
(every active secret of the board); a concurrency slot; the board's adapter (`boards.py`); then
the use case (`handlers.Gateway`): the job (404 never opened, 410 closed), Indeed's duplicates
(409), the résumé (its type by its bytes, stored once in GridFS), and `inquiry.received` to
`inquiries` with acks=all, waited for. Kafka not answering in INTAKE_PUBLISH_TIMEOUT_S is a 503
with Retry-After: the board sends again, with the same application id, hence the same event id,
which intake registers once.
"""

import time
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from shared.http import BodyRefused, PrivacyOperator, Recruiter, documented, provided, read_body
from shared.logs import get_logger
from shared.messages import decode_json

from services.intake import boards, resumes, signatures
from services.intake.boards import Refused
from services.intake.handlers import REQUESTS, SECONDS, Accepted, BatchAccepted, Gateway, Unavailable

log = get_logger("prospectflow.intake.gateway")
RETRY_AFTER = "5"
GatewayOf = Annotated[Gateway, provided(Gateway)]


def _body_schema(model: type[BaseModel], media: str = "application/json") -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {media: {"schema": model.model_json_schema()}}}}


BOARD_CODES: dict[int | str, dict[str, Any]] = {
    200: {"description": "in Kafka: it will be registered once", "model": Accepted},
    400: {"description": "a required field is missing (named), the body is not JSON, or the client left mid-body"},
    401: {"description": "the signature does not match any active secret"},
    403: {"description": "a CloudEvents board named another board than the one its secret is for"},
    408: {"description": "the body did not arrive within INTAKE_GATEWAY_BODY_TIMEOUT_S"},
    404: {"description": "the job was never opened here"},
    410: {"description": "the job is closed"},
    413: {"description": "the body or the résumé is larger than allowed"},
    422: {"description": "a field is invalid (named), or the résumé is not a PDF, DOC, DOCX, RTF, ODT or text"},
    503: {"description": "not stored now (Kafka or the database not answering, or busy): retry after Retry-After"},
}


def _json(body: bytes) -> Any:
    try:
        return decode_json(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "the body is not JSON") from None
    except RecursionError:  # "[[[[..." within the size limit: a 500 before
        raise Refused(400, "the body is nested too deeply to be JSON we read") from None


def _problem(status: int, detail: str, *, retry: bool = False) -> JSONResponse:
    return JSONResponse({"detail": detail}, status, headers={"Retry-After": RETRY_AFTER} if retry else None)


def _disposition(filename: str) -> str:
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def _board_request(gateway: Gateway, board: str, request: Request) -> Response:
    started = time.perf_counter()
    response = await _answer(gateway, board, request)
    REQUESTS.labels(board, str(response.status_code)).inc()
    SECONDS.labels(board).observe(time.perf_counter() - started)
    return response


async def _answer(gateway: Gateway, board: str, request: Request) -> Response:
    # The body first, bounded and under a deadline, and its signature: a stranger trickling
    # or forging costs its own connection, never one of the slots the boards' work takes.
    try:
        body = await read_body(request, max_bytes=gateway.max_bytes, deadline_s=gateway.body_timeout_s)
    except BodyRefused as refused:
        log.info("a board's request body was not read", extra={
            "board": board, "status": refused.status, "reason": refused.detail,
            "client": request.client.host if request.client else None})
        return _problem(refused.status, refused.detail)
    signer, reason = gateway.signer(board, body, request.headers)
    if reason is not None:
        log.warning("refused an unsigned or wrongly signed request", extra={
            "board": board, "reason": reason, "client": request.client.host if request.client else None,
            "bytes": len(body)})
        return _problem(401, "the signature does not match: " + reason)
    if gateway.slots.locked():
        return _problem(503, "busy: too many requests at once; retry", retry=True)
    async with gateway.slots:
        try:
            payload = _json(body) if body.strip() or board != "cloudevents" else None
            if board == "cloudevents":
                applications = boards.cloudevents(request.headers.get("content-type", ""), request.headers, payload,
                                                  signer=signer, reserved=gateway.reserved)
            else:
                applications = [boards.ADAPTERS[board](payload)]
            received = await gateway.take(board, applications)
        except Refused as refused:
            return _problem(refused.status, refused.reason)
        except Unavailable as exc:
            return _problem(503, f"not stored: {exc}; retry", retry=True)
    if board == "cloudevents" and request.headers.get("content-type", "").startswith(boards.BATCH):
        return JSONResponse(BatchAccepted(accepted=len(received), ids=[r.id for r in received]).model_dump())
    return JSONResponse(received[0].model_dump())


router = APIRouter()


@router.post("/v1/boards/indeed/applications", tags=["job boards"], responses=BOARD_CODES | {
    409: {"description": "this person applied to this job before (another apply id)"}},
    openapi_extra=_body_schema(boards.IndeedApplication))
async def indeed(request: Request, gateway: GatewayOf) -> Response:
    """Indeed Apply: the JSON Indeed posts to the job's `postUrl`, signed with
    `X-Indeed-Signature` = base64(HMAC-SHA1(secret, body))."""
    return await _board_request(gateway, "indeed", request)

@router.post("/v1/boards/linkedin/applications", tags=["job boards"], responses=BOARD_CODES,
          openapi_extra=_body_schema(boards.LinkedInApplication))
async def linkedin(request: Request, gateway: GatewayOf) -> Response:
    """LinkedIn Apply Connect: an application posted to the job's webhook, signed with
    `X-LI-Signature: hmacsha256=<hex HMAC-SHA256(secret, body)>`. Anything but 200 is retried by LinkedIn."""
    return await _board_request(gateway, "linkedin", request)

@router.get("/v1/boards/linkedin/applications", tags=["job boards"],
         responses={404: {"description": "no LinkedIn secret is configured"}})
async def linkedin_validation(gateway: GatewayOf, challenge_code: Annotated[str, Query(
        alias="challengeCode", pattern=signatures.LINKEDIN_CHALLENGE_PATTERN)]) -> Response:
    """LinkedIn's webhook validation: answers the challenge (a UUID, as LinkedIn sends it) with
    its HMAC-SHA256 under the current secret. Nothing else is signed on request: an answer
    of this route is never a valid signature of a body the gateway takes."""
    secrets = gateway.secrets.get("linkedin") or []
    if not secrets:
        return _problem(404, "no LinkedIn secret is configured (INTAKE_BOARD_SECRETS)")
    return JSONResponse({"challengeCode": challenge_code,
                         "challengeResponse": signatures.linkedin_challenge(secrets[0], challenge_code)})

@router.post("/v1/boards/ziprecruiter/applications", tags=["job boards"], responses=BOARD_CODES,
          openapi_extra=_body_schema(boards.ZipRecruiterApplication))
async def ziprecruiter(request: Request, gateway: GatewayOf) -> Response:
    """ZipRecruiter's apply webhook, signed with `X-ZipRecruiter-Signature` = hex HMAC-SHA256(secret, body)."""
    return await _board_request(gateway, "ziprecruiter", request)

@router.post("/v1/inquiries", tags=["job boards"], responses=BOARD_CODES | {
    200: {"description": "in Kafka (a batch: all of it)"}},
    openapi_extra={"requestBody": {"required": True, "content": {
        boards.STRUCTURED: {"schema": {"type": "object", "description": "one CloudEvent, type inquiry.received"}},
        boards.BATCH: {"schema": {"type": "array", "items": {"type": "object"}}},
        "application/json": {"schema": {"type": "object", "description": "binary mode: `data`, with ce-* headers"}}}}})
async def inquiries(request: Request, gateway: GatewayOf) -> Response:
    """Any other board: `inquiry.received` as CloudEvents over HTTP (structured, binary or batch
    mode), signed by Standard Webhooks (`webhook-id`, `webhook-timestamp` within 5 minutes,
    `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`). The event's own `id`
    is the idempotency key. A batch is taken whole or not at all."""
    return await _board_request(gateway, "cloudevents", request)

ResumeId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]


@router.get("/v1/resumes/{resume_id}", tags=["résumés"], response_class=Response,
         responses={200: {"content": {t: {} for t in resumes.EXTENSIONS}, "description": "the file"},
                    **documented(401, 404, 503)})
async def resume(resume_id: ResumeId, recruiter_id: Recruiter, gateway: GatewayOf) -> Response:
    """A résumé, for the recruiter of a job it was sent to (anyone else: 404)."""
    try:
        file = await gateway.store.resume_for(resume_id, recruiter_id)
    except Exception:  # noqa: BLE001
        return _problem(503, "the database did not answer; retry", retry=True)
    if file is None:
        return _problem(404, "no such résumé among your prospects'")
    return _file(file)


@router.get("/v1/privacy/resumes/{resume_id}", tags=["privacy"], response_class=Response,
         responses={200: {"content": {t: {} for t in resumes.EXTENSIONS}, "description": "the file"},
                    **documented(401, 403, 404, 503)})
async def resume_for_export(resume_id: ResumeId, operator: PrivacyOperator, gateway: GatewayOf) -> Response:
    """A résumé named in a person's privacy export (`resumes.files`), for an operator's token
    whose scope includes `privacy`."""
    try:
        file = await gateway.store.resume_file(resume_id)
    except Exception:  # noqa: BLE001
        return _problem(503, "the database did not answer; retry", retry=True)
    if file is None:
        return _problem(404, "no such résumé")
    return _file(file)


def _file(file: Any) -> Response:
    metadata = file.metadata or {}

    async def chunks() -> Any:
        while chunk := await file.readchunk():
            yield chunk

    return StreamingResponse(chunks(), media_type=metadata.get("content_type", "application/octet-stream"),
                             headers={"Content-Disposition": _disposition(file.filename or "resume"),
                                      "Content-Length": str(file.length), "X-Content-Type-Options": "nosniff",
                                      "Cache-Control": "private, no-store"})
