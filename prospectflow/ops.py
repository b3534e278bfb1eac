"""What the tool does, apart from how it prints it: the CLI and the demo both call these."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from prospectflow.api import RatingApi
from prospectflow.bus import Bus, as_event
from prospectflow.errors import CliError
from shared import ids, topics
from shared.contract import (
    EVENT_TYPES, CloudEvent, EnrollInSequence, ErasePerson, FlagFollowUp, InquiryReceived, JobClosed, RateProspects, RunReminders,
    RunSequences, SendMessages, StopSequences, SuggestProspects, new_event,
)
from shared.messages import describe_validation_error

SOURCE = "prospectflow/cli"
MAX_IDS = 1000  # prospect_ids per command (the contract's limit)
Progress = Callable[[int], None]


def _validate(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CliError(f"{where}: {describe_validation_error(exc)}") from None


def load_json(path: Path | str, model: type[BaseModel], what: str, plural: str | None = None) -> list[tuple[int, dict[str, Any]]]:
    """One JSON object, or JSON Lines of them (`-` is stdin), each checked against the contract.
    Every bad line is reported with its number, and then nothing is published."""
    text = (Path("/dev/stdin") if str(path) == "-" else Path(path)).read_text(encoding="utf-8")
    stripped = text.strip()
    if stripped.startswith("{") and "\n" in stripped:
        try:  # one pretty-printed object rather than JSON Lines
            return [(1, _checked(json.loads(stripped), model, what, 1))]
        except (ValueError, CliError):
            pass
    items, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((number, _checked(json.loads(line), model, what, number)))
        except ValueError as exc:
            problems.append(f"line {number}: not JSON ({exc})")
        except CliError as exc:
            problems.append(str(exc))
    if problems:
        shown = "\n  ".join(problems[:20]) + (f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise CliError(f"{path}: {len(problems)} of {len(items) + len(problems)} {plural or what + 's'} are not valid; nothing was "
                       f"published:\n  {shown}")
    if not items:
        raise CliError(f"{path}: no {what} in it")
    return items


def _checked(value: Any, model: type[BaseModel], what: str, number: int) -> dict[str, Any]:
    """A line is the event's `data`, or a whole CloudEvent (kept as it is, with its id)."""
    if not isinstance(value, dict):
        raise CliError(f"line {number}: a {what} is a JSON object")
    if "specversion" in value:
        envelope = _validate(CloudEvent, value, f"line {number}")
        _validate(model, envelope.data, f"line {number}: data")  # type: ignore[attr-defined]
        return value
    _validate(model, value, f"line {number}")
    return value


def envelope(type_: str, data: dict[str, Any] | BaseModel, *, source: str = SOURCE,
             event_id: str | None = None) -> dict[str, Any]:
    if "specversion" in (data if isinstance(data, dict) else {}):
        return data  # type: ignore[return-value]
    model = data if isinstance(data, BaseModel) else EVENT_TYPES[type_].model_validate(data)
    return new_event(event_id=event_id or str(uuid.uuid4()), source=source, type=type_, data=model)  # type: ignore[arg-type]


# --- publishing ----------------------------------------------------------------------------------


async def publish_jobs(bus: Bus, jobs: Sequence[dict[str, Any]], *, update: bool = False) -> list[dict[str, Any]]:
    topic, = await bus.require(topics.JOBS)
    events = [envelope("job.updated" if update else "job.opened", job) for job in jobs]
    await bus.publish_many(topic, [(e["data"]["job_id"], e, None) for e in events])
    return events


async def close_job(bus: Bus, job_id: str) -> dict[str, Any]:
    topic, = await bus.require(topics.JOBS)
    event = envelope("job.closed", JobClosed(job_id=job_id))
    await bus.publish(topic, job_id, event)
    return event


async def publish_inquiries(bus: Bus, inquiries: Sequence[dict[str, Any]], progress: Progress | None = None
                            ) -> list[dict[str, Any]]:
    """Inquiries as a job board publishes them: keyed by the prospect's e-mail."""
    topic, = await bus.require(topics.INQUIRIES)
    events = []
    for inquiry in inquiries:
        board = inquiry.get("data", inquiry).get("board", "cli")
        events.append(envelope("inquiry.received", inquiry, source=f"jobboard/{board}"))
    messages = [(InquiryReceived.model_validate(e["data"]).prospect.email, e, None) for e in events]
    await bus.publish_many(topic, messages, progress)
    return events


# --- recruiter commands --------------------------------------------------------------------------


async def select(api: RatingApi, view: str, job_id: str | None) -> list[str]:
    """"Select all": every prospect id in the view (of one job)."""
    return [p["prospect_id"] async for p in api.prospects(view, job_id=job_id)]


