"""Messaging's use cases: keep contacts, jobs and opt-outs; answer `messages.send`; deliver."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError

from shared import ids, topics
from shared.contract import (
    InquiryReceived, MessageFailed, MessageSent, ProspectOptedOut, RejectionReason, ReminderDue, SendMessages, new_event,
)
from shared.messages import Outgoing, Publishes, Received
from shared.refusals import Refused
from shared.logs import get_logger
from shared.logs import OUTAGES
from shared.telemetry import RETRIES
from prometheus_client import Counter

from services.messaging import domain
from services.messaging.addresses import ReturnAddresses
from services.messaging.mail import Mailer, SendFailure, build
from services.messaging.rendering import DIGEST, DIGEST_SAMPLE, Templates
from services.messaging.store import UNSENT, MessagingStore
from services.messaging.unsubscribe import UnsubscribeLinks

SOURCE = "prospectflow/messaging"
UNSUBSCRIBE_SOURCE = "prospectflow/messaging/unsubscribe"
REFER_SOURCE = "prospectflow/messaging/refer"
CHUNK = 50  # messages marked `sending` together: the most a crash can send twice
log = get_logger("prospectflow.messaging")
MAILS = Counter("prospectflow_mails", "Mails by template and result: sent, failed_permanent, failed_temporary "
                "(failed after the last attempt on a temporary error).", ["template", "result"])


def custom_id(template: str) -> str | None:
    """The id of a recruiter's own template a command names (`custom:<id>`), else None."""
    return template[7:] if template.startswith("custom:") else None


async def send_lookups(store: MessagingStore, prospect_ids: set[str] | list[str]) -> tuple[
        dict[str, dict[str, Any]], dict[str, dict[str, Any]], set[str], set[str]]:
    """What deciding a send needs of these prospects: contacts, their jobs, and which of their
    addresses are suppressed or bounced (a send and its preview read the same)."""
    contacts = await store.by_ids("contacts", prospect_ids)
    jobs = await store.by_ids("jobs", {c["job_id"] for c in contacts.values()})
    emails = {c["email"] for c in contacts.values()}
    suppressed = await store.listed("suppressions", emails)
    bounced = await store.listed("bounced", emails)
    return contacts, jobs, suppressed, bounced


