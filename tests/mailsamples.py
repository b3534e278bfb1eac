"""Real-world-shaped inbound mails (tests/fixtures/mail/*.eml), filled in for one message:
`${message_id}`, `${domain}` (the Message-ID we sent), `${reply_to}`, `${bounce_to}`,
`${prospect}` and `${tag}` (to make each delivery a different mail)."""

from __future__ import annotations

from pathlib import Path
from string import Template

FOLDER = Path(__file__).parent / "fixtures" / "mail"
NAMES = sorted(p.stem for p in FOLDER.glob("*.eml"))


def sample(name: str, *, message_id: str = "2f1c9a7e-4b3d-5e8f-9a0b-1c2d3e4f5a6b", domain: str = "acme.example",
           reply_to: str = "reply+x@inbound.example", bounce_to: str = "bounce+x@inbound.example",
           prospect: str = "lee.park@example.com", tag: str = "1") -> bytes:
    text = (FOLDER / f"{name}.eml").read_text(encoding="utf-8")
    return Template(text).substitute(message_id=message_id, domain=domain, reply_to=reply_to, bounce_to=bounce_to,
                                     prospect=prospect, tag=tag).encode("utf-8")
