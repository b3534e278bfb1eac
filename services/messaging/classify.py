"""What an inbound mail is, without I/O: a reply, an automatic answer, a bounce or a spam
complaint, and which of our messages it names.

- A feedback report (RFC 5965 ARF: `multipart/report; report-type=feedback-report`) is a complaint.
- A delivery status notification (RFC 3464: `multipart/report; report-type=delivery-status`,
  read per recipient: `Action`, `Status`, `Diagnostic-Code`), or one of the common
  non-standard bounces (from MAILER-DAEMON or postmaster, or a "Undelivered Mail" subject, with
  the original quoted), is a bounce: permanent for a 5.x.x status, temporary for 4.x.x.
- RFC 3834 `Auto-Submitted` (anything but `no`), `X-Autoreply`, `X-Autorespond`,
  `Precedence: auto_reply/bulk/junk`, or an out-of-office subject (English, German) is an
  automatic answer.
- Anything else is a reply: its new text, without the quoted history and the signature.

The messages it names are the `Message-ID`s in `In-Reply-To` and `References`, and for a
bounce or a complaint those of the original it carries.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any

REPLY, AUTO_REPLY, BOUNCE, COMPLAINT = "reply", "auto_reply", "bounce", "complaint"
MAX_TEXT = 20_000
MAX_SCANNED = 256 * 1024
"""The most characters of a body read for its text: a reply's new text is at most MAX_TEXT, and
nothing a stranger wrote past this is worth a parser's time (html.parser has superlinear corners)."""

HEADER_END = re.compile(rb"\r?\n\r?\n")  # where a mail's headers end
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"\b([45])\d\d\b")
_MESSAGE_ID = re.compile(r"^[ \t]*Message-ID:[ \t]*<([^>\s]{1,500})>", re.IGNORECASE | re.MULTILINE)
_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailer_daemon)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|undelivered mail|delivery status notification|delivery (has )?failed|delivery failure|"
    r"returned mail|mail delivery (failed|system|subsystem)|failure notice|could not be delivered|"
    r"unzustellbar|nicht zustellbar|nachricht konnte nicht zugestellt)", re.IGNORECASE)
_DELAY_SUBJECT = re.compile(r"(delay|delayed|warning: message|verzögert)", re.IGNORECASE)
_OUT_OF_OFFICE = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|autoreply|out of (the )?office|ooo\b|away from (the )?office|"
    r"on (vacation|holiday|leave)|vacation (reply|response)|abwesenheit(snotiz|smeldung)?|abwesend|"
    r"automatische antwort|nicht im b(ü|ue)ro|au(ß|ss)er haus|im urlaub|urlaubsabwesenheit|auto:)", re.IGNORECASE)
# Starts only where a run of address characters starts, each part bounded: linear on any text.
_ADDRESS_IN_TEXT = re.compile(r"(?<![\w.+'-])([\w.+'-]{1,64}@[\w.-]{1,255}\.\w{1,63})")
_AUTO_PRECEDENCE = {"auto_reply", "bulk", "junk"}

# Where the quoted history of a reply starts, as mail clients write it.
_HISTORY = [
    re.compile(r"^On\b[^\n]{0,300}(\n[^\n]{0,300})?\bwrote:[ \t]*$", re.MULTILINE),  # Gmail, Apple Mail, Thunderbird
    re.compile(r"^Am\b[^\n]{0,300}(\n[^\n]{0,300})?\bschrieb\b[^\n]{0,300}:[ \t]*$", re.MULTILINE),  # German clients
    re.compile(r"^Le\b[^\n]{0,300}(\n[^\n]{0,300})?\ba écrit\s?:[ \t]*$", re.MULTILINE),
    re.compile(r"^-{2,}\s*(Original Message|Ursprüngliche Nachricht|Originalnachricht|Forwarded message)\s*-{2,}",
               re.MULTILINE | re.IGNORECASE),
    re.compile(r"^_{10,}[ \t]*\n", re.MULTILINE),  # Outlook's rule before the quoted header block
    re.compile(r"^(From|Von):[^\n]+\n(Sent|Date|Gesendet|Datum|To|An):", re.MULTILINE),  # Outlook without the rule
]
_SIGNATURE = [
    re.compile(r"^-- ?$", re.MULTILINE),
    re.compile(r"^(Sent from my|Von meinem|Gesendet von meinem|Get Outlook for|Diese Nachricht wurde von meinem)\b",
               re.MULTILINE | re.IGNORECASE),
]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass
class Classified:
    kind: str
    references: list[str] = field(default_factory=list)  # Message-IDs it names, without < >, most specific first
    sender: str = ""
    subject: str = ""
    text: str = ""
    auto_kind: str = ""  # out_of_office or auto
    permanent: bool = False
    status: str = ""
    diagnostic: str = ""
    recipient: str = ""  # a bounce's or complaint's original recipient