class Messaging:
    def __init__(self, store: MessagingStore, publisher: Publishes, templates: Templates, mailer: Mailer, *,
                 sender: str, max_attempts: int, max_backoff_s: float, daily_digest: bool = True,
                 links: UnsubscribeLinks | None = None, addresses: ReturnAddresses | None = None) -> None:
        self.store = store
        self.publisher = publisher
        self.templates = templates
        self.mailer = mailer
        self.sender = sender
        self.max_attempts = max_attempts
        self.max_backoff_s = max_backoff_s
        self.daily_digest = daily_digest
        self.links = links
        self.addresses = addresses  # reply and bounce addresses, when answers come back to us

    async def __call__(self, batch: list[Received]) -> None:
        await self._keep_state([r for r in batch if r.topic not in (topics.MESSAGING_COMMANDS, topics.REMINDERS)])
        await self._digests([r.of(ReminderDue) for r in batch if r.topic == topics.REMINDERS])
        commands: dict[str, Received[SendMessages]] = {}
        for r in batch:
            if r.topic == topics.MESSAGING_COMMANDS:
                commands.setdefault(r.event.id, r.of(SendMessages))
        if not commands:
            return
        done, pending = await self.store.outbox.state(list(commands))
        fresh = [r for i, r in commands.items() if i not in done and i not in pending]
        outcomes, messages = await self._decide(fresh)
        clashed = await self.store.record(outcomes, messages)
        replay = [pending[i] for i in commands if i in pending] + outcomes
        await self.publisher.publish([Outgoing(e["topic"], e["key"], e["event"]) for o in replay for e in o["events"]])
        await self.store.outbox.mark_published(o["_id"] for o in replay)
        await self.deliver(await self._open(messages, clashed, [i for i in commands if i in done or i in pending]))

    async def _open(self, new: list[dict[str, Any]], clashed: set[str], seen_commands: list[str]) -> list[dict[str, Any]]:
        """What to deliver: the messages just queued, as they are in memory, and, read back, those
        of commands seen before (a redelivery after a crash) or already queued by one."""
        again = set(seen_commands) | {m["command_id"] for m in new if m["_id"] in clashed}
        stored = await self.store.open_messages(again) if again else []
        return stored + [m for m in new if m["command_id"] not in again]

    # --- state ---------------------------------------------------------------------------

    async def _keep_state(self, events: list[Received]) -> None:
        changes = domain.state_changes(events)
        if changes.jobs:
            await self.store.save_jobs(changes.jobs)
        if changes.recruiters:
            await self.store.save_recruiters(changes.recruiters)
        if changes.contacts:
            await self.store.save_contacts(changes.contacts)
        if changes.suppressed:
            await self.store.suppress(changes.suppressed)

    # --- the daily digest ----------------------------------------------------------------

    async def _digests(self, reminders: list[Received[ReminderDue]]) -> None:
        """One digest mail per reminder (`message_id` derived from the reminder id), with the
        same never-twice delivery as any message; it reports no `message.*` event, since it
        concerns no prospect."""
        if not reminders or not self.daily_digest:
            return
        recruiters = await self.store.by_ids("recruiters", {r.data.recruiter_id for r in reminders})
        messages = []
        for r in reminders:
            reminder = r.data
            recruiter = recruiters.get(reminder.recruiter_id)
            if recruiter is None:
                log.warning("no address for a recruiter's digest", extra={"recruiter_id": reminder.recruiter_id})
                continue
            messages.append({
                "_id": ids.derive("digest", reminder.reminder_id), "command_id": reminder.reminder_id, "kind": "digest",
                "template": DIGEST, "to": recruiter["email"], "to_name": recruiter["name"], "state": "queued", "attempts": 0,
                "context": {"recruiter": recruiter, "note": None, "job": dict(DIGEST_SAMPLE["job"]),
                            "reminder": reminder.model_dump(mode="json")},
            })
        clashed = await self.store.record([], messages)
        await self.deliver(await self._open(messages, clashed, []))

    # --- commands ------------------------------------------------------------------------

    async def _decide(self, fresh: list[Received[SendMessages]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        if not fresh:
            return [], []
        contacts, jobs, suppressed, bounced = await send_lookups(self.store, {pid for r in fresh for pid in r.data.prospect_ids})
        customs = await self.store.by_ids("templates", {i for r in fresh if (i := custom_id(r.data.template))})
        outcomes, messages = [], []
        for r in fresh:
            send_id = r.event.correlationid or r.event.id
            wanted = custom_id(r.data.template)
            custom = customs.get(wanted) if wanted else None
            queued: list[dict[str, Any]] = []
            if wanted and (custom is None or custom["recruiter_id"] != r.data.recruiter_id):
                result = domain.refuse_all(r.event.id, r.data, RejectionReason.UNKNOWN_TEMPLATE)
            else:
                result, queued = domain.decide_send(r.event.id, r.data, contacts, jobs, suppressed,
                                                    send_id=send_id, at=r.time, bounced=bounced, custom=custom)
            for m in queued:
                if m["template"] == "follow_up" and m.get("sequence"):
                    first = await self.store.first_of_sequence(m["sequence"]["enrollment_id"])
                    if first is not None:  # answers it: `Re:` its subject, in its thread
                        m["context"]["thread"] = {"subject": first["subject"], "message_id": first["_id"]}
            messages += queued
            event = new_event(event_id=ids.event_id(r.event.id, "command.completed"), source=SOURCE,
                              type="command.completed", data=result, correlationid=r.event.id)
            outcomes.append({"_id": r.event.id, "send_id": send_id, "recruiter_id": result.recruiter_id,
                             "template": r.data.template,
                             "accepted": len(result.accepted), "rejected": [x.model_dump(mode="json") for x in result.rejected],
                             "events": [{"topic": topics.COMMAND_RESULTS, "key": result.recruiter_id, "event": event}]})
        return outcomes, messages

    # --- delivery ------------------------------------------------------------------------

    async def deliver(self, messages: list[dict[str, Any]]) -> None:
        """Send what is unsent, in chunks; report what is sent or failed."""
        finished = [m for m in messages if m["state"] not in UNSENT]
        await self._report(finished)
        unsent = [m for m in messages if m["state"] in UNSENT]
        finishing: asyncio.Task[None] | None = None
        try:
            for start in range(0, len(unsent), CHUNK):
                chunk = unsent[start:start + CHUNK]
                results = await asyncio.gather(*(self._send(m) for m in chunk))
                for m, fields in zip(chunk, results):
                    result = ("sent" if fields["state"] == "sent"
                              else "failed_permanent" if fields.get("permanent") else "failed_temporary")
                    MAILS.labels(m["template"], result).inc()
                # Results are recorded before the next chunk goes out, so a crash resends at most
                # one chunk; reporting them (publish, mark) overlaps with sending the next one.
                await self.store.record_results({m["_id"]: fields for m, fields in zip(chunk, results)})
                if finishing is not None:
                    await finishing
                finishing = asyncio.create_task(self._report([{**m, **fields} for m, fields in zip(chunk, results)]))
            if finishing is not None:
                await finishing
        finally:
            if finishing is not None and not finishing.done():
                finishing.cancel()

    async def _report(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        await self.publisher.publish([self._event(m) for m in messages if m.get("kind") != "digest"])
        await self.store.mark_reported(m["_id"] for m in messages)

    async def _send(self, message: dict[str, Any]) -> dict[str, Any]:
        recruiter = message["context"]["recruiter"]
        rendered = email = None
        attempts = message["attempts"] + 1
        backoff = 0.2
        to_prospect = message.get("kind") != "digest"
        returns = self.addresses if to_prospect else None  # the digest goes to the recruiter
        while True:
            try:
                # Render only once a connection is free: rendering is this process's CPU and
                # sending mostly the server's time, so both stay busy instead of a whole chunk
                # being rendered before its first mail goes out.
                async with self.mailer.slot():
                    if email is None:
                        # Prospects' mails carry an unsubscribe link; the recruiter's digest does not.
                        unsubscribe = (self.links.url(message["to"])
                                       if self.links is not None and to_prospect else None)
                        refer = (self.links.refer_url(message["_id"])
                                 if self.links is not None and to_prospect else None)
                        context = {**message["context"], "unsubscribe_url": unsubscribe, "refer_url": refer}
                        rendered = self.templates.render_custom(message["custom"]["subject"], message["custom"]["text"],
                                                                context) if message.get("custom") \
                            else self.templates.render(message["template"], context)
                        email = build(rendered, sender=self.sender, recruiter_name=recruiter["name"],
                                      recruiter_email=recruiter["email"], to_name=message["to_name"],
                                      to=message["to"], message_id=message["_id"], unsubscribe_url=unsubscribe,
                                      reply_to=returns.reply_to(message["_id"]) if returns else None,
                                      in_reply_to=(message["context"].get("thread") or {}).get("message_id"))
                    await self.mailer.send(email, returns.bounce(message["_id"]) if returns else None)
                OUTAGES.up("smtp")
                assert rendered is not None
                return {"state": "sent", "subject": rendered.subject, "sent_at": datetime.now(timezone.utc),
                        "attempts": attempts}
            except Exception as exc:  # noqa: BLE001 - anything else decides this message only, for good
                if isinstance(exc, SendFailure):
                    failure = exc
                else:
                    log.warning("a message cannot be built or sent", exc_info=True, extra={"message_id": message["_id"]})
                    failure = SendFailure(f"cannot be sent: {type(exc).__name__}: {exc}"[:500], permanent=True)
                if failure.permanent or (not failure.connection and attempts >= self.max_attempts):
                    return {"state": "failed", "reason": failure.reason, "permanent": failure.permanent,
                            "attempts": attempts}
                RETRIES.labels("smtp").inc()
                if failure.connection:  # the server is away: said once for all messages (OUTAGES)
                    OUTAGES.down("smtp", failure.reason, "send mail")
                else:
                    log.warning("sending failed, retrying", extra={"message_id": message["_id"], "attempt": attempts,
                                                                 "fault": failure.reason[:200]})
                if not failure.connection:
                    attempts += 1  # an outage is not the message's fault: it does not count
                await asyncio.sleep(min(self.max_backoff_s, backoff) * random.uniform(0.5, 1.0))
                backoff *= 2

    @staticmethod
    def _event(m: dict[str, Any]) -> Outgoing:
        common = {k: m[k] for k in ("command_id", "prospect_id", "job_id", "recruiter_id", "template")}
        common["sequence"] = m.get("sequence")  # a sequence's step says which
        if m["state"] == "sent":
            data: Any = MessageSent(message_id=m["_id"], to=m["to"], subject=m["subject"], sent_at=m["sent_at"], **common)
            kind = "message.sent"
        else:
            data = MessageFailed(message_id=m["_id"], reason=m["reason"], attempts=m["attempts"],
                                 permanent=m["permanent"], **common)
            kind = "message.failed"
        event = new_event(event_id=ids.event_id(m["_id"], kind), source=SOURCE, type=kind, data=data,
                          correlationid=m["command_id"])
        return Outgoing(topics.MESSAGES, m["prospect_id"], event)


# --- the HTTP side's use cases ---------------------------------------------------------------------


class Previews:
    """What recruiter apps ask before and after a send: what `messages.send` would do with some
    ids, and where a send stands."""

    def __init__(self, store: MessagingStore, templates: Templates, links: UnsubscribeLinks) -> None:
        self.store = store
        self.templates = templates
        self.links = links

    async def preview(self, recruiter_id: str, template: str, prospect_ids: list[str],
                      note: str | None) -> dict[str, Any]:
        """Recipients, skips with the reasons a send would give, and the first recipient's mail."""
        wanted = list(dict.fromkeys(prospect_ids))
        custom = await self.store.template(custom_id(template) or "", recruiter_id) if custom_id(template) else None
        if custom_id(template) and custom is None:
            return {"recipients": [], "mail": None, "skipped": [
                {"prospect_id": pid, "name": None, "reason": RejectionReason.UNKNOWN_TEMPLATE.value} for pid in wanted]}
        contacts, jobs, suppressed, bounced = await send_lookups(self.store, wanted)
        recipients, skipped = [], []
        for pid in wanted:
            contact = contacts.get(pid)
            job = jobs.get(contact["job_id"]) if contact else None
            reason = domain.check(contact, job, recruiter_id, template,
                                  suppressed=bool(contact and contact["email"] in suppressed),
                                  bounced=bool(contact and contact["email"] in bounced))
            if reason is None:
                assert contact is not None
                recipients.append({"prospect_id": pid, "name": contact["name"], "email": contact["email"]})
            else:
                # Another recruiter's prospect stays anonymous: its name is not theirs to see.
                known = contact is not None and reason not in ("forbidden", "unknown_prospect")
                skipped.append({"prospect_id": pid, "name": contact["name"] if known and contact else None,
                                "reason": reason.value})
        mail = None
        if recipients:
            first = recipients[0]
            contact = contacts[first["prospect_id"]]
            context = {**domain.context(contact, jobs[contact["job_id"]], note),
                       "unsubscribe_url": self.links.url(contact["email"]),
                       "refer_url": self.links.refer_url(ids.derive("preview", first["prospect_id"]))}
            rendered = self.templates.render_custom(custom["subject"], custom["text"], context) if custom \
                else self.templates.render(template, context)
            mail = {"to": first["email"], "to_name": first["name"], "subject": rendered.subject,
                    "text": rendered.text, "html": rendered.html}
        return {"recipients": recipients, "skipped": skipped, "mail": mail}

    async def progress(self, recruiter_id: str, send_id: str) -> dict[str, Any] | None:
        """A send's progress, its skipped prospects named where they are the recruiter's."""
        progress = await self.store.send_progress(recruiter_id, send_id)
        if progress is None:
            return None
        named = [s["prospect_id"] for s in progress["skipped"][:100] if s["reason"] not in ("forbidden", "unknown_prospect")]
        contacts = await self.store.by_ids("contacts", named)
        for s in progress["skipped"]:
            if s["prospect_id"] in contacts:
                s["name"] = contacts[s["prospect_id"]]["name"]
        return progress

    async def recent(self, recruiter_id: str) -> list[dict[str, Any]]:
        """The recruiter's sends of the last 24 hours, newest first (at most 5)."""
        return await self.store.recent_sends(recruiter_id, datetime.now(timezone.utc) - timedelta(hours=24))


class Unsubscribes:
    """The one-click unsubscribe every mail links to."""

    def __init__(self, store: MessagingStore, links: UnsubscribeLinks, publisher: Publishes) -> None:
        self.store = store
        self.links = links
        self.publisher = publisher

    def email(self, token: str) -> str | None:
        """The address a link we sent names (None: not a link of ours)."""
        return self.links.email(token)

    async def unsubscribe(self, email: str) -> None:
        """Suppressed here at once (our own database), and told to everyone on `opt-outs`; the
        event's id is derived from the address, so clicking twice is one event."""
        await self.store.suppress({email: {"reason": "unsubscribe link", "at": datetime.now(timezone.utc)}})
        event = new_event(event_id=ids.derive("unsubscribe", email), source=UNSUBSCRIBE_SOURCE,
                          type="prospect.opted_out", data=ProspectOptedOut(email=email, reason="unsubscribe link"))
        await self.publisher.publish([Outgoing(topics.OPT_OUTS, email, event)])


class Referrals:
    """The referral page a not-a-match mail links to (`/refer/{token}`): the person we wrote to
    names someone for the same job, who becomes a prospect there (`inquiry.received`, board
    `referral`, `referred_by` them), never mailed until the recruiter decides. A mail's link takes
    at most `most` people; the same person twice is one."""

    def __init__(self, store: MessagingStore, links: UnsubscribeLinks, publisher: Publishes, most: int = 5) -> None:
        self.store = store
        self.links = links
        self.publisher = publisher
        self.most = most

    async def mail(self, token: str) -> dict[str, Any]:
        """The mail a link was sent in, with its job, or Refused(404) (not a link of ours) /
        Refused(410) (the job is closed)."""
        message_id = self.links.message_id(token)
        message = await self.store.message(message_id) if message_id else None
        if message is None:
            raise Refused(404, "This link is not valid. It may have been cut off: copy the whole link from the e-mail.")
        job = (await self.store.by_ids("jobs", [message["job_id"]])).get(message["job_id"], {})
        if job.get("open") is False:
            raise Refused(410, f"The {message['context']['job']['title']} position is closed, so it takes no referrals.")
        return message

    async def refer(self, token: str, name: str, email: str, note: str | None) -> dict[str, Any]:
        """Refer someone: the inquiry as published (its `prospect`), or Refused: the link (404,
        410), what was typed (422, what is wrong), or all `most` referrals taken (429)."""
        message = await self.mail(token)
        referrer = message["context"]["prospect"]
        job_id = message["job_id"]
        try:
            data = InquiryReceived.model_validate({
                "job_id": job_id, "board": "referral", "prospect": {"name": name, "email": email},
                "message": note or None, "inquired_at": datetime.now(timezone.utc),
                "referred_by": {"person_id": ids.person_id(message["to"]), "prospect_id": message["prospect_id"],
                                "name": referrer.get("name")}})
        except ValidationError as exc:
            wrong = exc.errors()[0]
            where = {"prospect.name": "the name", "prospect.email": "the e-mail address", "message": "the note"}.get(
                ".".join(str(x) for x in wrong["loc"]), "the form")
            raise Refused(422, f"Please check {where}: {wrong['msg']}.") from None
        referral_id = ids.derive("referral", message["_id"], data.prospect.email)
        if await self.store.referral(referral_id) is None:
            if not await self.store.count_referral(message["_id"], self.most):
                raise Refused(429, f"This link has passed on {self.most} people already, which is all it takes. "
                                   "Thank you!")
            data = data.model_copy(update={"board_inquiry_id": referral_id})
            event = new_event(event_id=ids.derive("referral-inquiry", referral_id), source=REFER_SOURCE,
                              type="inquiry.received", data=data)
            await self.publisher.publish([Outgoing(topics.INQUIRIES, data.prospect.email, event)])
            await self.store.note_referral({"_id": referral_id, "message_id": message["_id"], "job_id": job_id,
                                            "at": datetime.now(timezone.utc)})
        return {"name": data.prospect.name, "job": message["context"]["job"],
                "recruiter": message["context"].get("recruiter") or {}}


class TemplateRefused(Refused):
    """A recruiter's template that cannot be saved, or is not theirs: `status` and why."""


class CustomTemplates:
    """A recruiter's own templates: subject and text, Jinja2 in the built-ins' sandbox with the
    same variables; one that does not render, or names a variable that does not exist, is
    refused when saved, with the line. `messages.send` takes them as `custom:<template_id>`."""

    MOST = 100

    def __init__(self, store: MessagingStore, templates: Templates) -> None:
        self.store = store
        self.templates = templates

    def _check(self, subject: str, text: str) -> None:
        problem = self.templates.custom_problem(subject, text)
        if problem is not None:
            raise TemplateRefused(422, f"the template does not render: {problem}")

    async def create(self, recruiter_id: str, name: str, subject: str, text: str) -> dict[str, Any]:
        self._check(subject, text)
        if len(await self.store.templates_of(recruiter_id)) >= self.MOST:
            raise TemplateRefused(409, f"at most {self.MOST} templates per recruiter: delete one first")
        now = datetime.now(timezone.utc)
        doc = {"_id": ids.derive("template", recruiter_id, name, now.isoformat()), "recruiter_id": recruiter_id,
               "name": name, "subject": subject, "text": text, "created_at": now, "updated_at": now}
        await self.store.add_template(doc)
        return doc

    async def listed(self, recruiter_id: str) -> list[dict[str, Any]]:
        return await self.store.templates_of(recruiter_id)

    async def own(self, recruiter_id: str, template_id: str) -> dict[str, Any]:
        doc = await self.store.template(template_id, recruiter_id)
        if doc is None:
            raise TemplateRefused(404, "no such template among yours")
        return doc

    async def update(self, recruiter_id: str, template_id: str, name: str, subject: str, text: str) -> dict[str, Any]:
        self._check(subject, text)
        fields = {"name": name, "subject": subject, "text": text, "updated_at": datetime.now(timezone.utc)}
        if not await self.store.update_template(template_id, recruiter_id, fields):
            raise TemplateRefused(404, "no such template among yours")
        return await self.own(recruiter_id, template_id)

    async def delete(self, recruiter_id: str, template_id: str) -> None:
        if not await self.store.delete_template(template_id, recruiter_id):
            raise TemplateRefused(404, "no such template among yours")