@dataclass
class Outcome:
    """What the commands of one request came to (all chunks of it together)."""

    command_ids: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"command_ids": self.command_ids, "accepted": self.accepted, "rejected": self.rejected}
        if self.sent or self.failed:
            out |= {"sent": self.sent, "failed": self.failed}
        return out


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(ids))
    return [unique[i:i + MAX_IDS] for i in range(0, len(unique), MAX_IDS)]


async def command(
    bus: Bus, type_: str, recruiter_id: str, prospect_ids: Sequence[str], *, timeout_s: float,
    wait: bool = True, deliveries: bool = False, progress: Progress | None = None, **fields: Any,
) -> Outcome:
    """Publish a recruiter command (in chunks of 1,000 prospects) and wait for its
    `command.completed`; with `deliveries`, also for each accepted message's sent/failed."""
    if not prospect_ids:
        raise CliError("no prospects to act on: give prospect ids, or --view for a whole view")
    model, topic_name = {
        "prospects.rate": (RateProspects, topics.RATING_COMMANDS),
        "prospects.flag_follow_up": (FlagFollowUp, topics.RATING_COMMANDS),
        "prospects.suggest": (SuggestProspects, topics.RATING_COMMANDS),
        "messages.send": (SendMessages, topics.MESSAGING_COMMANDS),
        "sequences.enroll": (EnrollInSequence, topics.SEQUENCE_COMMANDS),
        "sequences.stop": (StopSequences, topics.SEQUENCE_COMMANDS),
    }[type_]
    watched = [topics.COMMAND_RESULTS] + ([topics.MESSAGES] if deliveries else [])
    topic, *answers = await bus.require(topic_name, *watched)
    events = [envelope(type_, _validate(model, {"recruiter_id": recruiter_id, "prospect_ids": chunk, **fields},
                                        type_)) for chunk in _chunks(prospect_ids)]
    outcome = Outcome(command_ids=[e["id"] for e in events])
    watch = await bus.watch(*answers) if wait else None
    try:
        await bus.publish_many(topic, [(recruiter_id, e, None) for e in events])
        if watch is None:
            return outcome
        open_commands = set(outcome.command_ids)
        expected: int | None = None
        async for event in watch.events(timeout_s=timeout_s):
            data = event.data
            if event.type == "command.completed" and data.get("command_id") in open_commands:
                open_commands.discard(data["command_id"])
                outcome.accepted += data.get("accepted", [])
                outcome.rejected += data.get("rejected", [])
                if progress is not None and not deliveries:
                    progress(len(data.get("accepted", [])) + len(data.get("rejected", [])))
            elif event.type in ("message.sent", "message.failed") and data.get("command_id") in outcome.command_ids:
                (outcome.sent if event.type == "message.sent" else outcome.failed).append(data)
                if progress is not None:
                    progress(1)
            if not open_commands:
                expected = len(outcome.accepted) if deliveries else 0
                if len(outcome.sent) + len(outcome.failed) >= expected:
                    return outcome
        service = {"messages.send": "messaging", "sequences.enroll": "sequences",
                   "sequences.stop": "sequences"}.get(type_, "rating")
        if open_commands:
            raise CliError(f"no command.completed for {', '.join(sorted(open_commands))} within {timeout_s:.0f} s: "
                           f"is the {service} service running? (the commands are published; they will be "
                           "carried out when it runs)")
        raise CliError(f"{len(outcome.sent) + len(outcome.failed)} of {expected} messages reported within "
                       f"{timeout_s:.0f} s; the rest are still queued (is the SMTP server reachable?)")
    finally:
        if watch is not None:
            await watch.close()


async def run_sequences(bus: Bus, *, as_of: datetime, timeout_s: float) -> None:
    """`sequences.run`, and wait for its `command.completed` (every due step handed to messaging)."""
    topic, results = await bus.require(topics.SEQUENCE_COMMANDS, topics.COMMAND_RESULTS)
    event = envelope("sequences.run", RunSequences(as_of=as_of).model_dump(mode="json"))
    watch = await bus.watch(results)
    try:
        await bus.publish_many(topic, [("operator", event, None)])
        async for answer in watch.events(timeout_s=timeout_s):
            if answer.type == "command.completed" and answer.data.get("command_id") == event["id"]:
                return
    finally:
        await watch.close()
    raise CliError(f"no command.completed for sequences.run within {timeout_s:.0f} s: is the sequences service "
                   "running? (the command is published; it will be carried out when it runs)")


# --- privacy -------------------------------------------------------------------------------------


