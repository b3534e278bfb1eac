"""Each job board's application format → the contract's `inquiry.received`, without I/O.

Each board's payload has a pydantic model here, written as the board documents it: the same
model parses what the board posts and documents it in intake's OpenAPI, so the two cannot
drift. An adapter takes the parsed JSON a board posted and returns an `Application`: the inquiry's
data (still to be validated against the contract), the board's own application id (kept as
`board_inquiry_id`, and the seed of the event id, so a board's retry is the same event), and
the résumé's bytes if one came. Unknown fields are ignored; a missing required one is a 400 and
an invalid one a 422, each naming the field as the board spells it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from shared import ids
from shared.contract import CloudEvent, InquiryReceived

BOARDS = ("indeed", "linkedin", "ziprecruiter")
"""The boards with a format of their own; `cloudevents` is the format of everyone else."""


class Refused(Exception):
    """The board's request cannot be taken: `status` and the reason, for the board to act on."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ResumeFile:
    data: bytes
    filename: str | None
    claimed_type: str | None = None


@dataclass(frozen=True, slots=True)
class Application:
    """One application as the gateway publishes it."""

    event_id: str
    source: str
    data: dict[str, Any]  # `inquiry.received` data, without `resume` (the gateway adds it once stored)
    resume: ResumeFile | None = None
    time: datetime | None = None
    names: Mapping[str, str] = field(default_factory=dict)  # contract field → the board's name for it
    extra: dict[str, Any] = field(default_factory=dict)  # other CloudEvents attributes, kept

    @property
    def job_id(self) -> str:
        return str(self.data["job_id"])

    @property
    def email(self) -> str:
        return str(self.data["prospect"]["email"]).strip().lower()


# --- each board's payload, as the board documents it: the parser and the OpenAPI schema at once ---


def _text(value: Any) -> Any:
    """A board's text field: numbers are taken as their digits (ids often come as numbers); a
    required one that is empty is missing."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if value is not None and not isinstance(value, str):
        raise PydanticCustomError("board_text", "must be a string")
    return value


def _required(value: Any) -> Any:
    if value in (None, ""):
        raise PydanticCustomError("board_required", "is required")
    return value


def _base64_text(value: Any) -> Any:
    if value is not None and not isinstance(value, str):
        raise PydanticCustomError("board_text", "must be base64 text")
    return value or None


def _millis(value: Any) -> Any:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("board_text", "must be milliseconds since the epoch")
    try:
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise PydanticCustomError("board_text", "is out of range") from None


Text = Annotated[str | None, BeforeValidator(_text)]
Required = Annotated[str, BeforeValidator(_required), BeforeValidator(_text)]  # the last runs first
Base64 = Annotated[str | None, BeforeValidator(_base64_text), Field(description="base64")]
Millis = Annotated[datetime | None, BeforeValidator(_millis), Field(description="milliseconds since the epoch")]


class _Board(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a board adding fields breaks nothing


class BoardFile(_Board):
    """A file as Indeed and LinkedIn send one."""

    contentType: Text = None
    data: Base64 = None
    fileName: Text = None


class _Named(_Board):
    """An applicant's name: whole, or in parts."""

    fullName: Text = None
    firstName: Text = None
    lastName: Text = None


class IndeedResume(_Board):
    file: BoardFile | None = None


class IndeedApplicant(_Named):
    email: Required
    phoneNumber: Text = None
    coverletter: Text = None
    resume: IndeedResume | None = Field(None, description='{"file": {…}}')


class IndeedJob(_Board):
    jobId: Required = Field(description="your job id, as posted")
    jobKey: Text = None
    jobTitle: Text = None
    jobCompany: Text = None
    jobLocation: Text = None
    jobUrl: Text = None


class IndeedApplication(_Board):
    """Indeed Apply's JSON, posted to the job's `postUrl`."""

    id: Required = Field(description="Indeed's apply id")
    job: IndeedJob
    applicant: IndeedApplicant
    appliedOnMillis: Millis = None
    questions: Any = None
    analytics: Any = None


