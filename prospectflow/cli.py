"""`prospectflow`: the recruiter's workflow and its operations from the command line.

Exit codes: 0 done; 1 an error (the message says what to do); 2 a usage error; 3 done, but some
prospects were rejected or some messages failed (the output lists them).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

from prospectflow import ops
from prospectflow.api import VIEWS, RatingApi
from prospectflow.bus import Bus
from prospectflow.config import CliSettings
from prospectflow.errors import CliError, Incomplete
from prospectflow.mailbox import read_mails
from shared import topics
from shared.contract import InquiryReceived, JobOpened, Rating, Template

T = TypeVar("T")


# --- plumbing --------------------------------------------------------------------------------------


def settings() -> CliSettings:
    try:
        return CliSettings()
    except Exception as exc:  # a malformed PROSPECTFLOW_* / KAFKA_* value
        raise CliError(f"configuration from the environment is not valid: {exc}") from None


def run(coro: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Run an async command; a CliError becomes its message on stderr and its exit code."""

    @functools.wraps(coro)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return asyncio.run(coro(*args, **kwargs))
        except CliError as exc:
            click.echo(f"prospectflow: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("prospectflow: interrupted", err=True)
            sys.exit(130)

    return wrapper


def bus() -> Bus:
    return Bus(settings().kafka)


def api(recruiter_id: str) -> RatingApi:
    s = settings()
    return RatingApi(s.api_url, s.bearer_token(recruiter_id))


@contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when it is a terminal (and only the label otherwise)."""
    if total < 200:
        yield lambda _: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, empty: str = "(none)") -> None:
    if not rows:
        click.echo(empty)
        return
    cells = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


json_option = click.option("--json", "as_json", is_flag=True, help="print JSON for scripts instead of a table")
recruiter_option = click.option("--recruiter", "recruiter_id", required=True, envvar="PROSPECTFLOW_RECRUITER",
                                metavar="ID", help="the recruiter acting (or PROSPECTFLOW_RECRUITER)")
view_option = click.option("--view", type=click.Choice(VIEWS), help="act on every prospect in this view (select all)")
job_option = click.option("--job", "job_id", metavar="JOB_ID", help="only this job's prospects")
wait_option = click.option("--no-wait", is_flag=True, help="publish and return without waiting for the result")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="prospectflow")
def main() -> None:
    """Prospectflow from the command line: publish jobs and inquiries, work through a
    recruiter's prospects, look at reminders and mails, and replay dead letters.

    It reads the same environment as the services (KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC_PREFIX,
    ...) and PROSPECTFLOW_API_URL (the rating API, default http://127.0.0.1:8080). Tokens for the
    API come from PROSPECTFLOW_TOKEN, or are minted with RATING_JWT_SECRET or the local stack's
    secret. Exit codes: 0 done, 1 error, 2 usage error, 3 some prospects rejected or mails failed.

    New here? Start the system with `make run`, then try `prospectflow demo`.
    """
    # aiokafka logs each failed connection attempt; the tool says what failed once, in its error.
    logging.getLogger("aiokafka").setLevel(logging.DEBUG if os.environ.get("PROSPECTFLOW_DEBUG") else logging.CRITICAL)


# --- publish ------------------------------------------------------------------------------------


@main.group()
def publish() -> None:
    """Publish jobs and inquiries, as a recruiting app or a job board does."""


@publish.command("job")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--update", is_flag=True, help="publish job.updated (replaces the job) instead of job.opened")
@json_option
@run
async def publish_job(file: str, update: bool, as_json: bool) -> None:
    """Open (or update) jobs from FILE: one job as JSON, or JSON Lines, each the `data` of
    job.opened as in docs/contract.md (job_id, title, company, recruiter{recruiter_id, name, email,
    timezone, reminder_hour}, apply_url, interview_url). `-` reads stdin."""
    jobs = [job for _, job in ops.load_json(file, JobOpened, "job")]
    async with bus() as b:
        events = await ops.publish_jobs(b, jobs, update=update)
    if as_json:
        emit_json([{"id": e["id"], "type": e["type"], "job_id": e["data"]["job_id"]} for e in events])
    else:
        for e in events:
            click.echo(f"published {e['type']} for {e['data']['job_id']} (event {e['id']})")


@publish.command("close-job")
@click.argument("job_id")
@run
async def publish_close_job(job_id: str) -> None:
    """Close JOB_ID: its prospects leave the follow-up views and reminders."""
    async with bus() as b:
        event = await ops.close_job(b, job_id)
    click.echo(f"published job.closed for {job_id} (event {event['id']})")


@publish.command("inquiry")
@click.option("--job", "job_id", required=True, help="the job the person asks about")
@click.option("--board", required=True, help="the job board publishing it")
@click.option("--name", required=True, help="the person's name")
@click.option("--email", required=True, help="the person's e-mail")
@click.option("--message", help="what they wrote")
@click.option("--board-inquiry-id", help="the board's own id (a repeat of it is ignored)")
@click.option("--phone")
@click.option("--location")
@click.option("--headline")
@json_option
@run
async def publish_inquiry(job_id: str, board: str, name: str, email: str, message: str | None,
                          board_inquiry_id: str | None, phone: str | None, location: str | None,
                          headline: str | None, as_json: bool) -> None:
    """Publish one inquiry, as a job board would."""
    prospect = {k: v for k, v in {"name": name, "email": email, "phone": phone, "location": location,
                                  "headline": headline}.items() if v is not None}
    data = {k: v for k, v in {"job_id": job_id, "board": board, "board_inquiry_id": board_inquiry_id,
                              "prospect": prospect, "message": message}.items() if v is not None}
    ops._validate(InquiryReceived, data, "the inquiry")
    async with bus() as b:
        event, = await ops.publish_inquiries(b, [data])
    if as_json:
        emit_json({"id": event["id"]})
    else:
        click.echo(f"published inquiry.received (event {event['id']})")


@publish.command("inquiries")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@json_option
@run
async def publish_inquiries(file: str, as_json: bool) -> None:
    """Publish the inquiries in FILE (JSON Lines; `-` reads stdin). Each line is the `data` of
    inquiry.received, or a whole CloudEvent (kept with its id). Every line is checked first; if
    any is not valid, the bad lines are listed with their numbers and nothing is published."""
    inquiries = [item for _, item in ops.load_json(file, InquiryReceived, "inquiry", "inquiries")]
    async with bus() as b:
        with progress(len(inquiries), "publishing") as bar:
            events = await ops.publish_inquiries(b, inquiries, bar)
    if as_json:
        emit_json({"published": len(events), "ids": [e["id"] for e in events]})
    else:
        click.echo(f"published {len(events)} inquiries")


# --- a recruiter's prospects -------------------------------------------------------------------------


@main.command()
@recruiter_option
@click.option("--view", type=click.Choice(VIEWS), default="needs_follow_up", show_default=True)
@job_option
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="at most this many")
@click.option("--all", "everything", is_flag=True, help="every prospect in the view (no limit)")
@json_option
@run
async def prospects(recruiter_id: str, view: str, job_id: str | None, limit: int, everything: bool,
                    as_json: bool) -> None:
    """A recruiter's prospects in a view, oldest waiting first."""
    items = [p async for p in api(recruiter_id).prospects(view, job_id=job_id, limit=None if everything else limit)]
    if as_json:
        emit_json(items)
        return
    rows = [{**p, "job": p["job_id"], "waiting_since": (p.get("waiting_since") or "")[:16].replace("T", " "),
             "flag": "followed up" if p["flagged"] else "", "last_message": (p.get("last_message") or {}).get("template")}
            for p in items]
    table(rows, ["prospect_id", "name", "email", "job", "rating", "flag", "last_message", "waiting_since"],
          empty=f"no prospects in {view}")


@main.command()
@recruiter_option
@json_option
@run
async def summary(recruiter_id: str, as_json: bool) -> None:
    """How many prospects each view holds, in total and per job."""
    result = await api(recruiter_id).summary()
    if as_json:
        emit_json(result)
    else:
        click.echo(json.dumps(result, indent=2))


async def _targets(recruiter_id: str, ids: Sequence[str], view: str | None, job_id: str | None) -> list[str]:
    if ids and view:
        raise click.UsageError("give prospect ids or --view, not both")
    if view:
        selected = await ops.select(api(recruiter_id), view, job_id)
        if not selected:
            raise CliError(f"no prospects in {view}" + (f" for {job_id}" if job_id else "") + ": nothing to do")
        return selected
    if job_id:
        raise click.UsageError("--job selects within a --view")
    if not ids:
        raise click.UsageError("give prospect ids, or --view to act on a whole view")
    return list(ids)


def _report(outcome: ops.Outcome, as_json: bool, verb: str) -> None:
    if as_json:
        emit_json(outcome.as_json())
    else:
        click.echo(f"{verb} {len(outcome.accepted)}" + (f", rejected {len(outcome.rejected)}" if outcome.rejected else ""))
        for rejection in outcome.rejected:
            click.echo(f"  rejected {rejection['prospect_id']}: {rejection['reason']}")
        if outcome.sent or outcome.failed:
            click.echo(f"sent {len(outcome.sent)}" + (f", failed {len(outcome.failed)}" if outcome.failed else ""))
        for failure in outcome.failed:
            click.echo(f"  failed {failure['to'] if 'to' in failure else failure['prospect_id']}: {failure.get('reason')}"
                       + (" (permanent)" if failure.get("permanent") else ""))
    if outcome.rejected or outcome.failed:
        sys.exit(Incomplete.exit_code)


async def _act(kind: str, recruiter_id: str, prospect_ids: tuple[str, ...], view: str | None, within: str | None,
               no_wait: bool, as_json: bool, doing: str, done: str, **fields: Any) -> None:
    """A rating command on prospects (or a whole --view) with a progress bar, then its report
    (`done`: the verb of the report; `within`: the --job that narrows the view); with --no-wait,
    only the ids published."""
    ids = await _targets(recruiter_id, prospect_ids, view, within)
    async with bus() as b:
        with progress(len(ids), doing) as bar:
            outcome = await ops.command(b, kind, recruiter_id, ids, wait=not no_wait, timeout_s=settings().timeout_s,
                                        progress=bar, **fields)
    if no_wait:
        click.echo(f"published {', '.join(outcome.command_ids)}")
        return
    _report(outcome, as_json, done)


@main.command()
@click.argument("rating", type=click.Choice([r.value for r in Rating]))
@click.argument("prospect_ids", nargs=-1, metavar="[PROSPECT_ID]...")
@recruiter_option
@view_option
@job_option
@wait_option
@json_option
@run
async def rate(rating: str, prospect_ids: tuple[str, ...], recruiter_id: str, view: str | None,
               job_id: str | None, no_wait: bool, as_json: bool) -> None:
    """Rate prospects: shortlist, not_a_fit, or unrated (undo)."""
    await _act("prospects.rate", recruiter_id, prospect_ids, view, job_id, no_wait, as_json, "rating", "rated",
               rating=rating)


@main.command()
@click.argument("prospect_ids", nargs=-1, metavar="[PROSPECT_ID]...")
@recruiter_option
@click.option("--off", is_flag=True, help="clear the flag: the prospects need follow-up again")
@view_option
@job_option
@wait_option
@json_option
@run
async def flag(prospect_ids: tuple[str, ...], recruiter_id: str, off: bool, view: str | None, job_id: str | None,
               no_wait: bool, as_json: bool) -> None:
    """Flag prospects as followed up (or clear the flag with --off)."""
    await _act("prospects.flag_follow_up", recruiter_id, prospect_ids, view, job_id, no_wait, as_json, "flagging",
               "flagged" if not off else "unflagged", flagged=not off)


@main.command()
@click.argument("prospect_ids", nargs=-1, metavar="[PROSPECT_ID]...")
@click.option("--to", "target", required=True, metavar="JOB_ID", help="the open job of yours to consider them for")
@recruiter_option
@view_option
@job_option
@wait_option
@json_option
@run
async def suggest(prospect_ids: tuple[str, ...], target: str, recruiter_id: str, view: str | None, job_id: str | None,
                  no_wait: bool, as_json: bool) -> None:
    """Consider prospects (or a whole --view, e.g. not_a_fit) for another of your open jobs: each
    becomes a prospect there, unrated, in its Needs follow-up (prospects.suggest)."""
    await _act("prospects.suggest", recruiter_id, prospect_ids, view, job_id, no_wait, as_json, "considering",
               f"considered for {target}", job_id=target)


@main.command()
@click.argument("template", type=click.Choice([t.value for t in Template]))
@click.argument("prospect_ids", nargs=-1, metavar="[PROSPECT_ID]...")
@recruiter_option
@click.option("--note", help="a personal line added to the message")
@view_option
@job_option
@wait_option
@json_option
@run
async def send(template: str, prospect_ids: tuple[str, ...], recruiter_id: str, note: str | None,
               view: str | None, job_id: str | None, no_wait: bool, as_json: bool) -> None:
    """Send a template to prospects (or to a whole --view), and wait until each mail is sent
    or failed."""
    ids = await _targets(recruiter_id, prospect_ids, view, job_id)
    fields = {"template": template} | ({"note": note} if note else {})
    async with bus() as b:
        with progress(len(ids), "sending") as bar:
            outcome = await ops.command(b, "messages.send", recruiter_id, ids, wait=not no_wait, deliveries=True,
                                        timeout_s=settings().timeout_s, progress=bar, **fields)
    if no_wait:
        click.echo(f"published {', '.join(outcome.command_ids)}")
        return
    _report(outcome, as_json, "queued")


# --- reminders and mails -----------------------------------------------------------------------------


@main.group()
def reminders() -> None:
    """The daily follow-up reminders."""


def _reminder_rows(found: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"date": r["date"], "recruiter": r["recruiter_id"], "waiting": r["pending_total"],
             "counts": " ".join(f"{k}={v}" for k, v in r["counts"].items() if v),
             "oldest": (r.get("oldest_pending_since") or "")[:16].replace("T", " "),
             "first": ", ".join(p.get("name", "?") for p in r["prospects"][:3])} for r in found]


@reminders.command("list")
@click.option("--recruiter", "recruiter_id", metavar="ID", help="only this recruiter's")
@click.option("--last", type=click.IntRange(min=1), default=10, show_default=True)
@json_option
@run
async def reminders_list(recruiter_id: str | None, last: int, as_json: bool) -> None:
    """The last reminders published."""
    async with bus() as b:
        found = await ops.last_reminders(b, recruiter_id=recruiter_id, last=last)
    if as_json:
        emit_json(found)
    else:
        table(_reminder_rows(found), ["date", "recruiter", "waiting", "counts", "oldest", "first"], empty="no reminders")


@reminders.command("run")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S"]),
              help="evaluate as of this instant (ISO 8601; UTC if no offset); default now")
