"""The reply decision: what one mail that came back comes to (the event, a suppression, a
reply to hand on, or kept aside with why), from the mail as classified and the messages its
address may name. Pure: no I/O, nothing it is given is changed."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.messaging import classify as kinds
from services.messaging.addresses import ReturnAddresses, Target
from shared import ids, topics
from shared.contract import (
    MessageAutoReplied, MessageBounced, MessageComplained, MessageReplied, ProspectOptedOut, new_event,
)
from shared.messages import Outgoing

SOURCE = "prospectflow/messaging/inbound"
RECEIVED, DONE, KEPT, FAILED = "received", "done", "kept", "failed"
EVENT_TYPES = {kinds.REPLY: "message.replied", kinds.AUTO_REPLY: "message.auto_replied",
               kinds.BOUNCE: "message.bounced", kinds.COMPLAINT: "message.complained"}
_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]{1,500}>)", re.IGNORECASE | re.MULTILINE)


def inbound_id(raw: bytes) -> str:
    """The stored mail's id: from its own `Message-ID` (the same mail delivered twice, to two of
    our addresses, or by SMTP and by webhook, is one), else from its bytes."""
    end = kinds.HEADER_END.search(raw, 0, 256 * 1024)
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
    kind, permanent, diagnostic = found.kind, found.permanent, found.diagnostic
    via_bounce = any(t.kind == "bounce" for t in targets(recipients, addresses))
    if via_bounce and kind == kinds.REPLY:
        # The bounce address gets bounces and automatic answers only; words there are a bounce
        # in a form we do not know: temporary, so nothing is suppressed on a guess.
        kind = kinds.BOUNCE
        permanent, diagnostic = False, kinds.one_line(found.text.split("\n", 1)[0], 1_000)
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
        data = MessageAutoReplied(**common, kind=found.auto_kind or "auto", text=found.text[:2_000] or None)
    elif kind == kinds.BOUNCE:
        data = MessageBounced(**common, permanent=permanent, status=found.status[:20], diagnostic=diagnostic[:1_000])
        if permanent:
            decided.bounced = {"_id": message["to"], "at": received_at, "status": found.status,
                               "diagnostic": diagnostic[:1_000], "message_id": message["_id"]}
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
