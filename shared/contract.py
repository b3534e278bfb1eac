"""The public contract (docs/contract.md, section 4) as pydantic models.

One model per event and command. Unknown extra attributes and fields are ignored (forward
compatibility); missing fields, wrong types and out-of-range values raise ValidationError, which
the consumer turns into a dead letter.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
)
from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic.networks import validate_email as pydantic_validate_email

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"

# --- field types -------------------------------------------------------------------------------

Identifier = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$"),
    Field(description="1-128 characters of A-Z a-z 0-9 . _ : -"),
]

# No control characters at all (C0, DEL, C1).
_SINGLE_LINE = r"^[^\x00-\x1f\x7f-\x9f]*$"
# Newlines allowed (LF, CR), other control characters not; tabs are harmless in free text.
_MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"


# Free text: stripped, bounded, no control characters (newlines only where multi-line).
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_SINGLE_LINE)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=_SINGLE_LINE)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50, pattern=_SINGLE_LINE)]
Skill = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100, pattern=_SINGLE_LINE)]
Message = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000, pattern=_MULTI_LINE)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000, pattern=_MULTI_LINE)]
Url = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2_000, pattern=r"^https?://[^\s\x00-\x1f\x7f]+$"),
    Field(description="an absolute http(s) URL"),
]


def normalise_email(value: str) -> str:
    """Trimmed and lower-cased: the form every id and comparison uses."""
    return value.strip().lower()


# The plainest addresses: dot-separated atoms of ASCII letters, digits, "_", "+" and "-" before
# the @; host names of letters, digits and inner hyphens under an alphabetic top-level domain.
# Unambiguous (atoms and labels are separated by dots, a label is at most 63), so linear in the
# length, which is checked first.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_SPECIAL_USE = tuple(SPECIAL_USE_DOMAIN_NAMES)


def _plain_address(value: str) -> str | None:
    """`value` lower-cased when it is among the plainest addresses, which email-validator accepts
    without exception (property-tested against it): at most 254 characters (so at most 252 after
    the @), 64 before the @, no "--" after it (no Punycode, none of the reserved "ab--" labels), under no
    special-use name ("localhost", "invalid", ...). None: email-validator decides. Most
    addresses are plain, and deciding them here costs a regular expression where
    email-validator's general path (Unicode, IDNA) was a sixth of intake's CPU in a burst."""
    if len(value) > 254 or not _PLAIN_ADDRESS.fullmatch(value):
        return None
    local, _, domain = value.partition("@")
    domain = domain.lower()
    if len(local) > 64 or "--" in domain:
        return None
    if any(domain == name or domain.endswith("." + name) for name in _SPECIAL_USE):
        return None
    return value.lower()


@lru_cache(maxsize=16_384)
def _valid_email(value: str) -> str:
    """`EmailStr`'s check (email-validator), remembered for the addresses that passed: it is a
    fifth of a consumer's CPU, and one process sees each address several times (the inquiry,
    the event it causes, the person's next inquiry). An address that fails is checked again.
    A plain address is decided without email-validator (`_plain_address`); the result is
    lower-cased either way after (`normalise_email`)."""
    return _plain_address(value) or pydantic_validate_email(value)[1]


class _RememberedEmail(EmailStr):
    """`EmailStr`, the same check and schema, with the check remembered (`_valid_email`)."""

    @classmethod
    def _validate(cls, input_value: str, /) -> str:
        return _valid_email(input_value)


Email = Annotated[
    _RememberedEmail,
    BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v),
    AfterValidator(normalise_email),
    Field(max_length=254),
]


def _check_timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value


TimeZoneName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_check_timezone)]


class _Data(BaseModel):
    """Base of every event's `data`: unknown fields are accepted and ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# --- envelope ----------------------------------------------------------------------------------


