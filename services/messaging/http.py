"""Messaging's HTTP routes: the template preview recruiter apps show before a send, where a send
stands, the public one-click unsubscribe (RFC 8058) that every mail links to, and a mail
provider's inbound webhook.

`POST /preview` answers what `messages.send` would do with the same ids, without sending: who
would receive it, who would be skipped and why (the very checks the send makes), and the mail as
the first recipient would receive it. `GET /unsubscribe/{token}` shows a confirmation (link
scanners only GET); `POST` to the same address, from that page or from a mail client's one-click
button, publishes `prospect.opted_out` and suppresses the address at once.
"""


from datetime import datetime
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from services.messaging.handlers import CustomTemplates, Previews, Referrals, Unsubscribes
from services.messaging.inbound import Inbound
from services.messaging.providers import WebhookRefused, check_webhook_auth, webhook_mail
from services.messaging.settings import MessagingSettings
from shared.contract import Note, ProspectIds, TemplateName
from shared.http import BodyRefused, Recruiter, documented, provided, read_body
from shared.refusals import Refused

WEBHOOK_BODY_TIMEOUT_S = 30.0


class PreviewRequest(BaseModel):
    template: TemplateName
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
                                    "opted_out, missing_link, bounced, unknown_template")


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


messages = APIRouter(tags=["messages"])
templates = APIRouter(tags=["templates"])
unsubscribe = APIRouter(tags=["unsubscribe"])
refer = APIRouter(tags=["referrals"])
inbound = APIRouter(tags=["inbound"])
routers = [messages, templates, unsubscribe, refer, inbound]

PreviewsOf = Annotated[Previews, provided(Previews)]
UnsubscribesOf = Annotated[Unsubscribes, provided(Unsubscribes)]
ReferralsOf = Annotated[Referrals, provided(Referrals)]
SendId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
Token = Annotated[str, Path(max_length=1_000)]


@messages.post("/preview", response_model=Preview, responses=documented(401, 503))
async def preview(request: PreviewRequest, recruiter_id: Recruiter, previews: PreviewsOf) -> Preview:
    """What `messages.send` would do with these ids: recipients, skips with reasons, the first mail."""
    return Preview.model_validate(await previews.preview(recruiter_id, request.template, request.prospect_ids,
                                                         request.note))


@messages.get("/sends/{send_id}", response_model=SendProgress, responses=documented(401, 404, 503))
async def send_progress(send_id: SendId, recruiter_id: Recruiter, previews: PreviewsOf) -> SendProgress:
    """Where a send stands (the commands whose `correlationid`, or own id, is `send_id`):
    read back from messaging's own records, so a page can show it again after a reload."""
    progress = await previews.progress(recruiter_id, send_id)
    if progress is None:
        raise HTTPException(404, "messaging has taken no command of this send (yet), or it is not yours")
    return SendProgress.model_validate(progress)


@messages.get("/sends", response_model=list[RecentSend], responses=documented(401, 503))
async def recent_sends(recruiter_id: Recruiter, previews: PreviewsOf) -> list[RecentSend]:
    """The recruiter's sends of the last 24 hours, newest first (at most 5)."""
    return [RecentSend.model_validate(s) for s in await previews.recent(recruiter_id)]


class TemplateIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    subject: str = Field(min_length=1, max_length=500, description="Jinja2, one line")
    text: str = Field(min_length=1, max_length=10_000, description="Jinja2; blank lines make the HTML's paragraphs")


class TemplateOut(TemplateIn):
    template_id: str = Field(description="send it as `custom:<template_id>`")
    created_at: datetime
    updated_at: datetime


CustomTemplatesOf = Annotated[CustomTemplates, provided(CustomTemplates)]
TemplateId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
TEMPLATE_CODES: dict[int | str, dict[str, Any]] = {
    401: {"description": "no or a bad token"}, 404: {"description": "no such template among yours"},
    422: {"description": "the template does not render (the line and why), or a field is invalid"}}


def _template_out(doc: dict[str, Any]) -> TemplateOut:
    return TemplateOut.model_validate({**doc, "template_id": doc["_id"]})



@templates.post("/v1/templates", status_code=201, response_model=TemplateOut, responses={
    **TEMPLATE_CODES, 409: {"description": "the recruiter has 100 templates already"}})
async def add_template(body: TemplateIn, recruiter_id: Recruiter, custom: CustomTemplatesOf) -> TemplateOut:
    """A recruiter's own template, with the variables of the built-in ones (`prospect.first_name`,
    `job.title`, `recruiter.name`, `note`, ...): refused when it does not render, with the line."""
    return _template_out(await custom.create(recruiter_id, body.name, body.subject, body.text))


@templates.get("/v1/templates", response_model=list[TemplateOut], responses={401: {"description": "no or a bad token"}})
async def list_templates(recruiter_id: Recruiter, custom: CustomTemplatesOf) -> list[TemplateOut]:
    return [_template_out(d) for d in await custom.listed(recruiter_id)]