def parse(raw: bytes) -> Message:
    """The mail's structure. `compat32`: the modern policy's header objects cost ten times the
    parse (1.8 ms against 0.2 ms a reply), and only a few headers are read, decoded by `header`."""
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def one_line(value: Any, limit: int) -> str:
    return " ".join(_CONTROL.sub(" ", str(value or "")).split())[:limit]


def message_ids(value: Any) -> list[str]:
    return re.findall(r"<([^<>\s]+)>", str(value or ""))


def header(message: Message, name: str) -> str:
    """A header as text, RFC 2047 encoded words decoded; empty when missing or malformed."""
    wanted = name.lower()
    value = next((v for k, v in message.raw_items() if k.lower() == wanted), None)  # before compat32's sanitising
    if value is None:
        return ""
    text = str(value)
    if not text.isascii():  # raw UTF-8 (RFC 6532, as SMTPUTF8 mail has it), which the parser kept as escapes
        try:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8")
        except UnicodeError:
            pass
    try:
        return str(make_header(decode_header(text)))
    except Exception:  # noqa: BLE001 - a header a sender got wrong is read as it is
        return text




def classify(raw: bytes) -> Classified:
    message = parse(raw)
    sender = next((addr for _, addr in getaddresses([header(message, "From")]) if addr), "")
    subject = one_line(header(message, "Subject"), 1_000)
    # In-Reply-To names the message answered; References the thread, most recent last.
    refs = message_ids(header(message, "In-Reply-To")) + list(reversed(message_ids(header(message, "References"))))
    found = Classified(REPLY, list(dict.fromkeys(refs)), sender=one_line(sender, 320), subject=subject)
    content_type = message.get_content_type()
    report_type = str(message.get_param("report-type", "", header="content-type") or "").lower()
    parts: list[Any] = list(message.walk())
    types = {p.get_content_type() for p in parts}
    if report_type == "feedback-report" or "message/feedback-report" in types:
        found.kind = COMPLAINT
        _original(found, parts)
        return found
    if report_type == "delivery-status" or "message/delivery-status" in types or "message/global-delivery-status" in types:
        if _delivery_status(found, parts):
            _original(found, parts)
            return found
        found.kind, found.auto_kind = AUTO_REPLY, "auto"  # a DSN that says delivered or relayed
        return found
    if _BOUNCE_SENDER.match(sender) or (_BOUNCE_SUBJECT.search(subject) and content_type.startswith("multipart")) \
            or (_BOUNCE_SUBJECT.search(subject) and not sender):
        _non_standard_bounce(found, message, parts)
        _original(found, parts)
        return found
    auto_submitted = header(message, "Auto-Submitted").strip().lower()
    precedence = header(message, "Precedence").strip().lower()
    automatic = (auto_submitted not in ("", "no") or any(header(message, h) for h in ("X-Autoreply", "X-Autorespond",
                                                                                      "X-Autoresponder"))
                 or precedence in _AUTO_PRECEDENCE)
    out_of_office = bool(_OUT_OF_OFFICE.match(subject))
    if automatic or out_of_office:
        found.kind = AUTO_REPLY
        found.auto_kind = "out_of_office" if out_of_office or auto_submitted == "auto-replied" and _ooo_text(message) \
            else "auto"
        return found
    found.text = reply_text(body_text(message))
    return found


def _ooo_text(message: Message) -> bool:
    text = body_text(message)[:500]
    return bool(re.search(r"(out of (the )?office|on (vacation|holiday|leave)|away until|abwesend|im urlaub|"
                          r"nicht im b(ü|ue)ro|bis (zum|einschließlich))", text, re.IGNORECASE))