class CloudEvent(BaseModel):
    """CloudEvents 1.0, structured JSON mode. Extension attributes are kept but not interpreted."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"]
    id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    source: Annotated[str, StringConstraints(min_length=1, max_length=1_000)]
    type: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    time: AwareDatetime | None = None
    datacontenttype: str | None = None
    correlationid: str | None = None
    data: dict[str, Any]


# --- jobs --------------------------------------------------------------------------------------


class Recruiter(_Data):
    recruiter_id: Identifier
    name: Name
    email: Email
    timezone: TimeZoneName = "UTC"
    reminder_hour: int = Field(default=8, ge=0, le=23)
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = Field(
        None, description="ISO 3166 code (added): sequences skip this country's public holidays")


class JobOpened(_Data):
    """`job.opened` and `job.updated`: the whole job; an update replaces it."""

    job_id: Identifier
    title: Name
    company: Name
    location: ShortText | None = None
    apply_url: Url | None = None
    interview_url: Url | None = None
    recruiter: Recruiter


class JobUpdated(JobOpened):
    pass


class JobClosed(_Data):
    job_id: Identifier


# --- inquiries and opt-outs --------------------------------------------------------------------


class ProspectProfile(_Data):
    name: Name
    email: Email
    phone: Phone | None = None
    location: ShortText | None = None
    headline: ShortText | None = None
    profile_url: Url | None = None
    skills: Annotated[list[Skill], Field(max_length=100)] = []
    timezone: TimeZoneName | None = Field(None, description="IANA time zone (added): a sequence's window is read "
                                                            "in it, else in the recruiter's")


RESUME_TYPES = ("application/pdf", "application/msword",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/rtf", "application/vnd.oasis.opendocument.text", "text/plain")
"""The résumé formats the gateway takes: PDF, DOC, DOCX, RTF, ODT and plain text."""


class Resume(_Data):
    """A résumé the gateway stored (the file never travels in an event): download it from intake's
    `GET /v1/resumes/{resume_id}` with the recruiter's token."""

    resume_id: Identifier
    filename: Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=_SINGLE_LINE)]
    content_type: Literal[RESUME_TYPES]  # type: ignore[valid-type]  # the types, listed once in RESUME_TYPES
    size: int = Field(ge=1, description="bytes")
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class ReferredFrom(_Data):
    """Where a person considered for another position came from (added): their prospect on the other job."""

    job_id: Identifier
    prospect_id: Identifier


class ReferredBy(_Data):
    """Who referred a person (added): the prospect whose not-a-match mail carried the referral link."""

    person_id: Identifier
    prospect_id: Identifier
    name: Name | None = None


class Consent(_Data):
    """What the person agreed to when they inquired, as the board says it (added, section 8): kept
    with the inquiry, shown to the recruiter and in the person's export."""

    given_at: AwareDatetime
    statement: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]


class InquiryReceived(_Data):
    job_id: Identifier
    board: Identifier
    board_inquiry_id: Identifier | None = None
    prospect: ProspectProfile
    message: Message | None = None
    inquired_at: AwareDatetime | None = Field(
        default=None, description="defaults to the event's `time`"
    )
    resume: Resume | None = Field(default=None, description="a résumé the gateway stored (added)")
    referred_from: ReferredFrom | None = Field(default=None, description="board `internal`: considered for this "
                                                                         "job from another (added)")
    referred_by: ReferredBy | None = Field(default=None, description="board `referral`: referred by someone we "
                                                                     "wrote to (added)")
    consent: Consent | None = Field(default=None, description="what the person agreed to, as the board says it (added)")


class ProspectOptedOut(_Data):
    email: Email
    reason: ShortText | None = None


# --- prospects (intake) ------------------------------------------------------------------------


class Inquiry(_Data):
    board: Identifier
    board_inquiry_id: Identifier | None = None
    message: Message | None = None
    inquired_at: AwareDatetime
    resume: Resume | None = None
    referred_from: ReferredFrom | None = None
    referred_by: ReferredBy | None = None
    consent: Consent | None = None


class ProspectRegistered(_Data):
    """`prospect.registered` and `prospect.inquired_again` carry the same data."""

    prospect_id: Identifier
    person_id: Identifier
    job_id: Identifier
    profile: ProspectProfile
    inquiry: Inquiry


class ProspectInquiredAgain(ProspectRegistered):
    pass


# --- recruiter commands ------------------------------------------------------------------------


class Rating(StrEnum):
    SHORTLIST = "shortlist"
    NOT_A_FIT = "not_a_fit"
    UNRATED = "unrated"


class Template(StrEnum):
    ASK_TO_APPLY = "ask_to_apply"
    ARRANGE_INTERVIEW = "arrange_interview"
    NOT_A_MATCH = "not_a_match"
    FOLLOW_UP = "follow_up"  # (added) a short note; in a sequence, an answer to its first step's mail


