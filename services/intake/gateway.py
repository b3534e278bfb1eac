"""The job-board gateway on intake's HTTP side: each board posts in its own format, signed its
own way, and hears 200 only once the inquiry is in Kafka.

A request goes: size and concurrency limits, the signature on the raw bytes (every active secret
of the board), the board's adapter (`boards.py`), the job (404 never opened, 410 closed),
Indeed's duplicates (409), the résumé (its type by its bytes, stored once in GridFS), then
`inquiry.received` to `inquiries` with acks=all, waited for. Kafka not answering in
INTAKE_PUBLISH_TIMEOUT_S is a 503 with Retry-After: the board sends again, with the same
application id, hence the same event id, which intake registers once.

No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
"""

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from faststream.kafka import KafkaBroker
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, Field

from shared import ids, topics
from shared.auth import TokenVerifier
from shared.contract import InquiryReceived, new_event
from shared.http import BodyRefused, documented, read_body, recruiter_from_bearer
from shared.kafka import CLOUDEVENTS_HEADERS, raw_producer
from shared.messages import encode_event
from shared.logs import get_logger
from shared.settings import KafkaSettings
from shared import telemetry

from services.intake import boards, resumes, signatures
from services.intake.boards import Application, Refused
from services.intake.settings import RESERVED_BOARDS
from services.intake.store import IntakeStore

log = get_logger("prospectflow.intake.gateway")

REQUESTS = Counter("prospectflow_gateway_requests_total", "Board requests to the gateway, by board and answer",
                   ["board", "code"])