@click.option("--recruiter", "recruiter_id", metavar="ID", help="only this recruiter")
@wait_option
@json_option
@run
async def reminders_run(as_of: datetime | None, recruiter_id: str | None, no_wait: bool, as_json: bool) -> None:
    """Evaluate the reminder schedule now (or as of an instant) and show the reminders it sent.
    At most one reminder per recruiter and local day still holds."""
    s = settings()
    when = (as_of or datetime.now(timezone.utc))
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    async with bus() as b:
        found = await ops.run_reminders(b, as_of=when, recruiter_id=recruiter_id,
                                        group_id=None if no_wait else s.group_id("reminder"), timeout_s=s.timeout_s)
    if no_wait:
        click.echo("published reminders.run")
    elif as_json:
        emit_json(found)
    else:
        table(_reminder_rows(found), ["date", "recruiter", "waiting", "counts", "oldest", "first"],
              empty="no new reminder (nobody waiting, not yet the hour, or already reminded that day)")


@main.command()
@click.option("--to", help="only mails whose To contains this")
@click.option("--last", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--body", is_flag=True, help="show each mail's text")
@json_option
@run
async def mails(to: str | None, last: int, body: bool, as_json: bool) -> None:
    """The mails in the local SMTP sink, as received (PROSPECTFLOW_MAILDIR, default the stack's)."""
    found = read_mails(settings().mail_folder(), to=to, last=last)
    if as_json:
        emit_json([m.summary() | ({"text": m.text()} if body else {}) for m in found])
        return
    if not body:
        table([m.summary() for m in found], ["date", "to", "subject"], empty="no mails")
        return
    for m in found:
        s = m.summary()
        click.echo(f"From: {s['from']}\nTo: {s['to']}\nReply-To: {s['reply_to']}\nSubject: {s['subject']}\n")
        click.echo(m.text().rstrip() + "\n" + "-" * 72)


# --- operations ------------------------------------------------------------------------------------


@main.group()
def dlq() -> None:
    """Dead letters: what a service could not take, and replaying it once fixed."""


@dlq.command("list")
@click.argument("topic", required=False)
@click.option("--pending", is_flag=True, help="only those not replayed yet")
@json_option
@run
async def dlq_list(topic: str | None, pending: bool, as_json: bool) -> None:
    """What is on TOPIC.dlq (e.g. `inquiries`), or on every dead-letter topic, with reasons."""
    async with bus() as b:
        names = [topic] if topic else await ops.dlq_topics(b)
        letters = [letter for name in names for letter in await ops.dead_letters(b, name)]
    if pending:
        letters = [letter for letter in letters if letter.replayed is None]
    if as_json:
        emit_json([letter.as_json() for letter in letters])
        return
    rows = [{"topic": letter.topic, "ref": letter.ref, "failed_at": letter.header("x-dlq-failed-at")[:19],
             "service": letter.header("x-dlq-service"), "reason": letter.header("x-dlq-reason"),
             "error": _short(letter.header("x-dlq-error"), 70),
             "replayed": (letter.replayed or {}).get("replayed_at", "")[:19]} for letter in letters]
    table(rows, ["topic", "ref", "failed_at", "service", "reason", "error", "replayed"], empty="no dead letters")


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@dlq.command("replay")
@click.argument("topic")
@click.argument("refs", nargs=-1, metavar="[PARTITION:OFFSET]...")
@click.option("--all", "everything", is_flag=True, help="every dead letter not replayed yet")
@click.option("--reason", help="with --all: only those dead-lettered for this reason")
@click.option("--fixed-value", type=click.Path(exists=True, dir_okay=False, allow_dash=True),
              help="replay one dead letter with this corrected value (a JSON file) instead of its own")
@click.option("--again", is_flag=True, help="replay even those replayed before")
@json_option
@run
async def dlq_replay(topic: str, refs: tuple[str, ...], everything: bool, reason: str | None, fixed_value: str | None,
                     again: bool, as_json: bool) -> None:
    """Republish dead letters of TOPIC.dlq to TOPIC, unchanged (or with --fixed-value), to be
    processed like new ones. A dead letter already replayed is skipped unless --again."""
    if bool(refs) == everything:
        raise click.UsageError("give PARTITION:OFFSET refs, or --all")
    if reason and not everything:
        raise click.UsageError("--reason goes with --all")
    value = None
    if fixed_value is not None:
        if len(refs) != 1:
            raise click.UsageError("--fixed-value replays exactly one dead letter")
        value = (sys.stdin.buffer.read() if fixed_value == "-" else Path(fixed_value).read_bytes())
        try:
            json.loads(value)
        except ValueError as exc:
            raise CliError(f"{fixed_value}: the fixed value is not JSON ({exc})") from None
    async with bus() as b:
        letters = {letter.ref: letter for letter in await ops.dead_letters(b, topic)}
        if everything:
            chosen = [letter for letter in letters.values() if reason in (None, letter.header("x-dlq-reason"))]
        else:
            wanted = {r: "{}:{}".format(*ops.parse_ref(r)) for r in refs}
            unknown = [r for r, ref in wanted.items() if ref not in letters]
            if unknown:
                raise CliError(f"no dead letter {', '.join(unknown)} on {ops.dlq_topic(topic)} "
                               "(see `prospectflow dlq list`)")
            chosen = [letters[ref] for ref in wanted.values()]
        skipped = [letter for letter in chosen if letter.replayed is not None and not again]
        chosen = [letter for letter in chosen if letter not in skipped]
        replayed = await ops.replay(b, chosen, value=value)
    if as_json:
        emit_json({"replayed": [{"ref": r.letter.ref, "to": r.to, "partition": r.partition, "offset": r.offset}
                                for r in replayed],
                   "skipped": [{"ref": s.ref, "replayed": s.replayed} for s in skipped]})
        return
    for r in replayed:
        click.echo(f"replayed {r.letter.topic} {r.letter.ref} -> {r.to} {r.partition}:{r.offset}")
    for s in skipped:
        click.echo(f"skipped {s.topic} {s.ref}: replayed already at {s.replayed['replayed_at'][:19]} (--again to repeat)")
    if not replayed and not skipped:
        click.echo("nothing to replay")


@main.command()
@json_option
@run
async def lag(as_json: bool) -> None:
    """How many records each service has not yet done, per topic (its consumer group's lag)."""
    s = settings()
    rows = []
    async with bus() as b:
        for service, consumed in topics.CONSUMED_BY.items():
            existing = [t for t in (b.topic(n) for n in consumed) if t in await b.existing_topics()]
            for topic, behind in (await b.lag(s.group_id(service), existing)).items() if existing else ():
                rows.append({"service": service, "group": s.group_id(service), "topic": topic, "lag": behind})
    if as_json:
        emit_json(rows)
    else:
        table(rows, ["service", "group", "topic", "lag"], empty="no topics yet: are the services running?")


@main.command("login-link")
@recruiter_option
@click.option("--minutes", type=click.FloatRange(min=0.1, max=60), default=5, show_default=True,
              help="how long the link works (it works once)")
def login_link(recruiter_id: str, minutes: float) -> None:
    """Print a one-time link that signs RECRUITER in to the Recruiter Dashboard
    (PROSPECTFLOW_DASHBOARD_URL, default http://127.0.0.1:8000). Signed with DASHBOARD_JWT_SECRET,
    RATING_JWT_SECRET or the local stack's secret."""
    from shared.auth import login_link as make_link

    s = settings()
    try:
        secret = s.jwt_secret(("DASHBOARD_JWT_SECRET", "RATING_JWT_SECRET"))
    except CliError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(make_link(secret, recruiter_id, s.dashboard_url, ttl_s=minutes * 60))


@main.command()
@click.option("--recruiter", "recruiter_id", default="dana", show_default=True, help="whose jobs they are")
@click.option("--email-domain", default="example.com", show_default=True, help="the sample people's addresses")
@json_option
@run
async def sample(recruiter_id: str, email_domain: str, as_json: bool) -> None:
    """Publish a small, fixed sample (two open jobs and ten inquiries from two boards) for
    RECRUITER, so the dashboard has something to show. Safe to run again: the same events and
    board inquiry ids are ignored the second time."""
    from prospectflow.boards import post_samples
    from prospectflow.sample import publish_sample

    async with bus() as b:
        jobs, inquiries = await publish_sample(b, recruiter_id, email_domain)
    s = settings()
    try:  # and one application from each board, through the gateway, as the boards send them
        posted = await post_samples(s.intake_url, s.state_dir(), f"{recruiter_id}-backend")
    except CliError as exc:
        posted, skipped = {}, str(exc)
    else:
        skipped = ""
    if as_json:
        emit_json({"jobs": jobs, "inquiries": inquiries, "board_posts": posted})
        return
    click.echo(f"published {jobs} jobs and {inquiries} inquiries for recruiter {recruiter_id}")
    if posted:
        click.echo("posted to the gateway: " + ", ".join(f"{board} {code}" for board, code in posted.items()))
    else:
        click.echo(f"posted nothing to the gateway: {skipped}")


@main.command("board-post")
@click.argument("board", type=click.Choice(["indeed", "linkedin", "ziprecruiter", "cloudevents"]))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False)
@click.option("--job", "job_id", help="post it for this job instead of the one in the file")
@click.option("--secret", help="sign with this secret instead of the board's first one")
def board_post(board: str, file: Path | None, job_id: str | None, secret: str | None) -> None:
    """Sign FILE (default: the board's sample application) as BOARD signs and post it to intake's
    gateway (PROSPECTFLOW_INTAKE_URL); prints the gateway's answer. Secrets: INTAKE_BOARD_SECRETS,
    or the local stack's board-secrets.json."""
    from prospectflow.boards import board_secrets, for_job, load_sample, signed_post

    s = settings()
    try:
        payload: Any = json.loads(file.read_text()) if file else load_sample(board)
    except ValueError as exc:
        raise click.ClickException(f"{file} is not JSON: {exc}") from None
    if job_id:
        payload = for_job(board, payload, job_id)
    try:
        if secret is None:
            secrets = board_secrets(s.state_dir()).get(board) or []
            if not secrets:
                raise CliError(f"no secret for {board} in INTAKE_BOARD_SECRETS")
            secret = secrets[0]
        response = signed_post(s.intake_url, board, json.dumps(payload).encode(), secret)
    except CliError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{response.status_code} {response.text}")
    if response.status_code >= 300:
        sys.exit(4 if response.status_code >= 500 else 1)