ProspectIds = Annotated[list[Identifier], Field(min_length=1, max_length=1_000)]
CustomTemplate = Annotated[str, StringConstraints(pattern=r"^custom:[A-Za-z0-9._:-]{1,128}$")]
"""A recruiter's own template, kept by messaging (`POST /v1/templates`): `custom:<template_id>` (added)."""
TemplateName = Template | CustomTemplate


class RateProspects(_Data):
    """Command `prospects.rate`."""

    recruiter_id: Identifier
    prospect_ids: ProspectIds
    rating: Rating


class FlagFollowUp(_Data):
    """Command `prospects.flag_follow_up`."""

    recruiter_id: Identifier
    prospect_ids: ProspectIds
    flagged: bool


class SuggestProspects(_Data):
    """Command `prospects.suggest` (added): consider these people for another of the recruiter's
    open jobs; rating publishes an `inquiry.received` (board `internal`) for each."""

    recruiter_id: Identifier
    prospect_ids: ProspectIds
    job_id: Identifier = Field(description="the job to consider them for")


class SequenceStep(_Data):
    """Which step of which enrollment a message is (added): set by the sequences service on the
    `messages.send` of a step, carried back on `message.sent` and `message.failed`."""

    enrollment_id: Identifier
    sequence_id: Identifier
    step: int = Field(ge=1, le=10)


class SendMessages(_Data):
    """Command `messages.send`."""

    recruiter_id: Identifier
    template: TemplateName
    prospect_ids: ProspectIds
    note: Note | None = None
    sequence: SequenceStep | None = None


class RunReminders(_Data):
    """Command `reminders.run`: evaluate the schedule as of `as_of`."""

    as_of: AwareDatetime
    recruiter_id: Identifier | None = None


class RejectionReason(StrEnum):
    UNKNOWN_PROSPECT = "unknown_prospect"
    FORBIDDEN = "forbidden"
    JOB_CLOSED = "job_closed"
    OPTED_OUT = "opted_out"
    MISSING_LINK = "missing_link"
    BOUNCED = "bounced"
    ALREADY_ENROLLED = "already_enrolled"  # sequences.enroll: a running or paused enrollment exists
    UNKNOWN_SEQUENCE = "unknown_sequence"  # sequences.enroll: not the recruiter's, or archived
    UNKNOWN_TEMPLATE = "unknown_template"  # messages.send: a custom template not the recruiter's, or deleted
    SAME_JOB = "same_job"  # prospects.suggest: the prospect is on the target job already


class Rejection(_Data):
    prospect_id: Identifier
    reason: RejectionReason


class CommandCompleted(_Data):
    command_id: str
    command_type: str
    recruiter_id: Identifier
    accepted: list[Identifier]
    rejected: list[Rejection]


# --- rating's events ---------------------------------------------------------------------------


class FollowUpCause(StrEnum):
    RECRUITER = "recruiter"
    MESSAGE_SENT = "message_sent"
    NEW_INQUIRY = "new_inquiry"
    REPLIED = "replied"


class ProspectRated(_Data):
    prospect_id: Identifier
    job_id: Identifier
    recruiter_id: Identifier
    rating: Rating
    previous_rating: Rating
    command_id: str


class FollowUpFlagChanged(_Data):
    prospect_id: Identifier
    job_id: Identifier
    recruiter_id: Identifier
    flagged: bool
    cause: FollowUpCause
    command_id: str | None = None


# --- messaging's events ------------------------------------------------------------------------


class MessageSent(_Data):
    message_id: Identifier
    command_id: str
    prospect_id: Identifier
    job_id: Identifier
    recruiter_id: Identifier
    template: str
    to: str
    subject: str
    sent_at: AwareDatetime
    sequence: SequenceStep | None = None


class MessageFailed(_Data):
    message_id: Identifier
    command_id: str
    prospect_id: Identifier
    job_id: Identifier
    recruiter_id: Identifier
    template: str
    reason: str
    attempts: int
    permanent: bool
    sequence: SequenceStep | None = None


ReplyText = Annotated[str, StringConstraints(max_length=20_000, pattern=_MULTI_LINE)]