SECONDS = Histogram("prospectflow_gateway_request_seconds", "Time from a board's request to the answer",
                    ["board"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
RESUMES = Counter("prospectflow_gateway_resumes_total", "Résumés received, by outcome", ["outcome"])

RETRY_AFTER = "5"
JOB_CACHE_S = 2.0


class Accepted(BaseModel):
    """In Kafka: intake registers it (once, however often the board sends it)."""

    id: str = Field(description="the event id (derived from the board and its application id)")
    prospect_id: str
    received: str = Field(description="`new`, or `before` when the board sent this application already")


class BatchAccepted(BaseModel):
    accepted: int
    ids: list[str]


# --- the boards' payloads, for the OpenAPI document (the adapters read the raw JSON) -----------

class IndeedFile(BaseModel):
    contentType: str | None = None
    data: str = Field(description="base64")
    fileName: str | None = None


class IndeedApplicant(BaseModel):
    fullName: str | None = None
    firstName: str | None = None
    lastName: str | None = None
    email: str
    phoneNumber: str | None = None
    coverletter: str | None = None
    resume: dict[str, IndeedFile] | None = Field(None, description='{"file": {…}}')


class IndeedApplication(BaseModel):
    id: str = Field(description="Indeed's apply id")
    job: dict[str, str] = Field(description="jobId (yours), jobKey, jobTitle, jobCompany, jobLocation, jobUrl")
    applicant: IndeedApplicant
    appliedOnMillis: int | None = None
    questions: Any = None
    analytics: Any = None


class LinkedInApplicant(BaseModel):
    firstName: str | None = None
    lastName: str | None = None
    emailAddress: str
    phoneNumber: str | None = None
    location: str | None = None
    headline: str | None = None
    profileUrl: str | None = None


class LinkedInApplication(BaseModel):
    jobApplicationId: str
    externalJobPostingId: str = Field(description="your job id, as posted")
    integrationContext: str | None = None
    applicant: LinkedInApplicant
    resume: IndeedFile | None = None
    coverLetter: str | None = None
    appliedAt: int | None = Field(None, description="milliseconds since the epoch")


class ZipRecruiterAnswer(BaseModel):
    id: str
    value: str | None = None
    values: list[str] | None = None


class ZipRecruiterApplication(BaseModel):
    response_id: str
    job_id: str
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str
    phone: str | None = None
    resume: str | None = Field(None, description="base64")
    answers: list[ZipRecruiterAnswer] = []


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


class Unavailable(Exception):
    pass


class Gateway:
    def __init__(self, store: IntakeStore, broker: KafkaBroker, kafka: KafkaSettings, secrets: Mapping[str, list[str]],
                 *, max_bytes: int, resume_max_bytes: int, concurrency: int, publish_timeout_s: float,
                 body_timeout_s: float = 10.0) -> None:
        self.store = store
        self.body_timeout_s = body_timeout_s
        # Boards a CloudEvents sender may not name: the reserved ones and every named sender's
        self._reserved = set(RESERVED_BOARDS) | {k.partition(":")[2] for k in secrets if k.startswith("cloudevents:")}
        self.broker = broker
        self.kafka = kafka
        self.secrets = secrets
        self.max_bytes = max_bytes
        self.resume_max_bytes = resume_max_bytes
        self.publish_timeout_s = publish_timeout_s
        self._slots = asyncio.Semaphore(concurrency)
        self._jobs: dict[str, tuple[dict[str, Any] | None, float]] = {}

    async def handle(self, board: str, request: Request) -> Response:
        started = time.perf_counter()
        response = await self._handle(board, request)
        REQUESTS.labels(board, str(response.status_code)).inc()
        SECONDS.labels(board).observe(time.perf_counter() - started)
        return response

    async def _handle(self, board: str, request: Request) -> Response:
        # The body first, bounded and under a deadline, and its signature: a stranger trickling
        # or forging costs its own connection, never one of the slots the boards' work takes.
        try:
            body = await read_body(request, max_bytes=self.max_bytes, deadline_s=self.body_timeout_s)
        except BodyRefused as refused:
            log.info("a board's request body was not read", extra={
                "board": board, "status": refused.status, "reason": refused.detail,
                "client": request.client.host if request.client else None})
            return _problem(refused.status, refused.detail)
        signer, reason = self._signer(board, body, request.headers)
        if reason is not None:
            log.warning("refused an unsigned or wrongly signed request", extra={
                "board": board, "reason": reason, "client": request.client.host if request.client else None,
                "bytes": len(body)})
            return _problem(401, "the signature does not match: " + reason)
        if self._slots.locked():
            return _problem(503, "busy: too many requests at once; retry", retry=True)
        async with self._slots:
            try:
                payload = _json(body) if body.strip() or board != "cloudevents" else None
                if board == "cloudevents":
                    applications = boards.cloudevents(request.headers.get("content-type", ""), request.headers, payload,
                                                      signer=signer, reserved=self._reserved)
                else:
                    applications = [boards.ADAPTERS[board](payload)]
                received = await self._take(board, applications)
            except Refused as refused:
                return _problem(refused.status, refused.reason)
            except Unavailable as exc:
                return _problem(503, f"not stored: {exc}; retry", retry=True)
        if board == "cloudevents" and request.headers.get("content-type", "").startswith(boards.BATCH):
            return JSONResponse(BatchAccepted(accepted=len(received), ids=[r.id for r in received]).model_dump())
        return JSONResponse(received[0].model_dump())

    def _signer(self, board: str, body: bytes, headers: Mapping[str, str]) -> tuple[str, str | None]:
        """Who signed the body (the board, or for CloudEvents the board its secret is named for:
        `cloudevents` for the unnamed sender) and None; else why nobody did."""
        if board != "cloudevents":
            return board, signatures.check(board, self.secrets.get(board, []), body, headers)
        signers = [k for k in self.secrets if k == "cloudevents" or k.startswith("cloudevents:")]
        reason = "no secret is configured for CloudEvents boards (INTAKE_BOARD_SECRETS)"
        for key in signers:
            reason = signatures.check("cloudevents", self.secrets[key], body, headers) or ""
            if not reason:
                return key.partition(":")[2] or "cloudevents", None
        return "", reason

    async def _take(self, board: str, applications: list[Application]) -> list[Accepted]:
        ready: list[tuple[Application, InquiryReceived, bool, str]] = []
        for application in applications:
            prospect_id = ids.prospect_id(application.job_id, application.email)
            try:
                job = await self._job(application.job_id)
                posted = await self.store.posted_for(prospect_id)
                before = application.event_id in posted
                if board == "indeed" and not before and (
                        posted or await self.store.registered_by_other(prospect_id, application.event_id)):
                    raise Refused(409, f"{application.email} applied to job {application.job_id} before")
            except Refused:
                raise
            except Exception as exc:  # noqa: BLE001 - the database: the board retries
                raise Unavailable(f"the database did not answer ({type(exc).__name__})") from None
            if job is None:
                raise Refused(404, f"job {application.job_id} was never opened here")
            if job.get("open") is False:
                raise Refused(410, f"job {application.job_id} is closed")
            resume = None if before else await self._resume(application)
            data = InquiryReceived.model_validate({**application.data, **({"resume": resume} if resume else {})})
            ready.append((application, data, before, prospect_id))
        await self._publish([(a, d) for a, d, before, _ in ready if not before])
        accepted = []
        for application, data, before, prospect_id in ready:
            if not before:
                try:
                    await self.store.mark_posted(application.event_id, board, application.job_id, prospect_id)
                except Exception as exc:  # noqa: BLE001 - in Kafka, but not noted: the board sends it again
                    # Answering 200 would lose the note for good (Indeed's 409 and "received: before"
                    # rest on it); the board's retry publishes the same event id, which intake
                    # registers once, and notes it then.
                    log.warning("could not note a posted application; the board is asked to retry",
                                extra={"event_id": application.event_id})
                    raise Unavailable(f"the application could not be noted ({type(exc).__name__})") from None
            accepted.append(Accepted(id=application.event_id, prospect_id=prospect_id,
                                     received="before" if before else "new"))
        return accepted

    async def _job(self, job_id: str) -> dict[str, Any] | None:
        """The job as `jobs` last said, read at most every JOB_CACHE_S seconds per job: a board
        posts many applications to one job, and a job opened or closed a moment ago is seen
        a moment later."""
        now = time.monotonic()
        cached = self._jobs.get(job_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        job = await self.store.job(job_id)
        if len(self._jobs) > 10_000:
            self._jobs.clear()
        self._jobs[job_id] = (job, now + JOB_CACHE_S)
        return job

    async def _resume(self, application: Application) -> dict[str, Any] | None:
        file = application.resume
        if file is None:
            return None
        if len(file.data) > self.resume_max_bytes:
            RESUMES.labels("too_large").inc()
            raise Refused(413, f"the résumé is larger than {self.resume_max_bytes} bytes")
        try:
            content_type = resumes.sniff(file.data)
        except resumes.NotAResume as refused:
            RESUMES.labels("refused").inc()
            raise Refused(422, str(refused)) from None
        sha256 = hashlib.sha256(file.data).hexdigest()
        resume_id = ids.derive("resume", sha256)
        filename = resumes.safe_filename(file.filename, content_type)
        try:
            await self.store.store_resume(resume_id, file.data, filename=filename, content_type=content_type,
                                          sha256=sha256, job_id=application.job_id)
        except Exception as exc:  # noqa: BLE001 - the database: the board retries
            raise Unavailable(f"the résumé could not be stored ({type(exc).__name__})") from None
        RESUMES.labels("stored").inc()
        return {"resume_id": resume_id, "filename": filename, "content_type": content_type,
                "size": len(file.data), "sha256": sha256}

    async def _publish(self, items: list[tuple[Application, InquiryReceived]]) -> None:
        """Every event in Kafka, acknowledged by all in-sync replicas, or Unavailable."""
        if not items:
            return
        events = []
        for application, data in items:
            event = new_event(event_id=application.event_id, source=application.source, type="inquiry.received",
                              data=data, time=application.time)
            events.append(({**application.extra, **event}, data.prospect.email))
        try:
            producer = raw_producer(self.broker)
        except AttributeError:
            raise Unavailable("intake is still connecting to Kafka") from None
        topic = self.kafka.topic(topics.INQUIRIES)

        async def send_all() -> None:
            pending = [await producer.send(topic, encode_event(event), key=key.encode(), headers=CLOUDEVENTS_HEADERS)
                       for event, key in events]
            await asyncio.gather(*pending)

        try:
            await asyncio.wait_for(send_all(), self.publish_timeout_s)
        except Exception as exc:  # noqa: BLE001 - a timeout or a Kafka error: not in Kafka, as far as we know
            raise Unavailable(f"Kafka did not acknowledge it ({type(exc).__name__})") from None
        telemetry.count_published([(topics.INQUIRIES, event) for event, _ in events])


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "the body is not JSON") from None


def _problem(status: int, detail: str, *, retry: bool = False) -> JSONResponse:
    return JSONResponse({"detail": detail}, status, headers={"Retry-After": RETRY_AFTER} if retry else None)


def _disposition(filename: str) -> str:
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def add_gateway(api: FastAPI, gateway: Gateway, verifier: TokenVerifier | None) -> None:
    """The boards' routes and the résumé download on intake's HTTP side."""

    @api.post("/v1/boards/indeed/applications", tags=["job boards"], responses=BOARD_CODES | {
        409: {"description": "this person applied to this job before (another apply id)"}},
        openapi_extra=_body_schema(IndeedApplication))
    async def indeed(request: Request) -> Response:
        """Indeed Apply: the JSON Indeed posts to the job's `postUrl`, signed with
        `X-Indeed-Signature` = base64(HMAC-SHA1(secret, body))."""
        return await gateway.handle("indeed", request)

    @api.post("/v1/boards/linkedin/applications", tags=["job boards"], responses=BOARD_CODES,
              openapi_extra=_body_schema(LinkedInApplication))
    async def linkedin(request: Request) -> Response:
        """LinkedIn Apply Connect: an application posted to the job's webhook, signed with
        `X-LI-Signature: hmacsha256=<hex HMAC-SHA256(secret, body)>`. Anything but 200 is retried by LinkedIn."""
        return await gateway.handle("linkedin", request)

    @api.get("/v1/boards/linkedin/applications", tags=["job boards"],
             responses={404: {"description": "no LinkedIn secret is configured"}})
    async def linkedin_validation(challenge_code: Annotated[str, Query(
            alias="challengeCode", pattern=signatures.LINKEDIN_CHALLENGE_PATTERN)]) -> Response:
        """LinkedIn's webhook validation: answers the challenge (a UUID, as LinkedIn sends it) with
        its HMAC-SHA256 under the current secret. Nothing else is signed on request: an answer
        of this route is never a valid signature of a body the gateway takes."""
        secrets = gateway.secrets.get("linkedin") or []
        if not secrets:
            return _problem(404, "no LinkedIn secret is configured (INTAKE_BOARD_SECRETS)")
        return JSONResponse({"challengeCode": challenge_code,
                             "challengeResponse": signatures.linkedin_challenge(secrets[0], challenge_code)})

    @api.post("/v1/boards/ziprecruiter/applications", tags=["job boards"], responses=BOARD_CODES,
              openapi_extra=_body_schema(ZipRecruiterApplication))
    async def ziprecruiter(request: Request) -> Response:
        """ZipRecruiter's apply webhook, signed with `X-ZipRecruiter-Signature` = hex HMAC-SHA256(secret, body)."""
        return await gateway.handle("ziprecruiter", request)

    @api.post("/v1/inquiries", tags=["job boards"], responses=BOARD_CODES | {
        200: {"description": "in Kafka (a batch: all of it)"}},
        openapi_extra={"requestBody": {"required": True, "content": {
            boards.STRUCTURED: {"schema": {"type": "object", "description": "one CloudEvent, type inquiry.received"}},
            boards.BATCH: {"schema": {"type": "array", "items": {"type": "object"}}},
            "application/json": {"schema": {"type": "object", "description": "binary mode: `data`, with ce-* headers"}}}}})
    async def inquiries(request: Request) -> Response:
        """Any other board: `inquiry.received` as CloudEvents over HTTP (structured, binary or batch
        mode), signed by Standard Webhooks (`webhook-id`, `webhook-timestamp` within 5 minutes,
        `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`). The event's own `id`
        is the idempotency key. A batch is taken whole or not at all."""
        return await gateway.handle("cloudevents", request)

    recruiter = recruiter_from_bearer(
        verifier, unconfigured="résumé downloads are not configured: set INTAKE_JWT_SECRET or INTAKE_JWKS_URL")

    @api.get("/v1/resumes/{resume_id}", tags=["résumés"], response_class=Response,
             responses={200: {"content": {t: {} for t in resumes.EXTENSIONS}, "description": "the file"},
                        **documented(401, 404, 503)})
    async def resume(resume_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,128}$")],
                     recruiter_id: Annotated[str, Depends(recruiter)]) -> Response:
        """A résumé, for the recruiter of a job it was sent to (anyone else: 404)."""
        try:
            file = await gateway.store.resume_for(resume_id, recruiter_id)
        except Exception:  # noqa: BLE001
            return _problem(503, "the database did not answer; retry", retry=True)
        if file is None:
            return _problem(404, "no such résumé among your prospects'")
        metadata = file.metadata or {}

        async def chunks() -> Any:
            while chunk := await file.readchunk():
                yield chunk

        return StreamingResponse(chunks(), media_type=metadata.get("content_type", "application/octet-stream"),
                                 headers={"Content-Disposition": _disposition(file.filename or "resume"),
                                          "Content-Length": str(file.length), "X-Content-Type-Options": "nosniff",
                                          "Cache-Control": "private, no-store"})