@main.group()
def webhooks() -> None:
    """Endpoints that receive Prospectflow's events as signed HTTPS calls (the webhooks service,
    PROSPECTFLOW_WEBHOOKS_URL), as the recruiter (`--recruiter`) whose events they get."""


def _service_call(service: str, base_url: str, variable: str, recruiter_id: str, method: str, path: str,
                  **kwargs: Any) -> Any:
    """A call to a service's API with the recruiter's token; its refusal as a CliError in its words."""
    import httpx

    try:
        response = httpx.request(method, base_url.rstrip("/") + path, timeout=30, **kwargs,
                                 headers={"Authorization": f"Bearer {settings().bearer_token(recruiter_id)}"})
    except httpx.HTTPError as exc:
        raise CliError(f"the {service} service at {base_url} did not answer ({type(exc).__name__}); "
                       f"is it running? (set {variable})") from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text
        raise CliError(f"the {service} service answered {response.status_code}: {detail}")
    return response.json() if response.content else None


def _webhooks_call(recruiter_id: str, method: str, path: str, **kwargs: Any) -> Any:
    return _service_call("webhooks", settings().webhooks_url, "PROSPECTFLOW_WEBHOOKS_URL", recruiter_id, method,
                         path, **kwargs)


def _guarded(call: Callable[[], None]) -> None:
    try:
        call()
    except CliError as exc:
        click.echo(f"prospectflow: {exc}", err=True)
        sys.exit(exc.exit_code)


