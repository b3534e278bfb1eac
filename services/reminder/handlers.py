"""Reminder's use cases: keep who is waiting, and evaluate the schedule."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from pymongo import UpdateOne

from shared import ids, topics
from shared.contract import ReminderDue, RunReminders, new_event
from shared.kafka import Outgoing, Publisher, Received
from shared.logs import get_logger

from services.reminder import domain
from services.reminder.store import ReminderStore, job_writes

SOURCE = "prospectflow/reminder"
log = get_logger("prospectflow.reminder")


class Reminders:
    def __init__(self, store: ReminderStore, publisher: Publisher) -> None:
        self.store = store
        self.publisher = publisher

    async def __call__(self, batch: list[Received]) -> None:
        await self._keep_state([r for r in batch if r.topic != topics.REMINDER_COMMANDS])
        for r in batch:
            if r.topic == topics.REMINDER_COMMANDS:
                run: RunReminders = r.data  # type: ignore[assignment]
                await self.evaluate(run.as_of, run.recruiter_id)

    async def _keep_state(self, events: list[Received]) -> None:
        jobs_ops, recruiter_ops, prospect_ops = [], [], []
        new_prospects = []
        batch_jobs: dict[str, dict[str, Any]] = {}  # jobs of this batch, not written yet
        for r in events:
            data: Any = r.data
            kind = r.event.type
            if kind in ("job.opened", "job.updated", "job.closed"):
                fields: dict[str, Any] = {"open": False} if kind == "job.closed" else {
                    "recruiter_id": data.recruiter.recruiter_id, "title": data.title}
                if kind == "job.opened":
                    fields["open"] = True
                batch_jobs.setdefault(data.job_id, {}).update(fields)
                job_op, join = job_writes(data.job_id, fields)
                jobs_ops.append(job_op)
                prospect_ops.append(join)
                if kind != "job.closed":
                    recruiter_ops.append(UpdateOne({"_id": data.recruiter.recruiter_id}, {"$set": {
                        "timezone": data.recruiter.timezone, "reminder_hour": data.recruiter.reminder_hour}}, upsert=True))
            elif kind in ("prospect.registered", "prospect.inquired_again"):
                new_prospects.append(data)
                prospect_ops.append(UpdateOne(
                    {"_id": data.prospect_id},
                    {"$set": {"job_id": data.job_id, "name": data.profile.name},
                     "$setOnInsert": {"flagged": False, "rating": "unrated"},
                     # $min, not $setOnInsert: a rating or flag event may have created the record first
                     "$min": {"waiting_since": data.inquiry.inquired_at}},
                    upsert=True))
            elif kind == "prospect.rated":
                prospect_ops.append(UpdateOne({"_id": data.prospect_id}, {"$set": {"rating": data.rating.value}}, upsert=True))
            elif kind == "prospect.follow_up_flag_changed":
                fields = {"flagged": data.flagged}
                if not data.flagged:
                    fields["waiting_since"] = r.time
                prospect_ops.append(UpdateOne({"_id": data.prospect_id}, {"$set": fields}, upsert=True))
        if new_prospects:  # join what is known of their jobs
            jobs = await self.store.job_docs(p.job_id for p in new_prospects)
            for job_id, fields in batch_jobs.items():
                jobs[job_id] = {**jobs.get(job_id, {}), **fields}
            for p in new_prospects:
                job = jobs.get(p.job_id)
                if job:
                    prospect_ops.append(UpdateOne({"_id": p.prospect_id}, {"$set": {
                        "recruiter_id": job.get("recruiter_id"), "job_open": job.get("open", True)}}))
        await self.store.write(jobs_ops, recruiter_ops, prospect_ops)

    async def evaluate(self, as_of: datetime, recruiter_id: str | None = None) -> int:
        """Send every reminder due at `as_of` that nobody has sent; return how many were sent."""
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
        todo = {rid: v for rid, v in due.items() if rid not in known}
        fresh = await self._build(todo, as_of) if todo else []
        mine = await self.store.claim(fresh)
        to_send = stale + mine
        if not to_send:
            return 0
        await self.publisher.publish([Outgoing(topics.REMINDERS, r["recruiter_id"], r["event"]) for r in to_send])
        await self.store.mark_published(r["_id"] for r in to_send)
        log.info("reminders sent", extra={"count": len(to_send), "as_of": as_of.isoformat()})
        return len(to_send)

    async def _build(self, todo: dict[str, tuple[domain.Schedule, Any]], as_of: datetime) -> list[dict[str, Any]]:
        by_recruiter: dict[str, domain.Pending] = defaultdict(domain.Pending)
        job_ids: set[str] = set()
        async for d in self.store.waiting([s.recruiter_id for s, _ in todo.values()]):
            if d.get("waiting_since") is None:
                continue
            job_ids.add(d["job_id"])
            by_recruiter[d["recruiter_id"]].add(domain.Waiting(
                d["_id"], d["job_id"], d.get("name", ""), d.get("rating", "unrated"),
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