class _Answer(_Data):
    """What every message that came back names: the message it answers, and when it came."""

    message_id: Identifier
    prospect_id: Identifier
    job_id: Identifier
    recruiter_id: Identifier
    received_at: AwareDatetime


class MessageReplied(_Answer):
    """A person answered a message: the new part of the reply, quoted history removed, as plain text."""

    from_: Annotated[str, StringConstraints(max_length=320, pattern=_SINGLE_LINE)] = Field(alias="from")
    subject: Annotated[str, StringConstraints(max_length=1_000, pattern=_SINGLE_LINE)] = ""
    text: ReplyText = ""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, serialize_by_alias=True)


class AutoReplyKind(StrEnum):
    OUT_OF_OFFICE = "out_of_office"
    AUTO = "auto"


class MessageAutoReplied(_Answer):
    """An automatic answer (RFC 3834): not a reply; it changes no flag."""

    kind: AutoReplyKind
    text: Annotated[str, StringConstraints(max_length=2_000)] | None = Field(
        None, description="the start of its text (added): where an out-of-office answer says when they are back")


class MessageBounced(_Answer):
    """A delivery status notification (RFC 3464) for a message we sent; a permanent one
    suppresses the address (later sends are rejected `bounced`)."""

    permanent: bool
    status: Annotated[str, StringConstraints(max_length=20)] = ""
    diagnostic: Annotated[str, StringConstraints(max_length=1_000)] = ""


class MessageComplained(_Answer):
    """A spam complaint (RFC 5965 feedback report); `prospect.opted_out` (reason `complaint`) follows."""


# --- recruiter apps' events (added) -------------------------------------------------------------


class ProspectViewed(_Data):
    """A recruiter opened a prospect's page (the dashboard, or any recruiter app, publishes it on
    `prospect-views`; its id derived from recruiter and prospect, so every later view of the same
    page is the same event). The boards that ask for it hear their application was viewed."""

    prospect_id: Identifier
    job_id: Identifier
    recruiter_id: Identifier
    viewed_at: AwareDatetime


# --- reminders ---------------------------------------------------------------------------------


class ReminderJob(_Data):
    job_id: Identifier
    title: str
    pending: int


class ReminderProspect(_Data):
    prospect_id: Identifier
    job_id: Identifier
    name: str
    rating: Rating
    waiting_since: AwareDatetime


class ReminderDue(_Data):
    reminder_id: Identifier
    recruiter_id: Identifier
    date: str
    timezone: str
    pending_total: int
    counts: dict[str, int]
    oldest_pending_since: AwareDatetime | None
    jobs: list[ReminderJob]
    prospects: list[ReminderProspect] = Field(max_length=50)
    replied: int = Field(0, description="how many of those waiting answered a message (added)")


# --- sequences (added) ---------------------------------------------------------------------------


class EnrollInSequence(_Data):
    """Command `sequences.enroll`: start the recruiter's sequence for these prospects."""

    recruiter_id: Identifier
    sequence_id: Identifier
    prospect_ids: ProspectIds


class StopSequences(_Data):
    """Command `sequences.stop`: the recruiter stops these prospects' running enrollments."""

    recruiter_id: Identifier
    prospect_ids: ProspectIds


class ErasePerson(_Data):
    """Command `person.erase` on `privacy-commands` (added, section 8): forget a person everywhere.
    `email` says who (the services that hold personal data find them by it); `person_id`, if
    given, must be the one derived from it."""

    email: Email
    person_id: Identifier | None = None
    requested_by: ShortText = Field(description="who asked: an operator, `retention`, …")
    reason: Literal["request", "retention"] = "request"
    prospect_ids: Annotated[list[Identifier], Field(max_length=1_000)] | None = Field(
        None, description="only these prospects of the person (retention: those of long-closed jobs); "
                          "absent: the whole person")


class PersonErased(_Data):
    """Each service's answer to `person.erase` on `privacy` (added): what it removed, in counts
    (no personal data), and by when the copies still in Kafka are gone."""

    person_id: Identifier
    request_id: str = Field(description="the `person.erase` command's id")
    service: Identifier
    erased_at: AwareDatetime
    removed: dict[str, int] = Field(default_factory=dict, description="collection -> documents removed")
    kafka_copies_gone_by: AwareDatetime = Field(description="the erasure's time plus the topics' retention")


