"""The inbound SMTP listener in messaging's process: recipients must be our reply or bounce
addresses (never a relay), `250` only once the mail is stored, and at most
MESSAGING_INBOUND_MAX_CONNECTIONS sessions at once."""

from __future__ import annotations

import asyncio
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from services.messaging.inbound import INBOUND, Inbound
from shared.logs import get_logger

log = get_logger("prospectflow.messaging.inbound")


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
