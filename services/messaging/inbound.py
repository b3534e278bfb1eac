"""Inbound mail: what comes back to the addresses our mails carry (replies, automatic answers,
bounces, spam complaints), by SMTP (the listener in messaging's process) or by a mail
provider's inbound webhook, and the one event each becomes.

A mail is stored (collection `inbound`, id derived from its own `Message-ID`, else its bytes)
before the sender hears `250`, so an outage means the sender retries and nothing is lost, and
the same mail delivered twice is stored once. Stored mails are then processed in batches:
classified (`classify`), matched to the message they answer (the token in the address first,
else `In-Reply-To`/`References`), turned into their event (id derived from the stored mail, so
reprocessing after a crash publishes the same event, which consumers dedupe on), and marked
done. A mail that matches nothing of ours is kept aside with the reason (`prospectflow inbound
list`). A sweep reprocesses what a crash left stored but not done.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.message import Message
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from prometheus_client import Counter

from services.messaging import classify as kinds
from services.messaging.addresses import ReturnAddresses, Target
from services.messaging.mail import Mailer, SendFailure, header_safe
from services.messaging.store import MessagingStore
from shared import ids, topics
from shared.contract import (
    MessageAutoReplied, MessageBounced, MessageComplained, MessageReplied, ProspectOptedOut, new_event,
)
from shared.db import find_by_ids, insert_new, set_each
from shared.messages import Outgoing, Publishes
from shared.logs import get_logger

SOURCE = "prospectflow/messaging/inbound"
log = get_logger("prospectflow.messaging.inbound")
INBOUND = Counter("prospectflow_inbound_mails", "Inbound mails by how they came (smtp, webhook) and what they were "
                  "(reply, auto_reply, bounce, complaint, kept, duplicate, refused).", ["via", "kind"])
RECEIVED, DONE, KEPT, FAILED = "received", "done", "kept", "failed"
EVENT_TYPES = {kinds.REPLY: "message.replied", kinds.AUTO_REPLY: "message.auto_replied",
               kinds.BOUNCE: "message.bounced", kinds.COMPLAINT: "message.complained"}
HEADER_END = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]{1,500}>)", re.IGNORECASE | re.MULTILINE)


def inbound_id(raw: bytes) -> str:
    """The stored mail's id: from its own `Message-ID` (the same mail delivered twice, to two of
    our addresses, or by SMTP and by webhook, is one), else from its bytes."""
    end = HEADER_END.search(raw, 0, 256 * 1024)
    found = _MESSAGE_ID.search(raw, 0, end.start() if end else min(len(raw), 256 * 1024))
    if found:
        return ids.derive("inbound", found.group(1).decode("ascii", "replace"))
    return ids.derive("inbound-bytes", hashlib.sha256(raw).hexdigest())


@dataclass
class Decided:
    """What one stored mail comes to."""

    kind: str | None = None
    message_id: str | None = None
    prospect_id: str | None = None
    kept: str | None = None  # why it was kept aside (it matched nothing of ours)
    failed: str | None = None  # the error that kept it from being read
    events: list[Outgoing] = field(default_factory=list)
    bounced: dict[str, Any] | None = None  # an address to suppress: it bounced permanently
    complained: str | None = None  # an address to suppress: its owner called us spam
    forward: dict[str, Any] | None = None  # a reply to hand on to the recruiter


def targets(recipients: list[str], addresses: ReturnAddresses) -> list[Target]:
    return [t for t in (addresses.target(r) for r in recipients) if t is not None]


def candidates(recipients: list[str], addresses: ReturnAddresses) -> list[str]:
    """The messages a mail may answer: those its recipients' tokens name, and nothing else. The
    Message-IDs it quotes (`In-Reply-To`, `References`) are what anyone who saw one of our mails
    can write, so they never attribute a reply, a bounce (which suppresses an address) or a
    complaint (which opts a person out everywhere)."""
    return list(dict.fromkeys(t.message_id for t in targets(recipients, addresses)))


def decide(doc_id: str, found: kinds.Classified, recipients: list[str], received_at: datetime,
           addresses: ReturnAddresses, messages: dict[str, dict[str, Any]]) -> Decided:
    """The event a classified mail becomes, given the messages it may answer (read before)."""
    names = candidates(recipients, addresses)
    message = next((messages[i] for i in names if i in messages and messages[i].get("prospect_id")), None)
    if message is None:
        if not names:
            return Decided(kept="not sent to a reply+ or bounce+ address of ours with a valid token")
        if any(i in messages for i in names):
            return Decided(kept="an answer to a recruiter's digest, not to a prospect's message")
        return Decided(kept=f"names message {names[0]}, which messaging has no record of")
    kind = found.kind
    via_bounce = any(t.kind == "bounce" for t in targets(recipients, addresses))
    if via_bounce and kind == kinds.REPLY:
        # The bounce address gets bounces and automatic answers only; words there are a bounce
        # in a form we do not know: temporary, so nothing is suppressed on a guess.
        kind = kinds.BOUNCE
        found.permanent, found.diagnostic = False, kinds.one_line(found.text.split("\n", 1)[0], 1_000)
    common = {"message_id": message["_id"], "prospect_id": message["prospect_id"], "job_id": message["job_id"],
              "recruiter_id": message["recruiter_id"], "received_at": received_at}
    decided = Decided(kind=kind, message_id=message["_id"], prospect_id=message["prospect_id"])
    data: Any
    if kind == kinds.REPLY:
        data = MessageReplied.model_validate({**common, "from": found.sender or message["to"],
                                              "subject": found.subject, "text": found.text})
        recruiter = message.get("context", {}).get("recruiter") or {}
        if recruiter.get("email"):
            decided.forward = {"recruiter": recruiter, "from": found.sender or message["to"],
                               "from_name": message.get("to_name") or "", "subject": found.subject,
                               "text": found.text}
    elif kind == kinds.AUTO_REPLY:
        data = MessageAutoReplied(**common, kind=found.auto_kind or "auto")
    elif kind == kinds.BOUNCE:
        data = MessageBounced(**common, permanent=found.permanent, status=found.status[:20],
                              diagnostic=found.diagnostic[:1_000])
        if found.permanent:
            decided.bounced = {"_id": message["to"], "at": received_at, "status": found.status,
                               "diagnostic": found.diagnostic[:1_000], "message_id": message["_id"]}
    else:
        data = MessageComplained(**common)
        decided.complained = message["to"]
        opt_out = new_event(event_id=ids.event_id(doc_id, "prospect.opted_out"), source=SOURCE,
                            type="prospect.opted_out", data=ProspectOptedOut(email=message["to"], reason="complaint"),
                            correlationid=message["_id"])
        decided.events.append(Outgoing(topics.OPT_OUTS, message["to"], opt_out))
    event_type = EVENT_TYPES[kind]
    event = new_event(event_id=ids.event_id(doc_id, event_type), source=SOURCE, type=event_type, data=data,
                      correlationid=message.get("command_id"))
    decided.events.insert(0, Outgoing(topics.MESSAGES, message["prospect_id"], event))
    return decided


def forward_mail(doc_id: str, raw: bytes, forward: dict[str, Any], *, sender: str) -> Message:
    """The reply handed on to the recruiter: the prospect's text, `Reply-To` the prospect, and
    the whole mail attached as it came (nothing the prospect wrote is lost). Built with the
    `compat32` MIME classes: a third of the modern API's cost, on the path of every reply."""
    recruiter = forward["recruiter"]
    name = header_safe(forward["from_name"]) or forward["from"]
    mail = MIMEMultipart()
    mail["Subject"] = Header(header_safe(forward["subject"]) or "A reply to your message", "utf-8").encode()
    mail["From"] = formataddr((f"{name} via Prospectflow", sender), "utf-8")
    mail["To"] = formataddr((header_safe(recruiter.get("name") or ""), recruiter["email"]), "utf-8")
    # formataddr takes ASCII addresses only, and this mail goes to the recruiter without SMTPUTF8:
    # an internationalised address (`jörg@…`) is said in the text for the recruiter to write to.
    if forward["from"].isascii():
        mail["Reply-To"] = formataddr((name, forward["from"]), "utf-8")
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = f"<reply-{doc_id}@{sender.rpartition('@')[2] or 'prospectflow'}>"
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: nobody's auto-responder answers it
    answer = (f"Reply to this mail to answer {name} directly" if forward["from"].isascii()
              else f"Write to {forward['from']} to answer {name}")
    mail.attach(MIMEText(f"{name} <{forward['from']}> answered your message:\n\n{forward['text'] or '(no text)'}\n\n"
                         f"-- \n{answer}. The whole mail is attached.\n",
                         "plain", "utf-8"))
    original = MIMEMessage(kinds.parse(raw))
    original.add_header("Content-Disposition", "attachment", filename="reply.eml")
    mail.attach(original)
    return mail


