"""Each job board's application format → the contract's `inquiry.received`, without I/O.

An adapter takes the parsed JSON a board posted and returns an `Application`: the inquiry's
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
from typing import Any

from pydantic import ValidationError

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


def _get(payload: Any, path: str, *, required: bool = True) -> Any:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, dict):
            value = None
            break
        value = value.get(part)
    if required and value in (None, ""):
        raise Refused(400, f"`{path}` is required")
    return value


def _text(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise Refused(422, f"`{path}` must be a string")
    return value


def _name(payload: Any, full: str, first: str, last: str) -> str:
    name = _text(_get(payload, full, required=False), full)
    if not name:
        parts = [_text(_get(payload, p, required=False), p) for p in (first, last)]
        name = " ".join(p.strip() for p in parts if p and p.strip())
    if not name:
        raise Refused(400, f"`{full}` (or `{first}` and `{last}`) is required")
    return name


def _base64(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise Refused(422, f"`{path}` must be base64 text")
    try:
        return base64.b64decode(value.strip(), validate=False)
    except (binascii.Error, ValueError):
        raise Refused(422, f"`{path}` is not valid base64") from None


def _millis(value: Any, path: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Refused(422, f"`{path}` must be milliseconds since the epoch")
    try:
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise Refused(422, f"`{path}` is out of range") from None


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise Refused(400, "the body must be a JSON object")
    return payload


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, "", [])}


def indeed(payload: Any) -> Application:
    """Indeed Apply's JSON (posted to the job's `postUrl`)."""
    payload = _object(payload)
    apply_id = _text(_get(payload, "id"), "id")
    resume = None
    file = _get(payload, "applicant.resume.file", required=False)
    if isinstance(file, dict) and file.get("data"):
        resume = ResumeFile(_base64(file["data"], "applicant.resume.file.data"),
                            _text(file.get("fileName"), "applicant.resume.file.fileName"),
                            _text(file.get("contentType"), "applicant.resume.file.contentType"))
    prospect = _drop_none({
        "name": _name(payload, "applicant.fullName", "applicant.firstName", "applicant.lastName"),
        "email": _text(_get(payload, "applicant.email"), "applicant.email"),
        "phone": _text(_get(payload, "applicant.phoneNumber", required=False), "applicant.phoneNumber"),
    })
    data = _drop_none({
        "job_id": _text(_get(payload, "job.jobId"), "job.jobId"), "board": "indeed", "board_inquiry_id": apply_id,
        "prospect": prospect,
        "message": _text(_get(payload, "applicant.coverletter", required=False), "applicant.coverletter"),
        "inquired_at": _millis(payload.get("appliedOnMillis"), "appliedOnMillis"),
    })
    return _application("indeed", str(apply_id), data, resume, {
        "job_id": "job.jobId", "board_inquiry_id": "id", "prospect.name": "applicant.fullName",
        "prospect.email": "applicant.email", "prospect.phone": "applicant.phoneNumber",
        "message": "applicant.coverletter", "inquired_at": "appliedOnMillis"})


def linkedin(payload: Any) -> Application:
    """LinkedIn Apply Connect's application, posted to the job's `jobApplicationWebhookUrl`."""
    payload = _object(payload)
    application_id = _text(_get(payload, "jobApplicationId"), "jobApplicationId")
    applicant = "applicant"
    resume = None
    file = _get(payload, "resume", required=False)
    if isinstance(file, dict) and file.get("data"):
        resume = ResumeFile(_base64(file["data"], "resume.data"), _text(file.get("fileName"), "resume.fileName"),
                            _text(file.get("contentType"), "resume.contentType"))
    prospect = _drop_none({
        "name": _name(payload, f"{applicant}.fullName", f"{applicant}.firstName", f"{applicant}.lastName"),
        "email": _text(_get(payload, f"{applicant}.emailAddress"), f"{applicant}.emailAddress"),
        "phone": _text(_get(payload, f"{applicant}.phoneNumber", required=False), f"{applicant}.phoneNumber"),
        "location": _text(_get(payload, f"{applicant}.location", required=False), f"{applicant}.location"),
        "headline": _text(_get(payload, f"{applicant}.headline", required=False), f"{applicant}.headline"),
        "profile_url": _text(_get(payload, f"{applicant}.profileUrl", required=False), f"{applicant}.profileUrl"),
    })
    data = _drop_none({
        "job_id": _text(_get(payload, "externalJobPostingId"), "externalJobPostingId"), "board": "linkedin",
        "board_inquiry_id": application_id, "prospect": prospect,
        "message": _text(_get(payload, "coverLetter", required=False), "coverLetter"),
        "inquired_at": _millis(payload.get("appliedAt"), "appliedAt"),
    })
    return _application("linkedin", str(application_id), data, resume, {
        "job_id": "externalJobPostingId", "board_inquiry_id": "jobApplicationId",
        "prospect.name": "applicant.fullName", "prospect.email": "applicant.emailAddress",
        "prospect.phone": "applicant.phoneNumber", "prospect.location": "applicant.location",
        "prospect.headline": "applicant.headline", "prospect.profile_url": "applicant.profileUrl",
        "message": "coverLetter", "inquired_at": "appliedAt"})


def _answers(answers: Any) -> str | None:
    """ZipRecruiter's screening answers as lines of `question: answer` for the recruiter to read."""
    if not isinstance(answers, list):
        return None
    lines = []
    for answer in answers:
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
    payload = _object(payload)
    response_id = _text(_get(payload, "response_id"), "response_id")
    resume = None
    if payload.get("resume"):
        resume = ResumeFile(_base64(payload["resume"], "resume"), None)
    prospect = _drop_none({
        "name": _name(payload, "name", "first_name", "last_name"),
        "email": _text(_get(payload, "email"), "email"),
        "phone": _text(_get(payload, "phone", required=False), "phone"),
    })
    data = _drop_none({
        "job_id": _text(_get(payload, "job_id"), "job_id"), "board": "ziprecruiter",
        "board_inquiry_id": response_id, "prospect": prospect, "message": _answers(payload.get("answers")),
    })
    return _application("ziprecruiter", str(response_id), data, resume, {
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
    resume = None
    file = data.pop("resume_file", None)
    if file is not None:
        if not isinstance(file, dict) or not file.get("data"):
            raise Refused(422, "`data.resume_file` must be an object with `data` (base64)")
        resume = ResumeFile(_base64(file["data"], "data.resume_file.data"),
                            _text(file.get("filename"), "data.resume_file.filename"),
                            _text(file.get("content_type"), "data.resume_file.content_type"))
    validate(data, {}, "data.")
    extra = {k: v for k, v in event.items() if k not in ("specversion", "id", "source", "type", "time", "data",
                                                          "datacontenttype")}
    return Application(event_id=ids.derive("gateway", "cloudevents", signer, envelope.id), source=envelope.source,
                       data=data, resume=resume, time=envelope.time, extra=extra)