recruiter_option = click.option("--recruiter", "recruiter_id", required=True, envvar="PROSPECTFLOW_RECRUITER",
                                help="whose endpoints")


@webhooks.command("add")
@click.argument("url")
@click.option("--events", required=True, help="comma-separated event types, or * for all")
@recruiter_option
@json_option
def webhooks_add(url: str, events: str, recruiter_id: str, as_json: bool) -> None:
    """Register URL for EVENTS; prints its id and its secret (shown this once)."""
    def call() -> None:
        created = _webhooks_call(recruiter_id, "POST", "/v1/endpoints",
                                 json={"url": url, "events": [e.strip() for e in events.split(",") if e.strip()]})
        if as_json:
            emit_json(created)
            return
        click.echo(f"endpoint {created['id']}\n  url:    {created['url']}\n  events: {', '.join(created['events'])}\n"
                   f"  secret: {created['secret']}  (keep it: verify each delivery's webhook-signature with it)")
    _guarded(call)


@webhooks.command("list")
@recruiter_option
@json_option
def webhooks_list(recruiter_id: str, as_json: bool) -> None:
    """The recruiter's endpoints."""
    def call() -> None:
        found = _webhooks_call(recruiter_id, "GET", "/v1/endpoints")
        if as_json:
            emit_json(found)
            return
        table([{**e, "events": ",".join(e["events"]), "disabled": (e.get("disabled") or {}).get("reason", "")}
               for e in found], ["id", "url", "events", "disabled"])
    _guarded(call)