def classify_each(raws: list[bytes]) -> list[kinds.Classified | Exception]:
    """Each mail classified, or the error that one mail raised (a charset that raises, a
    multipart nested past the recursion limit): one bad mail fails only itself."""
    found: list[kinds.Classified | Exception] = []
    for raw in raws:
        try:
            found.append(kinds.classify(raw))
        except Exception as exc:  # noqa: BLE001 - RecursionError, UnicodeError, LookupError, ...
            found.append(exc)
    return found


class GroupInsert:
    """Inserts of documents arriving at once (SMTP sessions in parallel) go to the database as
    one `insert_many`: each caller waits for its own document's answer (new, or there already),
    or the error, which is every caller's."""

    def __init__(self, collection: Any, most: int = 200) -> None:
        self.collection = collection
        self.most = most
        self._pending: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def insert(self, doc: dict[str, Any]) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((doc, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:self.most], self._pending[self.most:]
            try:
                clashed = await insert_new(self.collection, [doc for doc, _ in batch])
            except Exception as exc:  # noqa: BLE001 - each caller hears it (the sender retries)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for n, (_, future) in enumerate(batch):
                if not future.done():
                    future.set_result(n not in clashed)


class Inbound:
    """Stores inbound mail, processes it in batches, and sweeps up what a crash left."""

    def __init__(self, store: MessagingStore, publisher: Publishes, addresses: ReturnAddresses,
                 mailer: Mailer | None, *, sender: str, forward: bool = True, batch: int = 200,
                 sweep_after_s: float = 30.0) -> None:
        self.store = store
        self.publisher = publisher
        self.addresses = addresses
        self.mailer = mailer
        self.sender = sender
        self.forward = forward
        self.batch = batch
        self.sweep_after_s = sweep_after_s
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._forwards: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._stored = GroupInsert(store.inbound)

    async def accept(self, raw: bytes, recipients: list[str], via: str) -> tuple[str, bool]:
        """Store a mail durably; (its id, False if it was stored before). Raises when it cannot
        be stored: the caller tells the sender to retry."""
        now = datetime.now(timezone.utc)
        # milliseconds, as the database keeps it: processed from memory or read back, the same event
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        doc: dict[str, Any] = {"_id": inbound_id(raw), "raw": raw, "size": len(raw), "recipients": recipients[:20],
                               "via": via, "received_at": now, "state": RECEIVED}
        if not await self._stored.insert(doc):
            INBOUND.labels(via, "duplicate").inc()
            return str(doc["_id"]), False
        self._queue.put_nowait(doc)
        return str(doc["_id"]), True

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work()), asyncio.create_task(self._forwarding()),
                       asyncio.create_task(self._sweep())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            docs = [await self._queue.get()]
            while not self._queue.empty() and len(docs) < self.batch:
                docs.append(self._queue.get_nowait())
            try:
                await self.process(docs)
            except Exception:  # noqa: BLE001 - they stay stored; the sweep processes them again
                log.exception("inbound mails not processed yet; the sweep retries them",
                              extra={"count": len(docs)})

    async def _sweep(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - the next sweep tries again
                log.exception("inbound sweep failed")
            await asyncio.sleep(self.sweep_after_s)

    async def sweep(self, older_than_s: float | None = None) -> int:
        """Process what was stored but not done (a crash, an outage) a while ago."""
        before = datetime.now(timezone.utc) - timedelta(seconds=self.sweep_after_s if older_than_s is None
                                                         else older_than_s)
        cursor = self.store.inbound.find({"state": RECEIVED, "received_at": {"$lt": before}}).sort(
            "received_at", 1).limit(self.batch * 5)
        docs = [d async for d in cursor]
        for start in range(0, len(docs), self.batch):
            try:
                await self.process(docs[start:start + self.batch])
            except Exception:  # noqa: BLE001 - the database or Kafka: this batch waits, the next ones go on
                log.exception("inbound mails not processed yet; the next sweep retries them")
        unforwarded = self.store.inbound.find({"state": DONE, "to_forward": True, "processed_at": {"$lt": before}})
        for d in await unforwarded.limit(self.batch * 5).to_list():
            self._forwards.put_nowait(d)
        return len(docs)

    async def process(self, docs: list[dict[str, Any]]) -> None:
        # Parsing is CPU on what strangers wrote: off the event loop, so sending, Kafka, HTTP and
        # the listener go on meanwhile; a mail that cannot be read fails alone, with its error.
        found = await asyncio.to_thread(classify_each, [bytes(d["raw"]) for d in docs])
        wanted = {i for d in docs for i in candidates(d.get("recipients", []), self.addresses)}
        messages = {m["_id"]: m for m in await find_by_ids(self.store.messages, list(wanted))}
        decided = {}
        for d, classified in zip(docs, found):
            try:
                if isinstance(classified, Exception):
                    raise classified
                decided[d["_id"]] = decide(d["_id"], classified, d.get("recipients", []), d["received_at"],
                                           self.addresses, messages)
            except Exception as exc:  # noqa: BLE001 - this mail only: kept with its error, nothing behind it waits
                decided[d["_id"]] = Decided(failed=f"{type(exc).__name__}: {exc}"[:500])
        outcomes = list(decided.values())
        # Suppressions first: once the event is out, the next send must already see them.
        bounced = [o.bounced for o in outcomes if o.bounced]
        if bounced:
            await insert_new(self.store.bounced, list({b["_id"]: b for b in bounced}.values()))
        complained = {o.complained: {"reason": "complaint", "at": datetime.now(timezone.utc)}
                      for o in outcomes if o.complained}
        if complained:
            await self.store.suppress(complained)
        await self.publisher.publish([e for o in outcomes for e in o.events])
        now = datetime.now(timezone.utc)
        updates = []
        for d in docs:
            o = decided[d["_id"]]
            fields: dict[str, Any] = {"kind": o.kind, "message_id": o.message_id, "prospect_id": o.prospect_id,
                                      "processed_at": now}
            if o.failed:
                fields.update(state=FAILED, reason=o.failed)
                log.warning("an inbound mail could not be read; kept with its error",
                            extra={"inbound_id": d["_id"], "fault": o.failed})
            elif o.kept:
                fields.update(state=KEPT, reason=o.kept)
                log.warning("inbound mail kept aside", extra={"inbound_id": d["_id"], "reason": o.kept})
            else:
                fields.update(state=DONE, done_at=now)
                if o.forward and self.forward:
                    # handed on apart from this path: the flag need not wait for an SMTP transaction
                    fields.update(to_forward=True, forward=o.forward)
            INBOUND.labels(d.get("via", "smtp"), "failed" if o.failed else "kept" if o.kept else str(o.kind)).inc()
            updates.append(({"_id": d["_id"]}, fields))
        await set_each(self.store.inbound, updates)
        for d, (_, fields) in zip(docs, updates):
            if fields.get("to_forward"):
                self._forwards.put_nowait({**d, **fields})

    async def _forwarding(self) -> None:
        while True:
            docs = [await self._forwards.get()]
            while not self._forwards.empty() and len(docs) < 50:
                docs.append(self._forwards.get_nowait())
            try:
                ended = await self._hand_on(docs)
                await set_each(self.store.inbound, [({"_id": i}, fields) for i, fields in ended.items()])
            except Exception:  # noqa: BLE001 - still to_forward: the sweep hands them on
                log.exception("replies not handed on yet; the sweep retries them", extra={"count": len(docs)})

    async def _hand_on(self, docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Each reply handed on, on its own: {id: the fields that end it} for those forwarded or
        that never can be; one that failed for now is left to the sweep, whatever its neighbours do."""
        if not docs or self.mailer is None:
            return {}
        mailer = self.mailer

        async def one(d: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
            try:
                mail = await asyncio.to_thread(forward_mail, d["_id"], bytes(d["raw"]), d["forward"],
                                               sender=self.sender)
                async with mailer.slot():
                    await mailer.send(mail)
                return str(d["_id"]), {"to_forward": False, "forwarded_at": datetime.now(timezone.utc)}
            except SendFailure as failure:
                log.warning("a reply was not handed on to the recruiter yet", extra={"inbound_id": d["_id"],
                                                                                    "fault": failure.reason[:200]})
                if not failure.permanent:
                    return str(d["_id"]), None
                reason = failure.reason[:500]
            except Exception as exc:  # noqa: BLE001 - this reply can never be handed on: said once, not retried
                log.warning("a reply cannot be handed on to the recruiter", exc_info=True,
                            extra={"inbound_id": d["_id"]})
                reason = f"{type(exc).__name__}: {exc}"[:500]
            return str(d["_id"]), {"to_forward": False, "forward_failed": reason}

        ended = await asyncio.gather(*(one(d) for d in docs))
        return {i: fields for i, fields in ended if fields is not None}


# --- the SMTP listener ----------------------------------------------------------------------------


class InboundHandler:
    """aiosmtpd's handler: recipients must be our reply or bounce addresses (never a relay);
    `250` only once the mail is stored."""

    def __init__(self, inbound: Inbound, max_recipients: int = 20) -> None:
        self.inbound = inbound
        self.max_recipients = max_recipients

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if not self.inbound.addresses.is_ours(address):
            INBOUND.labels("smtp", "refused").inc()
            return "550 5.1.1 No such address here (this server takes replies to its own mail only)"
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        raw = raw if isinstance(raw, bytes) else raw.encode()
        try:
            _, new = await self.inbound.accept(raw, [str(r) for r in envelope.rcpt_tos], "smtp")
        except Exception as exc:  # noqa: BLE001 - not stored: the sender keeps it and retries
            log.warning("inbound mail not stored; the sender is told to retry", extra={"fault": str(exc)[:200]})
            return "451 4.3.0 Cannot store the message right now, try again later"
        return "250 2.0.0 Stored" if new else "250 2.0.0 Already stored"


class _Listener(SMTP):
    """One SMTP session; past `limit` sessions at once, a new one is told to come back later."""

    active = 0
    limit = 100

    def connection_made(self, transport: Any) -> None:
        if type(self).active >= type(self).limit:
            transport.write(b"421 4.3.2 Too many connections, try again later\r\n")
            transport.close()
            self._refused = True
            return
        self._refused = False
        type(self).active += 1
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if not getattr(self, "_refused", True):
            type(self).active -= 1
            super().connection_lost(error)


async def start_listener(inbound: Inbound, *, host: str, port: int, max_bytes: int,
                         max_connections: int) -> asyncio.Server:
    handler = InboundHandler(inbound)
    listener = type("Listener", (_Listener,), {"active": 0, "limit": max_connections})
    loop = asyncio.get_running_loop()
    try:
        server = await loop.create_server(
            lambda: listener(handler, data_size_limit=max_bytes, hostname=inbound.addresses.domain,
                             ident="Prospectflow inbound", timeout=60),
            host=host, port=port)
    except OSError as exc:
        raise OSError(f"the inbound SMTP listener cannot listen on {host}:{port} ({exc.strerror}): set "
                      "MESSAGING_INBOUND_SMTP_HOST / MESSAGING_INBOUND_SMTP_PORT") from None
    log.info("inbound SMTP listening", extra={"host": host, "port": port, "domain": inbound.addresses.domain})
    return server


# --- a mail provider's inbound webhook --------------------------------------------------------------


class WebhookRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _header_recipients(raw: bytes) -> list[str]:
    from email.utils import getaddresses

    end = HEADER_END.search(raw)
    headers = kinds.parse((raw[:end.start()] if end else raw) + b"\n\n")
    values = [str(v) for name in ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Cc")
              for v in (headers.get_all(name) or [])]
    return [addr for _, addr in getaddresses(values) if addr]


def check_webhook_auth(secret: str, authorization: str | None, fields: dict[str, str]) -> bool:
    """A bearer token, a basic-auth password (how Postmark and SES forwarders are set up), or a
    Mailgun signature (`timestamp`, `token`, `signature`: HMAC-SHA256 of timestamp + token)."""
    import base64
    import hmac as _hmac

    given = authorization or ""
    if given.lower().startswith("bearer "):
        return _hmac.compare_digest(given[7:].strip().encode(), secret.encode())
    if given.lower().startswith("basic "):
        try:
            password = base64.b64decode(given[6:].strip()).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return False
        return _hmac.compare_digest(password.encode(), secret.encode())
    if all(fields.get(k) for k in ("timestamp", "token", "signature")):
        expected = _hmac.new(secret.encode(), (fields["timestamp"] + fields["token"]).encode(), hashlib.sha256)
        try:
            fresh = abs(datetime.now(timezone.utc).timestamp() - float(fields["timestamp"])) < 300
        except ValueError:
            return False
        return fresh and _hmac.compare_digest(expected.hexdigest().encode(), fields["signature"].encode())
    return False


def webhook_mail(content_type: str, body: bytes, fields: dict[str, str], recipient: str | None) -> tuple[bytes, list[str]]:
    """The raw mail and its recipients from a provider's inbound webhook: the raw message as the
    body (`message/rfc822`), Mailgun's MIME route (`body-mime`), Postmark's JSON (`RawEmail`),
    or Amazon SES's notification (`content`, also inside an SNS envelope)."""
    import base64
    import json

    kind = content_type.split(";", 1)[0].strip().lower()
    recipients = [recipient] if recipient else []
    if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raw = fields.get("body-mime", "").encode()
        recipients += [r.strip() for r in fields.get("recipient", "").split(",") if r.strip()]
        if not raw:
            raise WebhookRefused(422, "no `body-mime` field: configure the route to deliver the raw MIME message")
    elif kind == "application/json":
        try:
            payload = json.loads(body)
            if isinstance(payload, dict) and payload.get("Type") == "Notification":  # SNS
                payload = json.loads(payload.get("Message") or "{}")
        except ValueError:
            raise WebhookRefused(422, "the body is not JSON") from None
        if not isinstance(payload, dict):
            raise WebhookRefused(422, "the JSON body is not an object")
        if payload.get("RawEmail"):
            raw = str(payload["RawEmail"]).encode()
            if payload.get("OriginalRecipient"):
                recipients.append(str(payload["OriginalRecipient"]))
        elif payload.get("content"):
            encoding = str((payload.get("receipt") or {}).get("action", {}).get("encoding") or payload.get("encoding")
                           or "").upper()
            content = str(payload["content"])
            raw = base64.b64decode(content) if encoding == "BASE64" else content.encode()
            recipients += [str(r) for r in (payload.get("receipt") or {}).get("recipients", [])]
        else:
            raise WebhookRefused(422, "no raw message in the JSON (`RawEmail` or `content`)")
    else:
        raw = body
    if not raw.strip():
        raise WebhookRefused(422, "the mail is empty")
    return raw, recipients or _header_recipients(raw)
