"""`prospectflow inbound`: the mails messaging's inbound listener kept aside, and playing a
prospect who answers a mail from the local sink."""

from __future__ import annotations

import asyncio
import os
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from prospectflow.errors import CliError
from prospectflow.mailbox import read_mails


async def stored_mails(*, kept_only: bool, limit: int) -> list[dict[str, Any]]:
    from pymongo import DESCENDING

    from services.messaging.classify import header, one_line, parse
    from services.messaging.classify import HEADER_END
    from services.messaging.settings import MessagingSettings
    from shared.db import mongo_client

    settings = MessagingSettings()
    client = mongo_client(settings.mongodb, appname="prospectflow-cli")
    try:
        query = {"state": {"$in": ["kept", "failed"]}} if kept_only else {}
        cursor = client[settings.database]["inbound"].find(query).sort("received_at", DESCENDING).limit(limit)
        rows = []
        async for doc in cursor:
            raw = bytes(doc["raw"])[:64 * 1024]
            end = HEADER_END.search(raw)
            headers = parse(raw[:end.start()] + b"\n\n" if end else raw)  # the headers only, whatever the body is
            rows.append({"id": doc["_id"], "received_at": doc["received_at"].isoformat(), "state": doc["state"],
                         "kind": doc.get("kind") or "", "reason": doc.get("reason") or "",
                         "from": one_line(header(headers, "From"), 200).rpartition("<")[2].rstrip(">"),
                         "subject": one_line(header(headers, "Subject"), 200), "size": doc.get("size"),
                         "recipients": doc.get("recipients", [])})
        return rows
    except Exception as exc:  # noqa: BLE001 - the database is away or the URI wrong: say which
        raise CliError(f"cannot read messaging's inbound mail from {settings.database!r}: {exc}") from None
    finally:
        await client.close()


def _answer(original: Any, email: str, text: str, out_of_office: bool) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = email
    mail["To"] = str(original["Reply-To"])
    subject = str(original["Subject"])
    mail["Subject"] = f"Automatic reply: {subject}" if out_of_office else f"Re: {subject}"
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = make_msgid(domain="example.com")
    mail["In-Reply-To"] = str(original["Message-ID"])
    mail["References"] = str(original["Message-ID"])
    if out_of_office:
        mail["Auto-Submitted"] = "auto-replied"
        mail.set_content("I am out of the office this week and will answer when I am back.")
    else:
        quoted = "\n".join(f"> {line}" for line in original.get_body(("plain",)).get_content().splitlines())
        mail.set_content(f"{text}\n\nOn {original['Date']}, {original['From']} wrote:\n{quoted}\n")
    return mail


def _bounce(original: Any, email: str) -> bytes:
    """A permanent RFC 3464 bounce of `original`, as a receiving server's MTA writes one."""
    return (f"From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\n"
            f"To: {str(original['Return-Path']).strip('<>')}\r\n"
            f"Subject: Undelivered Mail Returned to Sender\r\n"
            f"Message-ID: {make_msgid(domain='mx.example.com')}\r\nDate: {formatdate()}\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
            f"--b\r\nContent-Type: text/plain\r\n\r\n<{email}>: host mx.example.com said: 550 5.1.1 User unknown\r\n"
            f"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
            f"Final-Recipient: rfc822; {email}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            f"Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
            f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {original['Message-ID']}\r\n"
            f"Subject: {original['Subject']}\r\n--b--\r\n").encode()


async def answer_last_mail(folder: Path, email: str, text: str, *, out_of_office: bool, bounce: bool) -> str:
    received = [m for m in read_mails(folder, to=email) if m.message["Reply-To"] and "reply+" in str(m.message["Reply-To"])]
    if not received:
        raise CliError(f"no mail to {email} with a reply address in {folder}: send them a message first (and "
                       "check MESSAGING_INBOUND_DOMAIN is set, as `make run` does)")
    original = received[-1].message
    if bounce:
        raw, to = _bounce(original, email), str(original["Return-Path"]).strip("<> ")
    else:
        raw, to = _answer(original, email, text, out_of_office).as_bytes(), str(original["Reply-To"].addresses[0].addr_spec)
    host = os.environ.get("MESSAGING_INBOUND_SMTP_HOST", "127.0.0.1")
    port = int(os.environ.get("MESSAGING_INBOUND_SMTP_PORT", "2526"))

    def deliver() -> str:
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            smtp.sendmail("" if bounce else email, [to], raw)
        return f"{'bounced' if bounce else 'out-of-office from' if out_of_office else 'replied as'} {email} " \
               f"to {original['Subject']!s} (via {host}:{port})"

    try:
        return await asyncio.to_thread(deliver)
    except (OSError, smtplib.SMTPException) as exc:
        raise CliError(f"the inbound listener at {host}:{port} did not take the mail ({exc}); is messaging "
                       "running with MESSAGING_INBOUND_DOMAIN set (`make run`)?") from None