@webhooks.command("deliveries")
@click.argument("endpoint_id")
@recruiter_option
@json_option
def webhooks_deliveries(endpoint_id: str, recruiter_id: str, as_json: bool) -> None:
    """The endpoint's last 50 deliveries, each attempt's status, time and error."""
    def call() -> None:
        found = _webhooks_call(recruiter_id, "GET", f"/v1/endpoints/{endpoint_id}/deliveries")
        if as_json:
            emit_json(found)
            return
        rows = []
        for d in found:
            last = d["attempts"][-1] if d["attempts"] else {}
            rows.append({"id": d["id"], "event": d["event_type"], "state": d["state"], "attempts": len(d["attempts"]),
                         "last": f"{last.get('status') or '-'} {last.get('error') or ''}".strip()})
        table(rows, ["id", "event", "state", "attempts", "last"])
    _guarded(call)


@webhooks.command("retry")
@click.argument("endpoint_id")
@click.argument("delivery_id")
@recruiter_option
def webhooks_retry(endpoint_id: str, delivery_id: str, recruiter_id: str) -> None:
    """Attempt a delivery again now (a dead one too), with the same webhook-id."""
    _guarded(lambda: (_webhooks_call(recruiter_id, "POST", f"/v1/endpoints/{endpoint_id}/deliveries/{delivery_id}/retry"),
                      click.echo(f"delivery {delivery_id} is pending again"))[1])


