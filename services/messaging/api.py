"""Messaging's HTTP side: the template preview recruiter apps show before a send, and the
public one-click unsubscribe (RFC 8058) that every mail links to.

`POST /preview` answers what `messages.send` would do with the same ids, without sending: who
would receive it, who would be skipped and why (the very checks the send makes), and the mail as
the first recipient would receive it. `GET /unsubscribe/{token}` shows a confirmation (link
scanners only GET); `POST` to the same address, from that page or from a mail client's one-click
button, publishes `prospect.opted_out` and suppresses the address at once.
"""


from datetime import UTC, datetime, timedelta
from html import escape
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse
from faststream import FastStream
from pydantic import BaseModel, Field

from services.messaging import domain
from services.messaging.inbound import Inbound, WebhookRefused, check_webhook_auth, webhook_mail
from services.messaging.rendering import Templates
from services.messaging.store import MessagingStore
from services.messaging.unsubscribe import UnsubscribeLinks
from shared import ids, topics
from shared.auth import TokenVerifier
from shared.contract import Note, ProspectIds, ProspectOptedOut, Template, new_event
from shared.http import BodyRefused, add_operations, documented, read_body, recruiter_from_bearer, running
from shared.kafka import Publisher
from shared.messages import Outgoing

SOURCE = "prospectflow/messaging/unsubscribe"


class PreviewRequest(BaseModel):
    template: Template
    prospect_ids: ProspectIds
    note: Note | None = None


class Recipient(BaseModel):
    prospect_id: str
    name: str
    email: str


class Skipped(BaseModel):
    prospect_id: str
    name: str | None = None
    reason: str = Field(description="as `messages.send` would reject it: unknown_prospect, forbidden, job_closed, "
                                    "opted_out, missing_link, bounced")


class Mail(BaseModel):
    to: str
    to_name: str
    subject: str
    text: str
    html: str


class SentMessage(BaseModel):
    prospect_id: str
    name: str | None
    outcome: str | None = Field(description="sent, failed, or none yet")
    reason: str | None = None


class SendProgress(BaseModel):
    send_id: str
    template: str | None
    commands: int = Field(description="how many of the send's commands messaging has taken")
    started_at: datetime
    accepted: int = Field(description="messages queued (one per accepted prospect)")
    sent: int
    failed: int
    pending: int = Field(description="queued, not sent or failed yet")
    failed_reasons: dict[str, int] = Field(description="failed messages by reason")
    skipped: list[Skipped] = Field(description="prospects the commands rejected, with the reason (named where "
                                               "they are the recruiter's, for the first 100)")
    messages: list[SentMessage] = Field(description="a send of at most 50 messages, one by one")


class RecentSend(BaseModel):
    send_id: str
    template: str | None
    started_at: datetime
    accepted: int
    sent: int
    failed: int
    pending: int


