"""Reminder's use cases: keep who is waiting, and evaluate the schedule."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from shared import ids, topics
from shared.contract import ReminderDue, RunReminders, new_event
from shared.messages import Outgoing, Publishes, Received
from shared.logs import get_logger
from prometheus_client import Counter, Gauge, Histogram

from services.reminder import domain
from services.reminder.store import GROUP_SIZE, ReminderStore

SOURCE = "prospectflow/reminder"
log = get_logger("prospectflow.reminder")
REMINDERS = Counter("prospectflow_reminders", "Reminders published (`follow_up.reminder_due`).")
REMINDER_EVALUATION_SECONDS = Histogram(
    "prospectflow_reminder_evaluation_seconds", "One evaluation of the schedule, from reading it to publishing.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
LAST_EVALUATION = Gauge(
    "prospectflow_reminder_last_evaluation_timestamp_seconds",
    "When the schedule was last evaluated to the end: every reminder due by then is published.")


class Reminders:
    def __init__(self, store: ReminderStore, publisher: Publishes) -> None:
        self.store = store
        self.publisher = publisher

    async def __call__(self, batch: list[Received]) -> None:
        await self._keep_state([r for r in batch if r.topic != topics.REMINDER_COMMANDS])
        for r in batch:
            if r.topic == topics.REMINDER_COMMANDS:
                run = r.of(RunReminders).data
                await self.evaluate(run.as_of, run.recruiter_id)

    async def _keep_state(self, events: list[Received]) -> None:
        changes = domain.follow_up_changes((r.event.type, r.data, r.time) for r in events)
        jobs: dict[str, Any] = {}
        if changes.registered:  # join the new prospects with what is known of their jobs
            jobs = await self.store.job_docs({job_id for _, job_id in changes.registered})
            changes.prospects += domain.joins_for_registered(changes, jobs)
        await self.store.write(changes)
        # A job another replica stores meanwhile joins only the prospects already written; so look
        # again, after writing, for the jobs that were unknown (one side always sees the other).
        in_batch = {job_id for job_id, _ in changes.jobs}
        unjoined = [(pid, job) for pid, job in changes.registered if job not in jobs and job not in in_batch]
        if unjoined:
            late = await self.store.job_docs({job for _, job in unjoined})
            if late:
                await self.store.write(domain.Changes(
                    prospects=domain.joins_for_registered(domain.Changes(registered=unjoined), late)))

    async def evaluate(self, as_of: datetime, recruiter_id: str | None = None) -> int:
        """Send every reminder due at `as_of` that nobody has sent; return how many were sent."""
        with REMINDER_EVALUATION_SECONDS.time():
            sent = await self._evaluate(as_of, recruiter_id)
        if recruiter_id is None:
            LAST_EVALUATION.set_to_current_time()
        return sent

    async def _evaluate(self, as_of: datetime, recruiter_id: str | None) -> int:
        due: dict[str, tuple[domain.Schedule, Any]] = {}
        for doc in await self.store.schedules(recruiter_id):
            schedule = domain.Schedule(doc["_id"], doc.get("timezone", "UTC"), doc.get("reminder_hour", 8))
            day = domain.due_date(schedule, as_of)
            if day is not None:
                due[domain.reminder_id(schedule.recruiter_id, day)] = (schedule, day)
        if not due:
            return 0
        # a reminder recorded by a process that died before publishing goes out now, same id
        stale = await self.store.unpublished(list(due), older_than_s=30)
        known = await self.store.reminders_by_id(list(due))
        todo = [(rid, v) for rid, v in due.items() if rid not in known]
        sent = await self._send(stale)
        for start in range(0, len(todo), GROUP_SIZE):  # in groups: memory stays bounded at any size
            group = dict(todo[start:start + GROUP_SIZE])
            sent += await self._send(await self.store.claim(await self._build(group, as_of)))
        if sent:
            log.info("reminders sent", extra={"count": sent, "as_of": as_of.isoformat()})
        return sent

    async def _send(self, reminders: list[dict[str, Any]]) -> int:
        if not reminders:
            return 0
        await self.publisher.publish([Outgoing(topics.REMINDERS, r["recruiter_id"], r["event"]) for r in reminders])
        await self.store.mark_published(r["_id"] for r in reminders)
        REMINDERS.inc(len(reminders))
        return len(reminders)

    async def _build(self, todo: dict[str, tuple[domain.Schedule, Any]], as_of: datetime) -> list[dict[str, Any]]:
        by_recruiter: dict[str, domain.Pending] = defaultdict(domain.Pending)
        job_ids: set[str] = set()
        counted, listed = await self.store.waiting([s.recruiter_id for s, _ in todo.values()])
        for group in counted:
            key = group["_id"]
            job_ids.add(key["job_id"])
            by_recruiter[key["recruiter_id"]].count(key["job_id"], key.get("rating") or "unrated", group["n"],
                                                      group.get("replied", 0))
        for group in listed:
            for d in group["oldest"]:
                if d.get("waiting_since") is not None:
                    by_recruiter[group["_id"]].consider(domain.Waiting(
                        d["prospect_id"], d["job_id"], d.get("name") or "", d.get("rating") or "unrated",
                        d["waiting_since"].astimezone(timezone.utc)))
        titles = {j["_id"]: j.get("title", "") for j in (await self.store.job_docs(job_ids)).values()}
        reminders = []
        for rid, (schedule, day) in todo.items():
            data = domain.reminder(schedule, day, by_recruiter.get(schedule.recruiter_id) or domain.Pending(), titles)
            if data is None:
                continue  # nobody waiting: no reminder (one may still come later the same day)
            event = new_event(event_id=ids.event_id(rid, "follow_up.reminder_due"), source=SOURCE,
                              type="follow_up.reminder_due", data=ReminderDue.model_validate(data), time=as_of)
            reminders.append({"_id": rid, "recruiter_id": schedule.recruiter_id, "date": day.isoformat(),
                              "event": event, "created_at": datetime.now(timezone.utc)})
        return reminders