@main.group()
def inbound() -> None:
    """Mail that came back: replies, automatic answers, bounces, complaints (messaging's database)."""


@inbound.command("list")
@click.option("--all", "everything", is_flag=True, help="every stored mail, not only those kept aside")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
@run
async def inbound_list(everything: bool, limit: int, as_json: bool) -> None:
    """Inbound mails kept aside (they matched nothing we sent, or could not be read), newest first,
    with the reason.
    Reads messaging's database (MONGODB_URI, MESSAGING_DATABASE) as an operator does."""
    from prospectflow.inbound import stored_mails

    rows = await stored_mails(kept_only=not everything, limit=limit)
    if as_json:
        emit_json(rows)
        return
    table(rows, ["received_at", "state", "kind", "from", "subject", "reason"], empty="(no inbound mail kept aside)")


@inbound.command("reply")
@click.argument("email")
@click.option("--text", default="Yes, Tuesday works for me.", show_default=True, help="what the person answers")
@click.option("--out-of-office", is_flag=True, help="answer as an out-of-office auto-reply instead")
@click.option("--bounce", is_flag=True, help="bounce the message instead (a permanent 5.1.1 DSN)")
@run
async def inbound_reply(email: str, text: str, out_of_office: bool, bounce: bool) -> None:
    """Play a prospect answering the last mail they received in the local sink: a reply (or an
    out-of-office, or a bounce) to its reply or bounce address, into the inbound listener
    (MESSAGING_INBOUND_SMTP_HOST / _PORT, default 127.0.0.1:2526)."""
    from prospectflow.inbound import answer_last_mail

    click.echo(await answer_last_mail(settings().mail_folder(), email, text, out_of_office=out_of_office,
                                      bounce=bounce))


