"""Intake's use case: load, decide, store, publish."""

from __future__ import annotations

from typing import Any

from shared import ids, topics
from shared.contract import InquiryReceived, JobClosed, JobOpened, ProspectRegistered, new_event
from shared.messages import Outgoing, Publishes, Received

from services.intake import domain
from services.intake.store import IntakeStore

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
        await self.store.mark_published(i.event_id for i in to_emit)

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
            },
        })
        event = new_event(
            event_id=ids.event_id(inquiry.event_id, kind), source=SOURCE, type=kind, data=data,
            correlationid=inquiry.event_id,
        )
        return Outgoing(topics.PROSPECTS, inquiry.prospect_id, event)