@templates.get("/v1/templates/{template_id}", response_model=TemplateOut, responses=TEMPLATE_CODES)
async def read_template(template_id: TemplateId, recruiter_id: Recruiter, custom: CustomTemplatesOf) -> TemplateOut:
    return _template_out(await custom.own(recruiter_id, template_id))


@templates.put("/v1/templates/{template_id}", response_model=TemplateOut, responses=TEMPLATE_CODES)
async def change_template(template_id: TemplateId, body: TemplateIn, recruiter_id: Recruiter,
                          custom: CustomTemplatesOf) -> TemplateOut:
    """Changed for what is sent from now on (mails already queued keep what they were)."""
    return _template_out(await custom.update(recruiter_id, template_id, body.name, body.subject,
                                                             body.text))


@templates.delete("/v1/templates/{template_id}", status_code=204, responses=TEMPLATE_CODES)
async def delete_template(template_id: TemplateId, recruiter_id: Recruiter, custom: CustomTemplatesOf) -> Response:
    await custom.delete(recruiter_id, template_id)
    return Response(status_code=204)


@unsubscribe.get("/unsubscribe/{token}", response_class=HTMLResponse, responses={
    404: {"description": "not a link we sent (an HTML page says so)", "content": {"text/html": {}}}})
async def unsubscribe_page(token: Token, unsubscribes: UnsubscribesOf) -> HTMLResponse:
    email = unsubscribes.email(token)
    if email is None:
        return _page("This link is not valid", "<p>It may have been cut off. Copy the whole link from the "
                                               "e-mail, or reply to the e-mail and ask not to be contacted.</p>", 404)
    return _page("Unsubscribe", f"""<p>Stop all messages about positions to <strong>{escape(email)}</strong>?</p>
<form method="post"><button type="submit">Unsubscribe</button></form>""")


@unsubscribe.post("/unsubscribe/{token}", response_class=HTMLResponse, responses={
    404: {"description": "not a link we sent; nothing changed", "content": {"text/html": {}}}})
async def unsubscribe_now(token: Token, unsubscribes: UnsubscribesOf) -> HTMLResponse:
    """RFC 8058 one-click: any POST to the link (mail clients send `List-Unsubscribe=One-Click`)."""
    email = unsubscribes.email(token)
    if email is None:
        return _page("This link is not valid", "<p>Nothing was changed.</p>", 404)
    await unsubscribes.unsubscribe(email)
    return _page("You are unsubscribed", f"<p>{escape(email)} will not receive messages about positions any more.</p>")


REFER_CODES: dict[int | str, dict[str, Any]] = {
    404: {"description": "not a link we sent (an HTML page says so)", "content": {"text/html": {}}},
    410: {"description": "the position is closed", "content": {"text/html": {}}}}


def _refer_form(job: dict[str, Any], referrer: str | None, *, name: str = "", email: str = "", note: str = "",
                problem: str | None = None) -> str:
    said = f'<p role="alert" style="color:#b91c1c">{escape(problem)}</p>' if problem else ""
    return f"""<p>{escape(referrer or "You")}, thank you for thinking of someone for the <strong>{escape(job.get("title") or "")}</strong>
position at {escape(job.get("company") or "")}{(" in " + escape(job["location"])) if job.get("location") else ""}.
Tell us who they are: we will write to them only about this position, and only if it may fit.</p>{said}
<form method="post" style="display:grid;gap:.4rem">
<label for="name">Their name</label><input id="name" name="name" required maxlength="200" value="{escape(name)}" autocomplete="off">
<label for="email">Their e-mail address</label><input id="email" name="email" type="email" required maxlength="320" value="{escape(email)}" autocomplete="off">
<label for="note">Why they may fit (optional)</label><textarea id="note" name="note" maxlength="2000" rows="4">{escape(note)}</textarea>
<p><button type="submit">Refer them</button></p></form>"""


@refer.get("/refer/{token}", response_class=HTMLResponse, responses=REFER_CODES)
async def refer_page(token: Token, referrals: ReferralsOf) -> HTMLResponse:
    """A not-a-match mail's referral page: the job, and a form for a name, an e-mail and a note."""
    try:
        message = await referrals.mail(token)
    except Refused as refused:
        return _page("This link does not take referrals", f"<p>{escape(refused.detail)}</p>", refused.status)
    return _page("Refer someone", _refer_form(message["context"]["job"], message["context"]["prospect"].get("first_name")))


@refer.post("/refer/{token}", response_class=HTMLResponse, responses={
    **REFER_CODES, 422: {"description": "the form is refused (the page says what to fix)", "content": {"text/html": {}}},
    429: {"description": "the link's 5 referrals are taken", "content": {"text/html": {}}}})