class LinkedInApplicant(_Named):
    emailAddress: Required
    phoneNumber: Text = None
    location: Text = None
    headline: Text = None
    profileUrl: Text = None


class LinkedInApplication(_Board):
    """LinkedIn Apply Connect's application, posted to the job's `jobApplicationWebhookUrl`."""

    jobApplicationId: Required
    externalJobPostingId: Required = Field(description="your job id, as posted")
    integrationContext: Text = None
    applicant: LinkedInApplicant
    resume: BoardFile | None = None
    coverLetter: Text = None
    appliedAt: Millis = None


class ZipRecruiterAnswer(_Board):
    id: Text = None
    value: Any = None
    values: list[Any] | None = None


class ZipRecruiterApplication(_Board):
    """ZipRecruiter's apply webhook."""

    response_id: Required
    job_id: Required
    name: Text = None
    first_name: Text = None
    last_name: Text = None
    email: Required
    phone: Text = None
    resume: Base64 = None
    answers: list[Any] | None = Field(None, description="screening answers: [{id, value | values}]")


M = TypeVar("M", bound=_Board)


def parse(model: type[M], payload: Any) -> M:
    """The board's payload as its model, or Refused in the board's words: a missing required
    field is a 400 naming it (as the board spells it), an invalid one a 422."""
    if not isinstance(payload, dict):
        raise Refused(400, "the body must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
    missing = [e for e in errors if e["type"] in ("missing", "board_required")]
    if missing:
        raise Refused(400, f"`{_path(missing[0]['loc'])}` is required")
    problems = [f"`{_path(e['loc'])}` {e['msg']}" if e["type"] == "board_text" else f"`{_path(e['loc'])}`: {e['msg']}"
                for e in errors[:5]]
    raise Refused(422, "; ".join(problems))


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(body)"


def _name(full: str | None, first: str | None, last: str | None, names: tuple[str, str, str]) -> str:
    name = full or " ".join(p.strip() for p in (first, last) if p and p.strip())
    if not name:
        raise Refused(400, f"`{names[0]}` (or `{names[1]}` and `{names[2]}`) is required")
    return name


def _decoded(value: str | None, path: str) -> bytes | None:
    if not value:
        return None
    try:
        return base64.b64decode(value.strip(), validate=False)
    except (binascii.Error, ValueError):
        raise Refused(422, f"`{path}` is not valid base64") from None


def _file(data: str | None, path: str, filename: str | None, content_type: str | None = None) -> ResumeFile | None:
    decoded = _decoded(data, path)
    return ResumeFile(decoded, filename, content_type) if decoded is not None else None


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, "", [])}


def indeed(payload: Any) -> Application:
    """Indeed Apply's JSON (posted to the job's `postUrl`)."""
    posted = parse(IndeedApplication, payload)
    applicant = posted.applicant
    file = applicant.resume.file if applicant.resume else None
    resume = _file(file.data, "applicant.resume.file.data", file.fileName, file.contentType) if file else None
    prospect = _drop_none({
        "name": _name(applicant.fullName, applicant.firstName, applicant.lastName,
                      ("applicant.fullName", "applicant.firstName", "applicant.lastName")),
        "email": applicant.email, "phone": applicant.phoneNumber,
    })
    data = _drop_none({
        "job_id": posted.job.jobId, "board": "indeed", "board_inquiry_id": posted.id, "prospect": prospect,
        "message": applicant.coverletter, "inquired_at": posted.appliedOnMillis,
    })
    return _application("indeed", posted.id, data, resume, {
        "job_id": "job.jobId", "board_inquiry_id": "id", "prospect.name": "applicant.fullName",
        "prospect.email": "applicant.email", "prospect.phone": "applicant.phoneNumber",
        "message": "applicant.coverletter", "inquired_at": "appliedOnMillis"})