def _delivery_status(found: Classified, parts: list[Any]) -> bool:
    """Read the per-recipient blocks of a DSN; False if none failed or was delayed."""
    for part in parts:
        if part.get_content_type() not in ("message/delivery-status", "message/global-delivery-status"):
            continue
        blocks: Any = part.get_payload()
        if not isinstance(blocks, list):  # some servers send it as text: read it as fields
            text: Any = part.get_payload(decode=True) or b""
            blocks = [email.message_from_string(chunk) for chunk in
                      re.split(r"\r?\n\r?\n", text.decode("utf-8", "replace")) if chunk.strip()]
        for block in blocks[1:] if len(blocks) > 1 else blocks:
            action = str(block.get("Action") or "").strip().lower()
            status = str(block.get("Status") or "").strip()
            if action not in ("failed", "delayed") and not status.startswith(("4", "5")):
                continue
            code = _STATUS.search(status)
            found.kind = BOUNCE
            found.status = code.group(0) if code else status[:20]
            found.permanent = action == "failed" and not found.status.startswith("4") or found.status.startswith("5")
            if action == "delayed":
                found.permanent = False
            found.diagnostic = one_line(block.get("Diagnostic-Code") or "", 1_000)
            found.recipient = _address_field(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
            return True
    return False


def _address_field(value: Any) -> str:
    """`rfc822; lee@example.com` -> the address."""
    return one_line(str(value).partition(";")[2] or str(value), 320).strip("<> ").lower()


def _non_standard_bounce(found: Classified, message: Message, parts: list[Any]) -> None:
    """A bounce in prose (qmail, old Exim, Exchange): the status or SMTP code is in its text."""
    found.kind = BOUNCE
    text = body_text(message)[:MAX_SCANNED]
    code = _STATUS.search(text)
    if code:
        found.status = code.group(0)
        found.permanent = code.group(1) == "5"
    else:
        smtp = _SMTP_CODE.search(text)
        found.permanent = smtp.group(1) == "5" if smtp else not _DELAY_SUBJECT.search(found.subject)
        found.status = ("5.0.0" if found.permanent else "4.0.0")
    if _DELAY_SUBJECT.search(found.subject) and not code:
        found.permanent, found.status = False, "4.0.0"
    hit = (code or _SMTP_CODE.search(text))
    if hit:
        start = text.rfind("\n", 0, hit.start()) + 1
        end = text.find("\n", hit.end())
        found.diagnostic = one_line(text[start:end if end >= 0 else None], 1_000)
    found.recipient = next((a.lower() for a in _ADDRESS_IN_TEXT.findall(text)
                            if not _BOUNCE_SENDER.match(a)), "")


def _original(found: Classified, parts: list[Any]) -> None:
    """The Message-ID of the original a bounce or a complaint carries (a `message/rfc822`
    part, `text/rfc822-headers`, or quoted in its text), before any In-Reply-To."""
    names: list[str] = []
    for part in parts:
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message):
                names += message_ids(header(inner, "Message-ID"))
        elif kind in ("text/rfc822-headers", "text/plain"):
            payload: Any = part.get_payload(decode=True) or b""
            names += _MESSAGE_ID.findall(payload.decode("utf-8", "replace"))
    found.references = list(dict.fromkeys(names + found.references))


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in ("br", "p", "div", "tr", "li", "blockquote"):
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("p", "div"):
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


_GMAIL_QUOTE = re.compile(r"class=\"?gmail_quote", re.IGNORECASE)


def quote_start(html: str) -> int:
    """Where the quoted history of an HTML mail starts: a `<blockquote`, or the `<div` whose class
    is Gmail's `gmail_quote`; else its length. Linear: each candidate looks back at most one tag's
    length (a regex `<div[^>]+class=` retried from every `<div` was quadratic)."""
    lowered = html.lower()
    end = lowered.find("<blockquote")
    end = len(html) if end < 0 else end
    for hit in _GMAIL_QUOTE.finditer(lowered, 0, end):
        tag = lowered.rfind("<", max(0, hit.start() - 2_000), hit.start())
        if tag >= 0 and lowered.startswith("<div", tag) and ">" not in lowered[tag:hit.start()]:
            return tag
    return end


def _html_text(html: str) -> str:
    # Quoted history in HTML mail is a blockquote (or Gmail's gmail_quote): gone before the text
    html = html[:quote_start(html)][:MAX_SCANNED]
    parser = _TextOfHtml()
    parser.feed(html)
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.chunks))


def _text_of(part: Message) -> str:
    raw: Any = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return str(raw.decode(charset, "replace"))
    except (LookupError, UnicodeError):  # a charset Python does not know, or one ("idna") that raises anyway
        return str(raw.decode("utf-8", "replace"))


def body_text(message: Message) -> str:
    """The mail's text: its first plain part that is not an attachment, else its HTML part as text."""
    html = None
    for part in message.walk():
        if part.is_multipart() or str(part.get("Content-Disposition", "")).lower().startswith("attachment"):
            continue
        kind = part.get_content_type()
        if kind == "text/plain":
            return _text_of(part)
        if kind == "text/html" and html is None:
            html = part
        if kind.startswith("message/"):  # an attached original is not the body
            break
    return _html_text(_text_of(html)) if html is not None else ""


def reply_text(text: str) -> str:
    """The new part of a reply: up to the quoted history, without quoted lines and signature,
    at most 20,000 characters of plain text."""
    text = text[:MAX_SCANNED].replace("\r\n", "\n").replace("\r", "\n")
    cut = len(text)
    for pattern in _HISTORY + _SIGNATURE:
        hit = pattern.search(text)
        if hit and hit.start() < cut and text[:hit.start()].strip():
            cut = hit.start()
    lines = [line.rstrip() for line in text[:cut].split("\n") if not line.lstrip().startswith(">")]
    new = "\n".join(lines).strip()
    new = re.sub(r"\n{3,}", "\n\n", _CONTROL.sub("", new.replace("\t", " ")))
    return new[:MAX_TEXT]