class RunSequences(_Data):
    """Command `sequences.run`: evaluate what is due as of `as_of` (operators and tests)."""

    as_of: AwareDatetime
    recruiter_id: Identifier | None = None


class StopReason(StrEnum):
    REPLIED = "replied"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    OPTED_OUT = "opted_out"
    NOT_A_FIT = "not_a_fit"
    JOB_CLOSED = "job_closed"
    RECRUITER = "recruiter"
    SEND_FAILED = "send_failed"
    REJECTED = "rejected"
    ERASED = "erased"


class _Enrollment(_Data):
    enrollment_id: Identifier
    sequence_id: Identifier
    version: int = Field(ge=1)
    prospect_id: Identifier
    job_id: Identifier
    recruiter_id: Identifier


class SequenceEnrolled(_Enrollment):
    command_id: str
    next_step: int = Field(ge=1)
    next_at: AwareDatetime


class SequencePaused(_Enrollment):
    reason: Literal["out_of_office"] = "out_of_office"
    until: AwareDatetime


class SequenceResumed(_Enrollment):
    next_step: int = Field(ge=1)
    next_at: AwareDatetime


class SequenceStopped(_Enrollment):
    reason: StopReason
    steps_sent: int = Field(ge=0)


class SequenceCompleted(_Enrollment):
    steps_sent: int = Field(ge=0)


# --- event types -------------------------------------------------------------------------------

EVENT_TYPES: dict[str, type[_Data]] = {
    "job.opened": JobOpened,
    "job.updated": JobUpdated,
    "job.closed": JobClosed,
    "inquiry.received": InquiryReceived,
    "prospect.opted_out": ProspectOptedOut,
    "prospect.registered": ProspectRegistered,
    "prospect.inquired_again": ProspectInquiredAgain,
    "prospects.rate": RateProspects,
    "prospects.flag_follow_up": FlagFollowUp,
    "prospects.suggest": SuggestProspects,
    "messages.send": SendMessages,
    "reminders.run": RunReminders,
    "command.completed": CommandCompleted,
    "prospect.rated": ProspectRated,
    "prospect.follow_up_flag_changed": FollowUpFlagChanged,
    "message.sent": MessageSent,
    "message.failed": MessageFailed,
    "message.replied": MessageReplied,
    "message.auto_replied": MessageAutoReplied,
    "message.bounced": MessageBounced,
    "message.complained": MessageComplained,
    "follow_up.reminder_due": ReminderDue,
    "prospect.viewed": ProspectViewed,
    "sequences.enroll": EnrollInSequence,
    "sequences.stop": StopSequences,
    "sequences.run": RunSequences,
    "sequence.enrolled": SequenceEnrolled,
    "sequence.paused": SequencePaused,
    "sequence.resumed": SequenceResumed,
    "sequence.stopped": SequenceStopped,
    "sequence.completed": SequenceCompleted,
    "person.erase": ErasePerson,
    "person.erased": PersonErased,
}
"""Every type of the contract and the model of its `data`."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_event(
    *, event_id: str, source: str, type: str, data: BaseModel, correlationid: str | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """A CloudEvent as the JSON-ready dict we publish."""
    if type not in EVENT_TYPES:
        raise ValueError(f"not a contract event type: {type}")
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": type,
        "time": (time or utcnow()).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": data.model_dump(mode="json", exclude_none=True),
    }
    if correlationid is not None:
        event["correlationid"] = correlationid
    return event


def documented_envelope(event_type: str) -> type[BaseModel]:
    """The CloudEvent of `event_type` with its typed `data`: the payload schema that the
    AsyncAPI documents show. Validation itself goes envelope first, then data, so that each
    failure gets its own dead-letter reason."""
    from pydantic import create_model

    data_model = EVENT_TYPES[event_type]
    name = "".join(part.title() for part in event_type.replace("_", ".").split(".")) + "Event"
    return create_model(
        name,
        __base__=CloudEvent,
        __doc__=f"`{event_type}`: {(data_model.__doc__ or '').strip()}",
        type=(Literal[event_type], Field(description="the event type")),  # type: ignore[arg-type]  # a Literal of a runtime value
        data=(data_model, ...),
    )
