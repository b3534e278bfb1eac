"""Intake's use cases: jobs and inquiries from Kafka (load, decide, store, publish), and the
gateway's applications from the boards (`Gateway`, which the HTTP routes call)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Histogram
from pydantic import BaseModel, Field

from shared import ids, topics
from shared.contract import InquiryReceived, JobClosed, JobOpened, ProspectRegistered, new_event
from shared.kafka import NotPublished, Publisher
from shared.logs import get_logger
from shared.messages import Outgoing, Publishes, Received
from shared.outbox import mark_after

from services.intake import domain, resumes, signatures
from services.intake.boards import Application, Refused
from services.intake.settings import RESERVED_BOARDS
from services.intake.store import IntakeStore

log = get_logger("prospectflow.intake.gateway")

SOURCE = "prospectflow/intake"


class Intake:
    """Intake's batch: jobs (what the gateway answers for each job) and inquiries."""

    def __init__(self, store: IntakeStore, publisher: Publishes) -> None:
        self.store = store
        self.register = RegisterInquiries(store, publisher)

    async def __call__(self, batch: list[Received]) -> None:
        await self.store.save_jobs([job_fields(r) for r in batch if r.topic == topics.JOBS])
        inquiries = [r for r in batch if r.topic == topics.INQUIRIES]
        if inquiries:
            await self.register(inquiries)


def job_fields(r: Received) -> tuple[str, dict[str, Any]]:
    """What the gateway keeps of a job event: open or closed, and the recruiter (who may read
    the résumés sent to it)."""
    if isinstance(r.data, JobClosed):
        return r.data.job_id, {"open": False}
    job = r.of(JobOpened).data
    fields: dict[str, Any] = {"recruiter_id": job.recruiter.recruiter_id, "title": job.title}
    if r.event.type == "job.opened":
        fields["open"] = True  # an update keeps the job as open or closed as it was
    return job.job_id, fields


class RegisterInquiries:
    """`inquiry.received` → `prospect.registered` or `prospect.inquired_again`."""

    def __init__(self, store: IntakeStore, publisher: Publishes) -> None:
        self.store = store
        self.publisher = publisher

    async def __call__(self, batch: list[Received]) -> None:
        inquiries = domain.unique_by_event_id(
            domain.inquiry_from_event(r.event.id, r.of(InquiryReceived).data, r.time) for r in batch
        )
        to_emit = await self.store.claim(inquiries)
        if not to_emit:
            return
        first_new: dict[str, domain.Inquiry] = {}
        for inquiry in to_emit:
            first_new.setdefault(inquiry.prospect_id, inquiry)
        known, stored = await self.store.register(first_new)
        per_event, profiles = domain.snapshots(to_emit, known)
        changed = {pid: profile for pid, profile in profiles.items() if profile != stored[pid]}
        if changed:  # only prospects that inquired again
            last_inquired_at = {i.prospect_id: i.inquired_at for i in to_emit if i.prospect_id in changed}
            await self.store.save_profiles(changed, last_inquired_at)
        await self.publisher.publish([
            self._event(inquiry, known[inquiry.prospect_id].registered_by, per_event[inquiry.event_id])
            for inquiry in to_emit
        ])
        await mark_after(self.store.mark_published([i.event_id for i in to_emit]))

    @staticmethod
    def _event(inquiry: domain.Inquiry, registered_by: str, profile: dict[str, Any]) -> Outgoing:
        kind = domain.event_type(inquiry, registered_by)
        data = ProspectRegistered.model_validate({
            "prospect_id": inquiry.prospect_id,
            "person_id": inquiry.person_id,
            "job_id": inquiry.job_id,
            "profile": profile,
            "inquiry": {
                "board": inquiry.board,
                "board_inquiry_id": inquiry.board_inquiry_id,
                "message": inquiry.message,
                "inquired_at": inquiry.inquired_at,
                **({"resume": inquiry.resume} if inquiry.resume else {}),
                **(inquiry.origin or {}),
            },
        })
        event = new_event(
            event_id=ids.event_id(inquiry.event_id, kind), source=SOURCE, type=kind, data=data,
            correlationid=inquiry.event_id,
        )
        return Outgoing(topics.PROSPECTS, inquiry.prospect_id, event)


# --- the gateway: the boards' applications, taken --------------------------------------------------

REQUESTS = Counter("prospectflow_gateway_requests_total", "Board requests to the gateway, by board and answer",
                   ["board", "code"])
SECONDS = Histogram("prospectflow_gateway_request_seconds", "Time from a board's request to the answer",
                    ["board"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
RESUMES = Counter("prospectflow_gateway_resumes_total", "Résumés received, by outcome", ["outcome"])
JOB_CACHE_S = 2.0


class Accepted(BaseModel):
    """In Kafka: intake registers it (once, however often the board sends it)."""

    id: str = Field(description="the event id (derived from the board and its application id)")
    prospect_id: str
    received: str = Field(description="`new`, or `before` when the board sent this application already")


class BatchAccepted(BaseModel):
    accepted: int
    ids: list[str]


class Unavailable(Exception):
    """Not stored now (Kafka or the database not answering): the board is asked to retry."""


class Gateway:
    def __init__(self, store: IntakeStore, publisher: Publisher, secrets: Mapping[str, list[str]],
                 *, max_bytes: int, resume_max_bytes: int, concurrency: int, publish_timeout_s: float,
                 body_timeout_s: float = 10.0) -> None:
        self.store = store
        self.body_timeout_s = body_timeout_s
        # Boards a CloudEvents sender may not name: the reserved ones and every named sender's
        self.reserved = set(RESERVED_BOARDS) | {k.partition(":")[2] for k in secrets if k.startswith("cloudevents:")}
        self.publisher = publisher
        self.secrets = secrets
        self.max_bytes = max_bytes
        self.resume_max_bytes = resume_max_bytes
        self.publish_timeout_s = publish_timeout_s
        self.slots = asyncio.Semaphore(concurrency)
        self._jobs: dict[str, tuple[dict[str, Any] | None, float]] = {}

    def signer(self, board: str, body: bytes, headers: Mapping[str, str]) -> tuple[str, str | None]:
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

    async def take(self, board: str, applications: list[Application]) -> list[Accepted]:
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
            await self.publisher.publish_within([Outgoing(topics.INQUIRIES, key, event) for event, key in events],
                                                self.publish_timeout_s)
        except NotPublished as exc:
            raise Unavailable(str(exc)) from None