def linkedin(payload: Any) -> Application:
    """LinkedIn Apply Connect's application, posted to the job's `jobApplicationWebhookUrl`."""
    posted = parse(LinkedInApplication, payload)
    applicant = posted.applicant
    file = posted.resume
    resume = _file(file.data, "resume.data", file.fileName, file.contentType) if file else None
    prospect = _drop_none({
        "name": _name(applicant.fullName, applicant.firstName, applicant.lastName,
                      ("applicant.fullName", "applicant.firstName", "applicant.lastName")),
        "email": applicant.emailAddress, "phone": applicant.phoneNumber, "location": applicant.location,
        "headline": applicant.headline, "profile_url": applicant.profileUrl,
    })
    data = _drop_none({
        "job_id": posted.externalJobPostingId, "board": "linkedin", "board_inquiry_id": posted.jobApplicationId,
        "prospect": prospect, "message": posted.coverLetter, "inquired_at": posted.appliedAt,
    })
    return _application("linkedin", posted.jobApplicationId, data, resume, {
        "job_id": "externalJobPostingId", "board_inquiry_id": "jobApplicationId",
        "prospect.name": "applicant.fullName", "prospect.email": "applicant.emailAddress",
        "prospect.phone": "applicant.phoneNumber", "prospect.location": "applicant.location",
        "prospect.headline": "applicant.headline", "prospect.profile_url": "applicant.profileUrl",
        "message": "coverLetter", "inquired_at": "appliedAt"})


def _answers(answers: list[Any] | None) -> str | None:
    """ZipRecruiter's screening answers as lines of `question: answer` for the recruiter to read."""
    lines = []
    for answer in answers or []:
        if not isinstance(answer, dict) or not answer.get("id"):
            continue
        value = answer.get("value")
        if value is None and isinstance(answer.get("values"), list):
            value = ", ".join(str(v) for v in answer["values"])
        if value not in (None, ""):
            lines.append(f"{answer['id']}: {value}")
    return "\n".join(lines) or None


def ziprecruiter(payload: Any) -> Application:
    """ZipRecruiter's apply webhook."""
    posted = parse(ZipRecruiterApplication, payload)
    prospect = _drop_none({
        "name": _name(posted.name, posted.first_name, posted.last_name, ("name", "first_name", "last_name")),
        "email": posted.email, "phone": posted.phone,
    })
    data = _drop_none({
        "job_id": posted.job_id, "board": "ziprecruiter", "board_inquiry_id": posted.response_id,
        "prospect": prospect, "message": _answers(posted.answers),
    })
    return _application("ziprecruiter", posted.response_id, data, _file(posted.resume, "resume", None), {
        "job_id": "job_id", "board_inquiry_id": "response_id", "prospect.name": "name",
        "prospect.email": "email", "prospect.phone": "phone", "message": "answers"})


def _application(board: str, application_id: str, data: dict[str, Any], resume: ResumeFile | None,
                 names: Mapping[str, str]) -> Application:
    validate(data, names)
    return Application(event_id=ids.derive("gateway", board, application_id), source=f"prospectflow/gateway/{board}",
                       data=data, resume=resume, names=names)


def validate(data: dict[str, Any], names: Mapping[str, str], prefix: str = "") -> None:
    """The contract's own check of the inquiry (without its résumé), its errors in the board's words."""
    try:
        InquiryReceived.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors()[:5]:
            path = ".".join(str(p) for p in error["loc"])
            problems.append(f"`{names.get(path, prefix + path)}`: {error['msg']}")
        raise Refused(422, "; ".join(problems)) from None


ADAPTERS: dict[str, Callable[[Any], Application]] = {"indeed": indeed, "linkedin": linkedin,
                                                     "ziprecruiter": ziprecruiter}


# --- CloudEvents over HTTP -----------------------------------------------------------------------

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


ORIGINS = frozenset({"referred_from", "referred_by"})  # set by rating and messaging, never by a board