@main.group()
def sequences() -> None:
    """Follow-up sequences that run by themselves (the sequences service, PROSPECTFLOW_SEQUENCES_URL),
    as the recruiter (`--recruiter`) whose they are."""


def _sequences_call(recruiter_id: str, method: str, path: str, **kwargs: Any) -> Any:
    return _service_call("sequences", settings().sequences_url, "PROSPECTFLOW_SEQUENCES_URL", recruiter_id, method,
                         path, **kwargs)


@sequences.command("list")
@recruiter_option
@json_option
def sequences_list(recruiter_id: str, as_json: bool) -> None:
    """The recruiter's sequences, with what each step came to (sent, replied, reply rate)."""
    def call() -> None:
        found = _sequences_call(recruiter_id, "GET", "/v1/sequences")
        if as_json:
            emit_json(found)
            return
        table([{"id": q["sequence_id"], "name": q["name"], "version": q["version"], "steps": len(q["steps"]),
                "archived": "yes" if q.get("archived_at") else "",
                "sent": " ".join(str(f["sent"]) for f in q.get("figures") or []),
                "replied": " ".join(str(f["replied"]) for f in q.get("figures") or [])} for q in found],
              ["id", "name", "version", "steps", "sent", "replied", "archived"], empty="no sequences")
    _guarded(call)


@sequences.command("show")
@click.argument("sequence_id")
@recruiter_option
def sequences_show(sequence_id: str, recruiter_id: str) -> None:
    """One sequence as JSON: its steps, window and cap."""
    _guarded(lambda: emit_json(_sequences_call(recruiter_id, "GET", f"/v1/sequences/{sequence_id}")))


@sequences.command("enroll")
@click.argument("sequence_id")
@click.argument("prospect_ids", nargs=-1, metavar="[PROSPECT_ID]...")
@recruiter_option
@view_option
@job_option
@wait_option
@json_option
@run
async def sequences_enroll(sequence_id: str, prospect_ids: tuple[str, ...], recruiter_id: str, view: str | None,
                           job_id: str | None, no_wait: bool, as_json: bool) -> None:
    """Start a sequence for prospects (or a whole --view); those refused are listed with why."""
    ids = await _targets(recruiter_id, prospect_ids, view, job_id)
    async with bus() as b:
        outcome = await ops.command(b, "sequences.enroll", recruiter_id, ids, sequence_id=sequence_id,
                                    wait=not no_wait, timeout_s=settings().timeout_s)
    if no_wait:
        click.echo(f"published {', '.join(outcome.command_ids)}")
        return
    _report(outcome, as_json, "enrolled")