async def erase_person(bus: Bus, *, email: str, requested_by: str, reason: str = "request",
                       timeout_s: float) -> tuple[str, dict[str, dict[str, Any]]]:
    """`person.erase`, and each service's `person.erased` as it comes, until every service that
    holds personal data has answered or `timeout_s` passed: (the command id, service -> answer)."""
    topic, answers_topic = await bus.require(topics.PRIVACY_COMMANDS, topics.PRIVACY)
    event = envelope("person.erase", _validate(ErasePerson, {"email": email, "requested_by": requested_by,
                                                             "reason": reason}, "person.erase"))
    answers: dict[str, dict[str, Any]] = {}
    watch = await bus.watch(answers_topic)
    try:
        await bus.publish_many(topic, [(event["data"]["email"], event, None)])
        async for answer in watch.events(timeout_s=timeout_s):
            if answer.type == "person.erased" and answer.data.get("request_id") == event["id"]:
                answers[answer.data["service"]] = answer.data
                if set(topics.HOLDS_PERSONAL_DATA) <= set(answers):
                    break
    finally:
        await watch.close()
    return event["id"], answers


async def export_person(email: str, urls: dict[str, str], token: str, out: Path,
                        timeout_s: float) -> tuple[Path, dict[str, str]]:
    """Everything each service holds of the person, from its `GET /v1/privacy/export`, in one
    JSON document in `out`, with the résumé files beside it: (the document, service -> what
    went wrong, for those that did not answer)."""
    import httpx
    from bson import json_util

    headers = {"Authorization": f"Bearer {token}"}
    held: dict[str, Any] = {}
    problems: dict[str, str] = {}
    out.mkdir(parents=True, exist_ok=True)
    async with httpx.AsyncClient(timeout=timeout_s, headers=headers) as http:
        for service, base in urls.items():
            try:
                answer = await http.get(f"{base.rstrip('/')}/v1/privacy/export", params={"email": email})
            except httpx.HTTPError as exc:
                problems[service] = f"{base} did not answer ({type(exc).__name__})"
                continue
            if answer.status_code != 200:
                problems[service] = f"{base} answered {answer.status_code}: {answer.text[:200]}"
                continue
            held[service] = json_util.loads(answer.text)["held"]
        files = held.get("intake", {}).get("resumes.files", [])
        for n, file in enumerate(files, 1):
            name = f"resume-{n}-{Path(str(file.get('filename') or 'resume')).name}"
            answer = await http.get(f"{urls['intake'].rstrip('/')}/v1/privacy/resumes/{file['_id']}")
            if answer.status_code == 200:
                (out / name).write_bytes(answer.content)
                file["exported_as"] = name
    document = out / "export.json"
    document.write_text(json_util.dumps({"email": email, "person_id": ids.person_id(email),
                                         "exported_at": datetime.now(timezone.utc), "held": held,
                                         "missing": problems}, indent=2, json_options=json_util.RELAXED_JSON_OPTIONS))
    return document, problems


# --- reminders -----------------------------------------------------------------------------------


async def run_reminders(bus: Bus, *, as_of: datetime, recruiter_id: str | None, group_id: str | None,
                        timeout_s: float) -> list[dict[str, Any]]:
    """Publish `reminders.run`; with the reminder service's consumer group, wait until it has
    carried the command out and return the reminders it published meanwhile."""
    topic, reminders_topic = await bus.require(topics.REMINDER_COMMANDS, topics.REMINDERS)
    event = envelope("reminders.run", RunReminders(as_of=as_of, recruiter_id=recruiter_id))
    watch = await bus.watch(reminders_topic)
    try:
        await bus.publish(topic, recruiter_id or "", event)
        if group_id is None:
            return []
        await bus.caught_up(group_id, [topic], timeout_s=timeout_s, what="the reminder service")
        found = []
        async for reminder in watch.events(timeout_s=1.0):  # published before the commit: already there
            if reminder.type == "follow_up.reminder_due" and recruiter_id in (None, reminder.data.get("recruiter_id")):
                found.append(reminder.data)
        return found
    finally:
        await watch.close()


async def last_reminders(bus: Bus, *, recruiter_id: str | None, last: int) -> list[dict[str, Any]]:
    topic, = await bus.require(topics.REMINDERS)
    found = []
    for record in await bus.read(topic, last=None if recruiter_id else last):
        event = as_event(record)
        if event and event.type == "follow_up.reminder_due" and recruiter_id in (None, event.data.get("recruiter_id")):
            found.append((record.timestamp, event.data))
    found.sort(key=lambda pair: pair[0])
    return [data for _, data in found[-last:]]