class Preview(BaseModel):
    recipients: list[Recipient]
    skipped: list[Skipped]
    mail: Mail | None = Field(None, description="the mail as the first recipient would receive it")


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1f2933;line-height:1.5}}
button{{font:inherit;padding:.6rem 1.2rem;border:0;border-radius:6px;background:#1d4ed8;color:#fff;cursor:pointer}}</style></head>
<body><main><h1>{escape(title)}</h1>{body}</main></body></html>""", status_code=status_code)


def create_api(store: MessagingStore, templates: Templates, links: UnsubscribeLinks, publisher: Publisher, *,
               verifier: TokenVerifier | None, stream: FastStream | None = None, inbound: Inbound | None = None,
               webhook_secret: str | None = None, inbound_max_bytes: int = 10 * 1024 * 1024,
               webhook_body_timeout_s: float = 30.0) -> FastAPI:

    api = FastAPI(title="Prospectflow messaging", version="0.1.0", lifespan=running(stream),
                  description="Template preview for recruiter apps; one-click unsubscribe for prospects.")
    recruiter = recruiter_from_bearer(
        verifier, unconfigured="preview is not configured: set MESSAGING_JWT_SECRET or MESSAGING_JWKS_URL")

    add_operations(api, stream)

    @api.post("/preview", response_model=Preview, tags=["messages"], responses=documented(401, 503))
    async def preview(request: PreviewRequest, recruiter_id: Annotated[str, Depends(recruiter)]) -> Preview:
        """What `messages.send` would do with these ids: recipients, skips with reasons, the first mail."""
        wanted = list(dict.fromkeys(request.prospect_ids))
        contacts = await store.by_ids("contacts", wanted)
        jobs = await store.by_ids("jobs", {c["job_id"] for c in contacts.values()})
        emails = {c["email"] for c in contacts.values()}
        suppressed = set(await store.by_ids("suppressions", emails))
        bounced = set(await store.by_ids("bounced", emails))
        recipients, skipped = [], []
        for pid in wanted:
            contact = contacts.get(pid)
            job = jobs.get(contact["job_id"]) if contact else None
            reason = domain.check(contact, job, recruiter_id, request.template,
                                  suppressed=bool(contact and contact["email"] in suppressed),
                                  bounced=bool(contact and contact["email"] in bounced))
            if reason is None:
                assert contact is not None
                recipients.append(Recipient(prospect_id=pid, name=contact["name"], email=contact["email"]))
            else:
                # Another recruiter's prospect stays anonymous: its name is not theirs to see.
                known = contact is not None and reason not in ("forbidden", "unknown_prospect")
                skipped.append(Skipped(prospect_id=pid, name=contact["name"] if known and contact else None,
                                       reason=reason.value))
        mail = None
        if recipients:
            first = recipients[0]
            contact = contacts[first.prospect_id]
            context = {**domain.context(contact, jobs[contact["job_id"]], request.note),
                       "unsubscribe_url": links.url(contact["email"])}
            rendered = templates.render(request.template, context)
            mail = Mail(to=first.email, to_name=first.name, subject=rendered.subject, text=rendered.text,
                        html=rendered.html)
        return Preview(recipients=recipients, skipped=skipped, mail=mail)

    SendId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]

    @api.get("/sends/{send_id}", response_model=SendProgress, tags=["messages"], responses=documented(401, 404, 503))
    async def send_progress(send_id: SendId, recruiter_id: Annotated[str, Depends(recruiter)]) -> SendProgress:
        """Where a send stands (the commands whose `correlationid`, or own id, is `send_id`):
        read back from messaging's own records, so a page can show it again after a reload."""
        progress = await store.send_progress(recruiter_id, send_id)
        if progress is None:
            raise HTTPException(404, "messaging has taken no command of this send (yet), or it is not yours")
        named = [s["prospect_id"] for s in progress["skipped"][:100] if s["reason"] not in ("forbidden", "unknown_prospect")]
        contacts = await store.by_ids("contacts", named)
        for s in progress["skipped"]:
            if s["prospect_id"] in contacts:
                s["name"] = contacts[s["prospect_id"]]["name"]
        return SendProgress.model_validate(progress)

    @api.get("/sends", response_model=list[RecentSend], tags=["messages"], responses=documented(401, 503))
    async def recent_sends(recruiter_id: Annotated[str, Depends(recruiter)]) -> list[RecentSend]:
        """The recruiter's sends of the last 24 hours, newest first (at most 5)."""
        since = datetime.now(UTC) - timedelta(hours=24)
        return [RecentSend.model_validate(s) for s in await store.recent_sends(recruiter_id, since)]

    Token = Annotated[str, Path(max_length=1_000)]

    @api.get("/unsubscribe/{token}", response_class=HTMLResponse, tags=["unsubscribe"],
             responses={404: {"description": "not a link we sent (an HTML page says so)", "content": {"text/html": {}}}})
    async def unsubscribe_page(token: Token) -> HTMLResponse:
        email = links.email(token)
        if email is None:
            return _page("This link is not valid", "<p>It may have been cut off. Copy the whole link from the "
                                                   "e-mail, or reply to the e-mail and ask not to be contacted.</p>", 404)
        return _page("Unsubscribe", f"""<p>Stop all messages about positions to <strong>{escape(email)}</strong>?</p>
<form method="post"><button type="submit">Unsubscribe</button></form>""")

    @api.post("/unsubscribe/{token}", response_class=HTMLResponse, tags=["unsubscribe"],
              responses={404: {"description": "not a link we sent; nothing changed", "content": {"text/html": {}}}})
    async def unsubscribe(token: Token) -> HTMLResponse:
        """RFC 8058 one-click: any POST to the link (mail clients send `List-Unsubscribe=One-Click`)."""
        email = links.email(token)
        if email is None:
            return _page("This link is not valid", "<p>Nothing was changed.</p>", 404)
        now = datetime.now(UTC)
        # Suppressed here at once (our own database), and told to everyone on `opt-outs`; the
        # event's id is derived from the address, so clicking twice is one event.
        await store.suppress({email: {"reason": "unsubscribe link", "at": now}})
        event = new_event(event_id=ids.derive("unsubscribe", email), source=SOURCE, type="prospect.opted_out",
                          data=ProspectOptedOut(email=email, reason="unsubscribe link"))
        await publisher.publish([Outgoing(topics.OPT_OUTS, email, event)])
        return _page("You are unsubscribed", f"<p>{escape(email)} will not receive messages about positions any more.</p>")

    @api.post("/inbound/mail", tags=["inbound"], responses={
        200: {"description": "stored (or stored before): it will be processed once"},
        400: {"description": "the client left before the body was complete"},
        401: {"description": "not authenticated"}, 404: {"description": "inbound mail is not configured"},
        408: {"description": "the body did not arrive within 30 s"},
        413: {"description": "larger than MESSAGING_INBOUND_MAX_BYTES"},
        422: {"description": "no raw message in the request"}, 503: {"description": "not stored: retry"}})
    async def inbound_mail(request: Request) -> JSONResponse:
        """A mail provider's inbound webhook: the raw RFC 5322 message as the body
        (`message/rfc822`), Mailgun's MIME route (`body-mime`), Postmark's JSON with `RawEmail`,
        or Amazon SES's notification with `content`. Authenticated by MESSAGING_INBOUND_WEBHOOK_SECRET
        (bearer token, basic-auth password, or Mailgun's signature). Answers 200 only once the
        mail is stored; a replay is stored once."""
        if inbound is None or not webhook_secret:
            return JSONResponse({"detail": "inbound mail by webhook is not configured: set MESSAGING_INBOUND_DOMAIN "
                                           "and MESSAGING_INBOUND_WEBHOOK_SECRET"}, 404)
        # Who is asking first: a bearer token or basic-auth password is checked before a byte of
        # the body is read; Mailgun's signature lives in the form, read (bounded, joined once)
        # and parsed only when no header claims to authenticate.
        authorization = request.headers.get("authorization")
        refused = JSONResponse({"detail": "not authenticated: a bearer token, basic-auth password or Mailgun "
                                          "signature made with MESSAGING_INBOUND_WEBHOOK_SECRET"}, 401)
        if authorization and not check_webhook_auth(webhook_secret, authorization, {}):
            return refused
        try:
            body = await read_body(request, max_bytes=inbound_max_bytes * 2,  # base64 in JSON grows a third
                                   deadline_s=webhook_body_timeout_s)
        except BodyRefused as too_bad:
            detail = f"larger than {inbound_max_bytes} bytes" if too_bad.status == 413 else too_bad.detail
            return JSONResponse({"detail": detail}, too_bad.status)
        content_type = request.headers.get("content-type", "")
        fields: dict[str, str] = {}
        if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            from starlette.datastructures import UploadFile
            from starlette.requests import Request as Replayed

            async def replay() -> dict[str, object]:
                return {"type": "http.request", "body": body, "more_body": False}

            try:
                form = await Replayed(request.scope, replay).form(max_part_size=inbound_max_bytes * 2)
            except Exception:  # noqa: BLE001 - python-multipart's and starlette's refusals of a broken form
                return JSONResponse({"detail": "the form cannot be read"}, 422)
            for key, value in form.multi_items():
                fields[key] = (await value.read()).decode("utf-8", "replace") if isinstance(value, UploadFile) \
                    else str(value)
        if not authorization and not check_webhook_auth(webhook_secret, None, fields):
            return refused
        try:
            raw, recipients = webhook_mail(content_type, body, fields, request.query_params.get("recipient"))
        except WebhookRefused as refused:
            return JSONResponse({"detail": refused.reason}, refused.status)
        if len(raw) > inbound_max_bytes:
            return JSONResponse({"detail": f"the mail is larger than {inbound_max_bytes} bytes"}, 413)
        try:
            inbound_id, new = await inbound.accept(raw, recipients, "webhook")
        except Exception:  # noqa: BLE001 - not stored: the provider retries
            return JSONResponse({"detail": "not stored right now; retry"}, 503, headers={"Retry-After": "30"})
        return JSONResponse({"id": inbound_id, "stored": "new" if new else "before"})

    return api