@sequences.command("stop")
@click.argument("prospect_ids", nargs=-1, metavar="[PROSPECT_ID]...")
@recruiter_option
@view_option
@job_option
@json_option
@run
async def sequences_stop(prospect_ids: tuple[str, ...], recruiter_id: str, view: str | None, job_id: str | None,
                         as_json: bool) -> None:
    """Stop prospects' running sequences."""
    ids = await _targets(recruiter_id, prospect_ids, view, job_id)
    async with bus() as b:
        outcome = await ops.command(b, "sequences.stop", recruiter_id, ids, timeout_s=settings().timeout_s)
    _report(outcome, as_json, "stopped")


@sequences.command("run")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S"]),
              help="evaluate as of this instant (ISO 8601; UTC if no offset); default now")
@run
async def sequences_run(as_of: datetime | None) -> None:
    """Hand every step due by now (or an instant) to messaging, and wait until it is done."""
    when = as_of or datetime.now(timezone.utc)
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    async with bus() as b:
        await ops.run_sequences(b, as_of=when, timeout_s=settings().timeout_s)
    click.echo(f"sequences evaluated as of {when.isoformat()}")


@main.group()
def privacy() -> None:
    """Forget a person everywhere (GDPR Art. 17); see docs/privacy.md."""


@privacy.command("erase")
@click.argument("email")
@click.option("--by", "requested_by", default=lambda: os.environ.get("USER", "operator"), show_default="$USER",
              help="who asks (kept in the command, for the record)")
@json_option
@run
async def privacy_erase(email: str, requested_by: str, as_json: bool) -> None:
    """Erase everything every service holds about the person with this address, and wait until
    each has answered what it removed. What stays: a keyed hash of the address where they opted
    out or bounced, so they are never mailed again."""
    async with bus() as b:
        request_id, answers = await ops.erase_person(b, email=email, requested_by=requested_by,
                                                     timeout_s=settings().timeout_s)
    missing = [s for s in topics.HOLDS_PERSONAL_DATA if s not in answers]
    if as_json:
        click.echo(json.dumps({"request_id": request_id, "answers": answers, "missing": missing}, indent=2))
    else:
        click.echo(f"erasure {request_id}")
        for service in topics.HOLDS_PERSONAL_DATA:
            answer = answers.get(service)
            if answer is None:
                click.echo(f"  {service:<10} no answer yet")
                continue
            removed = ", ".join(f"{k} {v}" for k, v in sorted(answer["removed"].items())) or "nothing held"
            click.echo(f"  {service:<10} {removed}")
        gone_by = max((a["kafka_copies_gone_by"] for a in answers.values()), default=None)
        if gone_by:
            click.echo(f"copies still in Kafka are gone by {gone_by}")
    if missing:
        click.echo(f"not answered within {settings().timeout_s:.0f} s: {', '.join(missing)} (is it running? the "
                   "request is published and is carried out when it runs)", err=True)
        sys.exit(Incomplete.exit_code)


@privacy.command("export")
@click.argument("email")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="the folder for export.json and the résumé files (default: ./export-<person id>)")
@click.option("--by", "requested_by", default=lambda: os.environ.get("USER", "operator"), show_default="$USER",
              help="the operator (the token's subject)")
@run
async def privacy_export(email: str, out: Path | None, requested_by: str) -> None:
    """Everything each service holds about the person with this address (GDPR Art. 15): one JSON
    document and the résumé files beside it."""
    from shared import ids

    s = settings()
    folder = out or Path(f"export-{ids.person_id(email.strip().lower())}")
    document, problems = await ops.export_person(email.strip().lower(), s.service_urls(),
                                                 s.operator_token(requested_by), folder, s.timeout_s)
    click.echo(f"wrote {document}")
    for service, problem in problems.items():
        click.echo(f"  {service}: {problem}", err=True)
    if problems:
        sys.exit(Incomplete.exit_code)


@main.command()
@click.option("--pause", is_flag=True, help="wait for Enter between the steps")
@run
async def demo(pause: bool) -> None:
    """Play the recruiter's day against the running services (start them with `make run`):
    a job opens, inquiries arrive (a duplicate, a malformed one), rate, filter, message,
    follow-up flags, and the next morning's reminder. Safe to run again: each run is new."""
    from prospectflow.demo import Demo

    await Demo(settings(), pause=pause).play()


if __name__ == "__main__":
    main()