# --- dead letters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    topic: str  # the .dlq topic, without prefix
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp: int
    replayed: dict[str, Any] | None

    @property
    def ref(self) -> str:
        return f"{self.partition}:{self.offset}"

    def header(self, name: str) -> str:
        for k, v in self.headers:
            if k == name:
                return v.decode("utf-8", "replace")
        return ""

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v) for k, v in self.headers if not k.startswith("x-dlq-")]

    def as_json(self) -> dict[str, Any]:
        def text(raw: bytes | None) -> str | None:
            return None if raw is None else raw.decode("utf-8", "replace")

        return {
            "ref": self.ref, "topic": self.topic, "partition": self.partition, "offset": self.offset,
            "reason": self.header("x-dlq-reason"), "error": self.header("x-dlq-error"),
            "service": self.header("x-dlq-service"), "failed_at": self.header("x-dlq-failed-at"),
            "original": {"topic": self.header("x-dlq-original-topic"),
                         "partition": self.header("x-dlq-original-partition"),
                         "offset": self.header("x-dlq-original-offset")},
            "key": text(self.key), "value": text(self.value), "replayed": self.replayed,
        }


def dlq_topic(name: str) -> str:
    """`inquiries`, `inquiries.dlq`: the dead-letter topic's name without prefix."""
    return name if name.endswith(".dlq") else topics.dlq(name)


async def dlq_topics(bus: Bus) -> list[str]:
    prefix = bus.settings.topic_prefix
    return sorted(topics.strip_prefix(t, prefix) for t in await bus.existing_topics()
                  if t.endswith(".dlq") and t.startswith(prefix) and topics.strip_prefix(t, prefix)[:-4] in topics.ALL)


async def _replays(bus: Bus) -> dict[str, dict[str, Any]]:
    log_topic = await bus.ensure(topics.DLQ_REPLAYS, configs={"cleanup.policy": "compact"})
    replays: dict[str, dict[str, Any]] = {}
    for record in await bus.read(log_topic):
        if record.key is not None and record.value is not None:
            replays[record.key.decode()] = json.loads(record.value)
    return replays


async def dead_letters(bus: Bus, name: str) -> list[DeadLetter]:
    short = dlq_topic(name)
    if short[:-4] not in topics.ALL:
        raise CliError(f"{name!r} is not a topic of the contract: one of {', '.join(topics.ALL)}")
    full = bus.topic(short)
    if full not in await bus.existing_topics():
        return []  # nothing was ever dead-lettered there
    replays = await _replays(bus)
    return [
        DeadLetter(short, r.partition, r.offset, r.key, r.value, list(r.headers or ()), r.timestamp,
                   replays.get(f"{short}:{r.partition}:{r.offset}"))
        for r in sorted(await bus.read(full), key=lambda r: (r.timestamp, r.partition, r.offset))
    ]


def parse_ref(ref: str) -> tuple[int, int]:
    try:
        partition, offset = (int(part) for part in ref.split(":"))
        return partition, offset
    except ValueError:
        raise CliError(f"{ref!r} is not a dead letter's PARTITION:OFFSET (as `prospectflow dlq list` shows)") from None


@dataclass
class Replayed:
    letter: DeadLetter
    to: str
    partition: int
    offset: int


async def replay(bus: Bus, letters: Iterable[DeadLetter], *, value: bytes | None = None, by: str = "cli"
                 ) -> list[Replayed]:
    """Republish dead letters to their original topic (key, value and headers as they were, or a
    fixed value), and record each replay so it is not replayed again by accident."""
    log_topic = await bus.ensure(topics.DLQ_REPLAYS, configs={"cleanup.policy": "compact"})
    done = []
    for letter in letters:
        original = letter.header("x-dlq-original-topic") or bus.topic(letter.topic[:-4])
        headers = letter.original_headers + [("x-replayed-from", f"{letter.topic}:{letter.ref}".encode())]
        partition, offset = await bus.publish(original, letter.key, value if value is not None else letter.value or b"",
                                              headers)
        record = {"replayed_at": datetime.now(timezone.utc).isoformat(), "by": by, "to": original,
                  "partition": partition, "offset": offset, "fixed": value is not None}
        await bus.publish(log_topic, f"{letter.topic}:{letter.ref}", record, headers=[])
        done.append(Replayed(letter, original, partition, offset))
    return done


def new_event_unchecked(type_: str, data: dict[str, Any], *, source: str) -> dict[str, Any]:
    """A CloudEvent around `data` as given, not checked against the contract (to show what
    happens to a bad message)."""
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": source, "type": type_,
            "time": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json", "data": data}
