"""A local SMTP sink: accepts every message and keeps it as an .eml file in a maildir.

Tests and people read the mails there (`python -m devstack mails`). For failure tests, a
recipient whose local part starts with `reject` is refused permanently (550), and one that
starts with `tempfail` is refused with a transient 451.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class MaildirHandler:
    def __init__(self, maildir: Path, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.new = maildir / "new"
        self.tmp = maildir / "tmp"
        for folder in (self.new, self.tmp, maildir / "cur"):
            folder.mkdir(parents=True, exist_ok=True)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 Recipient address rejected: mailbox unavailable"
        if local.startswith("tempfail"):
            return "451 4.3.0 Temporary failure, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay_s:  # a slow server (`--delay-ms`): the chaos campaign's "slow SMTP"
            await asyncio.sleep(self.delay_s)
        # Written to tmp/ then renamed into new/: a reader never sees half a message.
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.eml"
        data = envelope.original_content or envelope.content
        data = data if isinstance(data, bytes) else data.encode()
        # As a mailbox's final delivery does (RFC 5321 4.4): the envelope sender, where bounces go.
        tmp = self.tmp / name
        tmp.write_bytes(f"Return-Path: <{envelope.mail_from or ''}>\r\n".encode() + data)
        os.replace(tmp, self.new / name)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description="Local SMTP sink writing a maildir of .eml files")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--maildir", type=Path, required=True)
    parser.add_argument("--delay-ms", type=int, default=0, help="answer each DATA after this long")
    args = parser.parse_args()

    controller = Controller(MaildirHandler(args.maildir, args.delay_ms / 1000), hostname=args.host, port=args.port,
                            data_size_limit=10 * 1024 * 1024, enable_SMTPUTF8=True)
    controller.start()
    print(f"smtp sink listening on {args.host}:{args.port}, maildir {args.maildir}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()
