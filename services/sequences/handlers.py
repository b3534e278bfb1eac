"""The sequences service's use cases: the batch (jobs and prospects kept; commands; the events
that advance, pause or stop an enrollment), the run (each due step sent as a `messages.send` to
messaging, at most once), and the definitions the HTTP routes edit.

Every write is by a derived id or conditional, and every event's id is derived from what caused
it, so a redelivered batch, a repeated `sequences.run` or two replicas at once send nothing
twice and publish the same events again at most (which consumers dedupe)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge
from pydantic import BaseModel

from shared import ids, topics
from shared.contract import (
    CommandCompleted, EnrollInSequence, RejectionReason, RunSequences, SendMessages, SequenceCompleted,
    SequenceEnrolled, SequencePaused, SequenceResumed, SequenceStep, SequenceStopped, StopReason, StopSequences,
    Template, new_event,
)
from shared.logs import get_logger
from shared.messages import Outgoing, Publishes, Received
from shared.refusals import Refused

from services.sequences import domain
from services.sequences.domain import Calendar, Step, Window
from services.sequences.store import SequencesStore, utcnow

SOURCE = "prospectflow/sequences"
TEMPLATES = frozenset(t.value for t in Template)
log = get_logger("prospectflow.sequences")
ENROLLMENTS = Counter("prospectflow_sequence_enrollments_total", "Enrollments started")
STEPS = Counter("prospectflow_sequence_steps_total", "Steps handed to messaging (`messages.send`)")
STOPS = Counter("prospectflow_sequence_stops_total", "Enrollments stopped, by reason", ["reason"])
DUE = Gauge("prospectflow_sequence_steps_due", "Steps due at the last evaluation and not yet sent (cap, window)")
LAG = Gauge("prospectflow_sequence_schedule_lag_seconds", "How late the oldest step sent at the last evaluation was")
BY_STATE = Gauge("prospectflow_sequence_enrollments_by_state", "Enrollments by state at the last evaluation", ["state"])


def calendar(enrollment: dict[str, Any]) -> Calendar:
    window = enrollment["window"]
    return Calendar(Window(window["start_hour"], window["end_hour"], tuple(window["days"])),
                    enrollment.get("timezone") or "UTC", enrollment.get("country"))


def _event(kind: str, data: BaseModel, cause: str, key: str) -> Outgoing:
    return Outgoing(topics.SEQUENCES, key, new_event(event_id=ids.event_id(cause, kind), source=SOURCE, type=kind,
                                                     data=data))


def _about(enrollment: dict[str, Any]) -> dict[str, Any]:
    return {"enrollment_id": enrollment["_id"], "sequence_id": enrollment["sequence_id"],
            "version": enrollment["version"], "prospect_id": enrollment["prospect_id"],
            "job_id": enrollment["job_id"], "recruiter_id": enrollment["recruiter_id"]}


class Sequences:
    def __init__(self, store: SequencesStore, publisher: Publishes, *, out_of_office_days: float = 14.0,
                 run_batch: int = 1_000, republish_after_s: float = 30.0) -> None:
        self.store = store
        self.publisher = publisher
        self.out_of_office = timedelta(days=out_of_office_days)
        self.run_batch = run_batch
        self.republish_after = timedelta(seconds=republish_after_s)

    async def __call__(self, batch: list[Received]) -> None:
        dumped = [(r, r.data.model_dump(mode="json")) for r in batch]  # once per event, for both
        await self._keep_state(dumped)
        out: list[Outgoing] = []
        for r in batch:
            if r.event.type == "sequences.enroll":
                out += await self._enroll(r.of(EnrollInSequence))
            elif r.event.type == "sequences.stop":
                out += await self._stop_command(r.of(StopSequences))
        out += await self._follow(dumped)
        await self.publisher.publish(out)
        for r in batch:
            if r.event.type == "sequences.run":
                run = r.of(RunSequences)
                await self.run(run.data.as_of, run.data.recruiter_id)
                await self.publisher.publish([_completed(r.event.id, r.event.type, run.data.recruiter_id or "operator",
                                                         [], [])])

    # --- what it knows of jobs and prospects ------------------------------------------------------

    async def _keep_state(self, batch: list[tuple[Received, dict[str, Any]]]) -> None:
        jobs: dict[str, dict[str, Any]] = {}
        prospects: dict[str, dict[str, Any]] = {}
        for r, data in batch:
            if r.event.type in ("job.opened", "job.updated"):
                recruiter = data["recruiter"]
                jobs[data["job_id"]] = {"recruiter_id": recruiter["recruiter_id"], "timezone": recruiter["timezone"],
                                        "country": recruiter.get("country"), "title": data["title"],
                                        **({"open": True} if r.event.type == "job.opened" else {})}
            elif r.event.type == "job.closed":
                jobs.setdefault(data["job_id"], {})["open"] = False
            elif r.event.type in ("prospect.registered", "prospect.inquired_again"):
                profile = data["profile"]
                prospects[data["prospect_id"]] = {"job_id": data["job_id"], "email": profile["email"].lower(),
                                                  "name": profile["name"], "timezone": profile.get("timezone")}
        await self.store.save_jobs(jobs)
        await self.store.save_prospects(prospects)

    # --- commands ---------------------------------------------------------------------------------

    async def _enroll(self, r: Received[EnrollInSequence]) -> list[Outgoing]:
        command = r.data
        wanted = list(dict.fromkeys(command.prospect_ids))
        sequence = await self.store.sequence(command.sequence_id)
        if sequence is None or sequence.get("recruiter_id") != command.recruiter_id or sequence.get("archived_at"):
            return [_completed(r.event.id, r.event.type, command.recruiter_id, [],
                               [(pid, RejectionReason.UNKNOWN_SEQUENCE) for pid in wanted])]
        prospects = await self.store.by_ids("prospects", wanted)
        jobs = await self.store.by_ids("jobs", {p["job_id"] for p in prospects.values()})
        rejected: list[tuple[str, RejectionReason]] = []
        candidates = []
        for pid in wanted:
            prospect = prospects.get(pid)
            job = jobs.get(prospect["job_id"]) if prospect else None
            if prospect is None:
                rejected.append((pid, RejectionReason.UNKNOWN_PROSPECT))
            elif job is None or job.get("recruiter_id") != command.recruiter_id:
                rejected.append((pid, RejectionReason.FORBIDDEN))
            elif job.get("open") is False:
                rejected.append((pid, RejectionReason.JOB_CLOSED))
            else:
                candidates.append(pid)
        # A redelivered command finds its enrollments made (perhaps ended since): the same answer
        # and events again, and no new claim that would hold an ended enrollment's prospect.
        made = await self.store.by_ids("enrollments", [domain.enrollment_id(r.event.id, pid) for pid in candidates])
        holders = await self.store.claim([(pid, domain.enrollment_id(r.event.id, pid)) for pid in candidates
                                          if domain.enrollment_id(r.event.id, pid) not in made])
        accepted, docs, out = [], [], []
        at = r.time
        for pid in candidates:
            enrollment_id = domain.enrollment_id(r.event.id, pid)
            if enrollment_id in made:
                before = made[enrollment_id]
                accepted.append(pid)
                out.append(_event("sequence.enrolled", SequenceEnrolled(
                    **_about(before), command_id=r.event.id, next_step=1, next_at=before["created_next_at"]),
                    enrollment_id, pid))
                continue
            if holders.get(pid) != enrollment_id:
                rejected.append((pid, RejectionReason.ALREADY_ENROLLED))
                continue
            prospect, job = prospects[pid], jobs[prospects[pid]["job_id"]]
            doc = {"_id": enrollment_id, "sequence_id": sequence["_id"], "version": sequence["version"],
                   "prospect_id": pid, "job_id": prospect["job_id"], "recruiter_id": command.recruiter_id,
                   "command_id": r.event.id, "steps": sequence["steps"], "window": sequence["window"],
                   "sequence_name": sequence.get("name"),
                   "daily_cap": sequence["daily_cap"], "timezone": prospect.get("timezone") or job.get("timezone"),
                   "recruiter_timezone": job.get("timezone") or "UTC", "country": job.get("country"),
                   "state": "running", "step": 1, "steps_sent": 0, "created_at": at}
            doc["next_at"] = doc["created_next_at"] = calendar(doc).first_moment(at)
            doc["events"] = [{"kind": "enrolled", "at": at, "next_at": doc["next_at"]}]
            docs.append(doc)
            accepted.append(pid)
            out.append(_event("sequence.enrolled", SequenceEnrolled(
                **_about(doc), command_id=r.event.id, next_step=1, next_at=doc["next_at"]), enrollment_id, pid))
        await self.store.add_enrollments(docs)  # a redelivery finds them there: the same events again
        ENROLLMENTS.inc(len(docs))
        order = {pid: n for n, pid in enumerate(wanted)}
        rejected.sort(key=lambda x: order[x[0]])
        return [*out, _completed(r.event.id, r.event.type, command.recruiter_id, accepted, rejected)]

    async def _stop_command(self, r: Received[StopSequences]) -> list[Outgoing]:
        command = r.data
        wanted = list(dict.fromkeys(command.prospect_ids))
        active = [e for e in await self.store.active_of(prospect_ids=wanted) if e["recruiter_id"] == command.recruiter_id]
        out = await self._stop(active, StopReason.RECRUITER, r.event.id)
        # A repeated command (a redelivery, a reload of the page) answers as the first did.
        stopped = {e["prospect_id"] for e in [*active, *await self.store.stopped_by(r.event.id, wanted)]}
        accepted = [pid for pid in wanted if pid in stopped]
        rejected = [(pid, RejectionReason.UNKNOWN_PROSPECT) for pid in wanted if pid not in stopped]
        return [*out, _completed(r.event.id, r.event.type, command.recruiter_id, accepted, rejected)]

    async def _stop(self, enrollments: list[dict[str, Any]], reason: StopReason, cause: str) -> list[Outgoing]:
        """Published first, then ended: a crash between publishes the same event again (its id
        is the enrollment's: stopped once, whatever stops it and however often)."""
        events = [_event("sequence.stopped", SequenceStopped(**_about(e), reason=reason,
                                                             steps_sent=e.get("steps_sent", 0)),
                         e["_id"], e["prospect_id"]) for e in enrollments]
        await self.publisher.publish(events)
        now = utcnow()
        for e in enrollments:
            if await self.store.end(e, {"state": "stopped", "reason": reason.value, "stopped_at": now, "next_at": None,
                                        "stopped_by": cause},
                                    {"kind": "stopped", "at": now, "reason": reason.value}):
                STOPS.labels(reason.value).inc()
        return []

    # --- events about the people enrolled ---------------------------------------------------------

    async def _follow(self, batch: list[tuple[Received, dict[str, Any]]]) -> list[Outgoing]:
        out: list[Outgoing] = []
        sent: list[dict[str, Any]] = []  # steps sent, taken together until another kind of event
        for r, data in batch:
            if r.event.type == "message.sent" and data.get("sequence"):
                sent.append(data)
                continue
            if sent:
                await self._steps_sent(sent)
                sent = []
            reason = domain.stop_reason(r.event.type, data)
            if reason is not None:
                query = {"enrollment_ids": [data["sequence"]["enrollment_id"]]} if r.event.type == "message.failed" \
                    else {"prospect_ids": [data["prospect_id"]]}
                out += await self._stop(await self.store.active_of(**query), reason, r.event.id)
            elif r.event.type == "prospect.opted_out":
                prospects = await self.store.prospect_ids_of([data["email"].lower()])
                out += await self._stop(await self.store.active_of(prospect_ids=prospects), StopReason.OPTED_OUT,
                                        r.event.id)
            elif r.event.type == "job.closed":
                out += await self._stop(await self.store.active_of(job_ids=[data["job_id"]]), StopReason.JOB_CLOSED,
                                        r.event.id)
            elif r.event.type == "command.completed" and data["command_type"] == "messages.send" and data["rejected"]:
                steps = await self.store.steps_by_ids([data["command_id"]])
                if steps:
                    enrollment = steps[data["command_id"]]["enrollment_id"]
                    out += await self._stop(await self.store.active_of(enrollment_ids=[enrollment]),
                                            StopReason.REJECTED, r.event.id)
            elif domain.is_out_of_office(r.event.type, data):
                out += await self._pause(data, r.time)
        if sent:
            await self._steps_sent(sent)
        return out

    async def _steps_sent(self, sent: list[dict[str, Any]]) -> None:
        """Steps were sent: each enrollment's next step is scheduled, or it is complete (one read
        and one bulk write for all of them)."""
        found = {e["_id"]: e for e in await self.store.active_of(enrollment_ids={d["sequence"]["enrollment_id"]
                                                                               for d in sent})}
        scheduled, completed = [], []
        for data in sent:
            step = data["sequence"]
            enrollment = found.get(step["enrollment_id"])
            if enrollment is None or enrollment["step"] != step["step"]:
                continue  # ended meanwhile, or a redelivery of a step already counted
            sent_at = datetime.fromisoformat(data["sent_at"])
            steps = enrollment["steps"]
            if step["step"] >= len(steps):
                completed.append((enrollment, step["step"], sent_at))
                del found[enrollment["_id"]]
                continue
            next_at = calendar(enrollment).next_step_at(sent_at, steps[step["step"]]["delay_business_days"])
            scheduled.append(({"_id": enrollment["_id"], "step": step["step"]},
                              {"state": "running", "step": step["step"] + 1, "steps_sent": step["step"], "next_at": next_at},
                              None))
            enrollment["step"] += 1
        await self.store.update_each(scheduled)
        await self.publisher.publish([_event("sequence.completed", SequenceCompleted(**_about(e), steps_sent=n), e["_id"],
                                             e["prospect_id"]) for e, n, _ in completed])
        for e, n, at in completed:
            await self.store.end(e, {"state": "completed", "steps_sent": n, "next_at": None, "completed_at": at},
                                 {"kind": "completed", "at": at, "steps_sent": n})

    async def _pause(self, data: dict[str, Any], at: datetime) -> list[Outgoing]:
        out = []
        back = domain.return_date(data.get("text"), at)
        for e in await self.store.active_of(prospect_ids=[data["prospect_id"]]):
            until = calendar(e).resume_at(back) if back else calendar(e).first_moment(at + self.out_of_office)
            if e["state"] == "awaiting":  # the step in flight is sent; the next waits for their return
                continue
            await self.store.update(e["_id"], {"state": "paused", "next_at": until, "paused_until": until},
                                    event={"kind": "paused", "at": at, "until": until})
            out.append(_event("sequence.paused", SequencePaused(**_about(e), until=until),
                              f"{e['_id']}:{data['message_id']}", e["prospect_id"]))
        return out

    # --- the run: every due step to messaging --------------------------------------------------

    async def run(self, as_of: datetime, recruiter_id: str | None = None) -> int:
        """Hand every step due by `as_of` to messaging, within each window and each recruiter's
        cap (spread over the window), oldest first; the rest wait. The due enrollments are read a
        page at a time (`run_batch`, in (next_at, _id) order), so memory does not grow with the
        schedule. Returns how many steps were handed."""
        sent_today: dict[str, int] = {}
        days: dict[str, str] = {}
        handed, waiting, oldest, after = 0, 0, None, None
        while True:
            due = await self.store.due(as_of, recruiter_id, self.run_batch, after=after)
            if not due:
                break
            after = (due[-1]["next_at"], due[-1]["_id"])
            count, held, first = await self._hand(due, as_of, sent_today, days)
            handed, waiting = handed + count, waiting + held
            oldest = first if oldest is None or (first is not None and first < oldest) else oldest
            if len(due) < self.run_batch:
                break
        STEPS.inc(handed)
        DUE.set(waiting)
        for state, count in (await self.store.count_by_state()).items():
            BY_STATE.labels(state).set(count)
        if oldest is not None:
            LAG.set(max(0.0, (as_of - oldest).total_seconds()))
        return handed

    async def _hand(self, due: list[dict[str, Any]], as_of: datetime, sent_today: dict[str, int],
                    days: dict[str, str]) -> tuple[int, int, datetime | None]:
        """One page of due enrollments: (steps handed, steps held back by the cap, the oldest handed)."""
        new = {e["recruiter_id"]: e for e in due if e["recruiter_id"] not in days}
        for rid, e in new.items():
            days[rid] = domain.local_day(Calendar(Window(), e.get("recruiter_timezone") or "UTC"), as_of)
        sent_today.update(await self.store.sent_today(new, days))
        steps, out, later, waiting, oldest = [], [], [], 0, None
        for e in due:
            rid = e["recruiter_id"]
            when = calendar(e)
            moment = when.first_moment(as_of)
            if moment > as_of:  # outside its window now: at the next moment, not at night
                later.append(({"_id": e["_id"], "state": e["state"]}, {"next_at": moment}, None))
                continue
            if domain.allowance(e["daily_cap"], when, as_of, sent_today[rid]) <= 0:
                waiting += 1  # the cap: it waits, oldest first, for the allowance to grow
                continue
            sent_today[rid] += 1
            if e["state"] == "paused":
                out.append(_event("sequence.resumed", SequenceResumed(**_about(e), next_step=e["step"], next_at=as_of),
                                  f"{e['_id']}:{e.get('paused_until')}", e["prospect_id"]))
            oldest = min(oldest or e["next_at"], e["next_at"])
            step_id = domain.step_command_id(e["_id"], e["step"])
            steps.append((e, step_id, {"_id": step_id, "enrollment_id": e["_id"], "recruiter_id": rid,
                                       "day": days[rid], "at": utcnow(), "step": e["step"], "published": False}))
        await self.store.update_each(later)
        recorded = await self.store.record_steps([doc for _, _, doc in steps])
        stale = await self.store.unpublished_steps([i for _, i, _ in steps if i not in recorded],
                                                   utcnow() - self.republish_after)
        commands = []
        for e, step_id, _ in steps:
            if step_id not in recorded and step_id not in stale:
                continue  # another replica, or an earlier run, has it
            template = e["steps"][e["step"] - 1]["template"]
            data = SendMessages(recruiter_id=e["recruiter_id"], template=template, prospect_ids=[e["prospect_id"]],
                                sequence=SequenceStep(enrollment_id=e["_id"], sequence_id=e["sequence_id"], step=e["step"]))
            commands.append(Outgoing(topics.MESSAGING_COMMANDS, e["recruiter_id"], new_event(
                event_id=step_id, source=SOURCE, type="messages.send", data=data, correlationid=e["_id"])))
        await self.publisher.publish(out + commands)
        await self.store.mark_steps_published([c.event["id"] for c in commands])
        await self.store.update_each([({"_id": e["_id"], "step": e["step"], "state": e["state"]},
                                       {"state": "awaiting", "next_at": None},
                                       {"kind": "resumed", "at": as_of} if e["state"] == "paused" else None)
                                      for e, _, _ in steps])
        return len(commands), waiting, oldest


def _completed(command_id: str, command_type: str, recruiter_id: str, accepted: list[str],
               rejected: list[tuple[str, RejectionReason]]) -> Outgoing:
    result = CommandCompleted.model_validate({"command_id": command_id, "command_type": command_type,
                                              "recruiter_id": recruiter_id, "accepted": accepted,
                                              "rejected": [{"prospect_id": p, "reason": r} for p, r in rejected]})
    return Outgoing(topics.COMMAND_RESULTS, recruiter_id, new_event(
        event_id=ids.event_id(command_id, "command.completed"), source=SOURCE, type="command.completed", data=result,
        correlationid=command_id))


# --- the HTTP side's use cases ---------------------------------------------------------------------




class Definitions:
    """A recruiter's sequences: create, list with per-step figures, read, new version, archive;
    and a prospect's enrollments."""

    def __init__(self, store: SequencesStore) -> None:
        self.store = store

    @staticmethod
    def _check(steps: list[dict[str, Any]], window: dict[str, Any], daily_cap: int) -> None:
        why = domain.refusal([Step(s["template"], s["delay_business_days"]) for s in steps],
                             Window(window["start_hour"], window["end_hour"], tuple(window["days"])), daily_cap,
                             TEMPLATES)
        if why is not None:
            raise Refused(422, why)

    async def create(self, recruiter_id: str, definition: dict[str, Any]) -> dict[str, Any]:
        self._check(definition["steps"], definition["window"], definition["daily_cap"])
        now = utcnow()
        sequence_id = ids.derive("sequence", recruiter_id, definition["name"], now.isoformat())
        doc = {"sequence_id": sequence_id, "recruiter_id": recruiter_id, "version": 1, "created_at": now,
               "updated_at": now, "archived_at": None, **definition}
        await self.store.add_version(doc)
        return doc

    async def own(self, recruiter_id: str, sequence_id: str) -> dict[str, Any]:
        doc = await self.store.sequence(sequence_id)
        if doc is None or doc.get("recruiter_id") != recruiter_id:
            raise Refused(404, "no such sequence among yours")
        return {**doc, "sequence_id": doc["_id"]}

    async def new_version(self, recruiter_id: str, sequence_id: str, definition: dict[str, Any]) -> dict[str, Any]:
        current = await self.own(recruiter_id, sequence_id)
        if current.get("archived_at"):
            raise Refused(409, "the sequence is archived")
        self._check(definition["steps"], definition["window"], definition["daily_cap"])
        doc = {"sequence_id": sequence_id, "recruiter_id": recruiter_id, "version": current["version"] + 1,
               "created_at": current["created_at"], "updated_at": utcnow(), "archived_at": None, **definition}
        await self.store.add_version(doc)
        return doc

    async def archive(self, recruiter_id: str, sequence_id: str) -> None:
        await self.own(recruiter_id, sequence_id)
        await self.store.archive(sequence_id, utcnow())

    async def listed(self, recruiter_id: str) -> list[dict[str, Any]]:
        """The recruiter's sequences, each with per-step figures from its enrollments."""
        out = []
        for doc in await self.store.sequences_of(recruiter_id):
            enrollments = await self.store.enrollments_of_sequence(doc["_id"])
            out.append({**doc, "sequence_id": doc["_id"], "figures": figures(len(doc["steps"]), enrollments)})
        return out

    async def enrollments(self, recruiter_id: str, prospect_ids: list[str]) -> list[dict[str, Any]]:
        return [{**e, "enrollment_id": e["_id"], "steps_total": len(e["steps"]), "events": e.get("events", [])}
                for e in await self.store.enrollments_of(prospect_ids, recruiter_id)]


def figures(step_count: int, enrollments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per step: sent, and of those whose last sent step it was, replied, bounced and stopped
    otherwise; the reply rate of each step (replied / sent)."""
    rows: list[dict[str, Any]] = [{"step": n, "sent": 0, "replied": 0, "bounced": 0, "stopped": 0} for n in range(1, step_count + 1)]
    for e in enrollments:
        sent = min(e.get("steps_sent", 0), step_count)
        for n in range(sent):
            rows[n]["sent"] += 1
        if sent and e.get("state") == "stopped":
            key = {"replied": "replied", "bounced": "bounced"}.get(e.get("reason", ""), "stopped")
            rows[sent - 1][key] += 1
    for row in rows:
        row["reply_rate"] = round(row["replied"] / row["sent"], 3) if row["sent"] else None
    return rows