def cloudevents(content_type: str, headers: Mapping[str, str], payload: Any, *, signer: str = "cloudevents",
                reserved: frozenset[str] | set[str] = frozenset()) -> list[Application]:
    """CloudEvents' HTTP binding: structured mode (the event as the body), batch mode (a JSON
    array of them) or binary mode (`ce-*` headers, `data` as the body). Each must be an
    `inquiry.received`; its own `id` is the idempotency key (a producer's retry re-sends it),
    the event id is derived from it and the signer, so no sender can take another's ids. A
    board speaks only for itself: `data.board` is the board the signing secret is named for
    (any but `reserved` for the unnamed `cloudevents` sender). A résumé may come as
    `data.resume_file` {`filename`, `content_type`, `data` (base64)}."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == BATCH:
        if not isinstance(payload, list) or not payload:
            raise Refused(400, "a batch must be a non-empty JSON array of events")
        if len(payload) > 1000:
            raise Refused(413, "at most 1,000 events in a batch")
        events = payload
    elif media == STRUCTURED:
        events = [payload]
    else:
        attributes = {k[3:]: v for k, v in ((k.lower(), v) for k, v in headers.items()) if k.startswith("ce-")}
        if not attributes:
            raise Refused(400, f"Content-Type {STRUCTURED} or {BATCH}, or ce-* headers (binary mode), are required")
        events = [{**attributes, "datacontenttype": media or "application/json", "data": payload}]
    applications = []
    for n, event in enumerate(events):
        where = f"event {n}: " if media == BATCH else ""
        try:
            applications.append(_cloudevent(event, signer, reserved))
        except Refused as refused:
            raise Refused(refused.status, where + refused.reason) from None
    return applications


def _cloudevent(event: Any, signer: str, reserved: frozenset[str] | set[str]) -> Application:
    if not isinstance(event, dict):
        raise Refused(400, "an event must be a JSON object")
    try:
        envelope = CloudEvent.model_validate(event)
    except ValidationError as exc:
        problems = [f"`{'.'.join(str(p) for p in e['loc'])}`: {e['msg']}" for e in exc.errors()[:5]]
        raise Refused(400, "not a CloudEvent: " + "; ".join(problems)) from None
    if envelope.type != "inquiry.received":
        raise Refused(422, f"`type` must be inquiry.received, not {envelope.type}")
    data = dict(envelope.data)
    board = data.get("board")
    if signer != "cloudevents":  # a named sender: the board is who signed
        if board not in (None, "", signer):
            raise Refused(403, f"`data.board` is {str(board)[:80]!r}, but this secret signs for {signer!r} only")
        data["board"] = signer
    elif isinstance(board, str) and board in reserved:
        raise Refused(403, f"`data.board` {board!r} is not this sender's: {board} posts through its own endpoint "
                           "and secret")
    if "resume" in data:
        raise Refused(422, "`data.resume` is the gateway's to set; send the file as `data.resume_file`")
    if ours := sorted(ORIGINS & set(data)):
        raise Refused(422, f"`data.{ours[0]}` is Prospectflow's to set (a person considered for another of the "
                           "recruiter's jobs, or referred); a board may not")
    resume = None
    file = data.pop("resume_file", None)
    if file is not None:
        if not isinstance(file, dict) or not file.get("data"):
            raise Refused(422, "`data.resume_file` must be an object with `data` (base64)")
        if not isinstance(file["data"], str):
            raise Refused(422, "`data.resume_file.data` must be base64 text")
        named = []
        for key in ("filename", "content_type"):
            try:
                named.append(_text(file.get(key)))
            except PydanticCustomError as bad:
                raise Refused(422, f"`data.resume_file.{key}` {bad.message()}") from None
        resume = ResumeFile(_decoded(file["data"], "data.resume_file.data") or b"", named[0], named[1])
    validate(data, {}, "data.")
    extra = {k: v for k, v in event.items() if k not in ("specversion", "id", "source", "type", "time", "data",
                                                          "datacontenttype")}
    return Application(event_id=ids.derive("gateway", "cloudevents", signer, envelope.id), source=envelope.source,
                       data=data, resume=resume, time=envelope.time, extra=extra)
