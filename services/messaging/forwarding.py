"""Handing a prospect's reply on to the recruiter: the mail built (`forward_mail`) and sent, each
reply on its own (`hand_on`)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from email.header import Header
from email.message import Message
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate
from typing import Any

from services.messaging import classify as kinds
from services.messaging.mail import Mailer, SendFailure, header_safe
from shared.logs import get_logger

log = get_logger("prospectflow.messaging.inbound")


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



async def hand_on(docs: list[dict[str, Any]], mailer: Mailer, *, sender: str) -> dict[str, dict[str, Any]]:
    """Each reply handed on, on its own: {id: the fields that end it} for those forwarded or
    that never can be; one that failed for now is left to the sweep, whatever its neighbours do."""

    async def one(d: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        try:
            mail = await asyncio.to_thread(forward_mail, d["_id"], bytes(d["raw"]), d["forward"], sender=sender)
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
            log.warning("a reply cannot be handed on to the recruiter", exc_info=True, extra={"inbound_id": d["_id"]})
            reason = f"{type(exc).__name__}: {exc}"[:500]
        return str(d["_id"]), {"to_forward": False, "forward_failed": reason}

    ended = await asyncio.gather(*(one(d) for d in docs))
    return {i: fields for i, fields in ended if fields is not None}
