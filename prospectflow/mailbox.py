"""The local SMTP sink's maildir: the mails as the recipients received them."""

from __future__ import annotations

import email
import email.message
import email.parser
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from prospectflow.errors import CliError


@dataclass(frozen=True)
class Mail:
    path: Path
    message: EmailMessage

    def header(self, name: str) -> str:
        return str(self.message.get(name, ""))

    @property
    def to(self) -> str:
        return self.header("To")

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    def summary(self) -> dict[str, str]:
        return {name.lower().replace("-", "_"): self.header(name)
                for name in ("Date", "From", "To", "Reply-To", "Subject", "Message-ID")}


def read_mails(folder: Path, *, to: str | None = None, last: int | None = None) -> list[Mail]:
    """Mails delivered to the sink, oldest first; `to` matches a part of the To header."""
    new = folder / "new"
    if not new.is_dir():
        raise CliError(f"no maildir at {folder} (PROSPECTFLOW_MAILDIR): the local SMTP sink writes there "
                       "once the stack is up (`make run`)")
    paths = sorted(new.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name))
    if to is not None:
        headers = email.parser.BytesHeaderParser(policy=email.policy.default)
        # a long-lived sink holds thousands of mails: parse only those whose bytes could match
        paths = [p for p in paths if to.lower().encode() in p.read_bytes().lower()
                 and to.lower() in str(_headers(p, headers).get("To", "")).lower()]
    if last:
        paths = paths[-last:]
    mails = []
    for path in paths:
        with open(path, "rb") as f:
            mails.append(Mail(path, email.message_from_binary_file(f, policy=email.policy.default)))  # type: ignore[arg-type]
    return mails


def _headers(path: Path, parser: email.parser.BytesHeaderParser) -> email.message.Message:
    with open(path, "rb") as f:
        return parser.parse(f)