async def refer_someone(token: Token, referrals: ReferralsOf,
                        name: Annotated[str, Form(max_length=1_000)] = "",
                        email: Annotated[str, Form(max_length=1_000)] = "",
                        note: Annotated[str, Form(max_length=10_000)] = "") -> HTMLResponse:
    """The referred person becomes a prospect for the same job (board `referral`, `referred_by`
    the person we wrote to); the same person again is one; at most 5 per link."""
    try:
        done = await referrals.refer(token, name, email, note.strip() or None)
    except Refused as refused:
        if refused.status == 422:
            message = await referrals.mail(token)
            return _page("Refer someone", _refer_form(message["context"]["job"],
                                                      message["context"]["prospect"].get("first_name"), name=name,
                                                      email=email, note=note, problem=refused.detail), 422)
        return _page("This link does not take referrals", f"<p>{escape(refused.detail)}</p>", refused.status)
    recruiter = done["recruiter"].get("name") or "the recruiter"
    return _page("Thank you", f"<p>We passed {escape(done['name'])} on to {escape(recruiter)} for the "
                              f"{escape(done['job'].get('title') or '')} position. Nobody else sees what you wrote.</p>")


@inbound.post("/inbound/mail", responses={
    200: {"description": "stored (or stored before): it will be processed once"},
    400: {"description": "the client left before the body was complete"},
    401: {"description": "not authenticated"}, 404: {"description": "inbound mail is not configured"},
    408: {"description": "the body did not arrive within 30 s"},
    413: {"description": "larger than MESSAGING_INBOUND_MAX_BYTES"},
    422: {"description": "no raw message in the request"}, 503: {"description": "not stored: retry"}})
async def inbound_mail(request: Request, mails: Annotated[Inbound | None, provided(Inbound)],
                       settings: Annotated[MessagingSettings, provided(MessagingSettings)]) -> JSONResponse:
    """A mail provider's inbound webhook: the raw RFC 5322 message as the body
    (`message/rfc822`), Mailgun's MIME route (`body-mime`), Postmark's JSON with `RawEmail`,
    or Amazon SES's notification with `content`. Authenticated by MESSAGING_INBOUND_WEBHOOK_SECRET
    (bearer token, basic-auth password, or Mailgun's signature). Answers 200 only once the
    mail is stored; a replay is stored once."""
    secret = settings.inbound_webhook_secret.get_secret_value() if settings.inbound_webhook_secret else ""
    max_bytes = settings.inbound_max_bytes
    if mails is None or not secret:
        return JSONResponse({"detail": "inbound mail by webhook is not configured: set MESSAGING_INBOUND_DOMAIN "
                                       "and MESSAGING_INBOUND_WEBHOOK_SECRET"}, 404)
    # Who is asking first: a bearer token or basic-auth password is checked before a byte of
    # the body is read; Mailgun's signature lives in the form, read (bounded, joined once)
    # and parsed only when no header claims to authenticate.
    authorization = request.headers.get("authorization")
    refused = JSONResponse({"detail": "not authenticated: a bearer token, basic-auth password or Mailgun "
                                      "signature made with MESSAGING_INBOUND_WEBHOOK_SECRET"}, 401)
    if authorization and not check_webhook_auth(secret, authorization, {}):
        return refused
    try:
        body = await read_body(request, max_bytes=max_bytes * 2,  # base64 in JSON grows a third
                               deadline_s=WEBHOOK_BODY_TIMEOUT_S)
    except BodyRefused as too_bad:
        detail = f"larger than {max_bytes} bytes" if too_bad.status == 413 else too_bad.detail
        return JSONResponse({"detail": detail}, too_bad.status)
    content_type = request.headers.get("content-type", "")
    fields: dict[str, str] = {}
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        from starlette.datastructures import UploadFile
        from starlette.requests import Request as Replayed

        async def replay() -> dict[str, object]:
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Replayed(request.scope, replay).form(max_part_size=max_bytes * 2)
        except Exception:  # noqa: BLE001 - python-multipart's and starlette's refusals of a broken form
            return JSONResponse({"detail": "the form cannot be read"}, 422)
        for key, value in form.multi_items():
            fields[key] = (await value.read()).decode("utf-8", "replace") if isinstance(value, UploadFile) \
                else str(value)
    if not authorization and not check_webhook_auth(secret, None, fields):
        return refused
    try:
        raw, recipients = webhook_mail(content_type, body, fields, request.query_params.get("recipient"))
    except WebhookRefused as not_mail:
        return JSONResponse({"detail": not_mail.reason}, not_mail.status)
    if len(raw) > max_bytes:
        return JSONResponse({"detail": f"the mail is larger than {max_bytes} bytes"}, 413)
    try:
        inbound_id, new = await mails.accept(raw, recipients, "webhook")
    except Exception:  # noqa: BLE001 - not stored: the provider retries
        return JSONResponse({"detail": "not stored right now; retry"}, 503, headers={"Retry-After": "30"})
    return JSONResponse({"id": inbound_id, "stored": "new" if new else "before"})
