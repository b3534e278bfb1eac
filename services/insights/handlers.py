"""The insights service's use cases: a batch of events becomes facts kept per prospect and the
difference they make to the day buckets (exactly once), and the figures of a period read back.

How a batch counts once: each prospect's facts are kept by event id (a fact seen again is not
new), and the prospect's write also records the batch's token and the difference it will add
(`pending`). The buckets then take the difference under that token (a bucket takes a token
once), and the batch is noted done. If the process dies in between, the redelivered events (or
the sweep, for prospects not seen again) find their prospects' pending difference of a batch
not done: the batch is applied again, whole, under its own token, which adds nothing to the
buckets that had it already. A done batch's pending differences and bucket marks are only
clutter: the next write of the prospect or bucket, or the sweep, clears them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterable
from datetime import date
from typing import Any

from prometheus_client import Counter

from shared import ids
from shared.contract import (
    JobOpened, MessageBounced, MessageComplained, MessageReplied, MessageSent, ProspectOptedOut, ProspectRated,
    ProspectRegistered,
)
from shared.logs import get_logger
from shared.messages import Received
from shared.refusals import Refused
from shared.retry import InfrastructureError

from services.insights import domain
from services.insights.domain import ALL, Job, Paths
from services.insights.store import InsightsStore

log = get_logger("prospectflow.insights")
FACTS = Counter("prospectflow_insights_facts_total", "Facts counted (an event seen again is not counted)", ["kind"])
RECOVERED = Counter("prospectflow_insights_recovered_total",
                    "Batches whose counting was finished by a later batch (after a crash or a failed attempt)")
MOST_DAYS = 3_700


class Busy(InfrastructureError):
    """Another writer is counting the same prospects right now; the batch is tried again."""


def _flat(paths: dict[str, Paths]) -> list[list[Any]]:
    return [[bucket, path, n] for bucket, p in sorted(paths.items()) for path, n in sorted(p.items())]


def _nested(rows: Iterable[list[Any]] | None) -> dict[str, Paths]:
    out: dict[str, Paths] = defaultdict(dict)
    for bucket, path, n in rows or ():
        out[bucket][path] = n
    return dict(out)


def facts_of(batch: list[Received]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, dict[str, Any]]],
                                             dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """(jobs, facts by prospect and event key, who each prospect is (job, person), opt-outs by
    person and event key) of a batch."""
    jobs: dict[str, dict[str, Any]] = {}
    facts: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    who: dict[str, dict[str, str]] = defaultdict(dict)
    opt_outs: dict[str, dict[str, str]] = defaultdict(dict)
    for r in batch:
        kind, data, event = r.event.type, r.data, domain.key(r.event.id)
        fact: dict[str, Any] | None = None
        if kind in ("job.opened", "job.updated"):
            job = r.of(JobOpened).data
            jobs[job.job_id] = {"recruiter_id": job.recruiter.recruiter_id, "timezone": job.recruiter.timezone}
        elif kind in ("prospect.registered", "prospect.inquired_again"):
            p = r.of(ProspectRegistered).data
            fact = {"k": "inquiry", "at": p.inquiry.inquired_at.isoformat(), "board": p.inquiry.board}
            who[p.prospect_id].update(job_id=p.job_id, person_id=p.person_id)
        elif kind == "prospect.rated":
            rated = r.of(ProspectRated).data
            fact = {"k": "rated", "at": r.time.isoformat(), "rating": rated.rating.value}
        elif kind == "message.sent":
            sent = r.of(MessageSent).data
            step = f"{sent.sequence.sequence_id}:{sent.sequence.step}" if sent.sequence else None
            fact = {"k": "sent", "at": sent.sent_at.isoformat(), "template": sent.template, "step": step}
        elif kind == "message.replied":
            fact = {"k": "replied", "at": r.of(MessageReplied).data.received_at.isoformat()}
        elif kind == "message.bounced":
            bounced = r.of(MessageBounced).data
            fact = {"k": "bounced", "at": bounced.received_at.isoformat(), "permanent": bounced.permanent}
        elif kind == "message.complained":
            fact = {"k": "complained", "at": r.of(MessageComplained).data.received_at.isoformat()}
        elif kind == "prospect.opted_out":
            opt_outs[ids.person_id(r.of(ProspectOptedOut).data.email)][event] = r.time.isoformat()
            FACTS.labels("opted_out").inc()
        if fact is not None:
            prospect_id = getattr(data, "prospect_id")
            facts[prospect_id][event] = fact
            who[prospect_id].setdefault("job_id", getattr(data, "job_id"))
    return jobs, dict(facts), dict(who), dict(opt_outs)


class Insights:
    def __init__(self, store: InsightsStore, *, stale_s: float = 60.0, attempts: int = 5) -> None:
        self.store = store
        self.stale_s = stale_s
        self.attempts = attempts
        self.abandoned: set[str] = set()  # tokens of this process' attempts that failed part-way
        self.finished: deque[str] = deque(maxlen=4)  # this process' last done batches: their marks go next time
        self.one_at_a_time = asyncio.Lock()  # a batch and the sweep never interleave in one process

    async def __call__(self, batch: list[Received]) -> None:
        async with self.one_at_a_time:
            await self._batch(batch)

    async def _batch(self, batch: list[Received]) -> None:
        jobs, facts, who, opt_outs = facts_of(batch)
        moved = await self.store.save_jobs(jobs)
        opted = await self.store.add_opt_outs(opt_outs)
        again = await self.store.prospects_of(job_ids=moved, person_ids=opted)
        wanted = set(facts) | again
        for _ in range(self.attempts):
            token = f"{int(time.time())}-{uuid.uuid4().hex[:12]}"
            try:
                wanted = await self._count(token, wanted, facts, who, again)
            except BaseException:
                self.abandoned.add(token)
                raise
            if not wanted:
                return
        raise Busy(f"{len(wanted)} prospects were written by another replica at each of {self.attempts} attempts")

    def _stale(self, token: str, now: float) -> bool:
        return token in self.abandoned or now - int(token.split("-", 1)[0]) >= self.stale_s

    async def _recover(self, docs: dict[str, dict[str, Any]]) -> None:
        """Finish what a failed attempt left pending (this process' own, or any older than
        `stale_s`: its writer is gone); Busy while a live writer may still finish it. A batch is
        finished whole (every prospect it left pending, not only those of this batch)."""
        tokens = {doc["pending"]["t"] for doc in docs.values() if doc.get("pending")}
        done = await self.store.done(tokens)
        now = time.time()
        for token in sorted(tokens - done):
            if not self._stale(token, now):
                raise Busy(f"prospects are being counted by another writer (batch {token})")
            await self._finish(token)
        for doc in docs.values():
            if doc.get("pending"):
                doc.pop("pending")  # done now: this batch's write replaces or clears it

    async def _finish(self, token: str) -> None:
        pending = await self.store.pending_of(token)
        total: dict[str, Paths] = {}
        for doc in pending:
            domain.add_into(total, _nested(doc["pending"]["d"]))
        await self._apply(token, total)
        RECOVERED.inc()
        log.warning("finished counting a batch left part-way", extra={"token": token, "prospects": len(pending)})

    async def _apply(self, token: str, total: dict[str, Paths]) -> None:
        """Add a batch's difference to the buckets under its token, then note the batch done
        (from then on its pending differences and marks are clutter, cleared lazily)."""
        if not total:
            return  # nothing pending under it anywhere
        await self.store.add(token, total, clear=list(self.finished))
        await self.store.mark_done(token)
        self.finished.append(token)

    async def sweep(self, _now: Any = None) -> None:
        """Tidy and finish: clear the pending differences and bucket marks of done batches, and
        finish the batches left part-way whose prospects no batch has met since (`stale_s`)."""
        async with self.one_at_a_time:
            await self._sweep()

    async def _sweep(self) -> None:
        tokens = set(await self.store.pending_tokens())
        done = await self.store.done(tokens)
        now = time.time()
        for token in sorted(tokens - done):
            if self._stale(token, now):
                await self._finish(token)
                done.add(token)
        await self.store.clear_pending(done)
        marked = await self.store.marked_buckets()
        done_marks = await self.store.done({t for _, marks in marked for t in marks})
        await self.store.clear_marks({b: [t for t in marks if t in done_marks] for b, marks in marked})
        # A done batch no prospect or bucket refers to any more is forgotten (old enough that no
        # writer of its time is still at work).
        await self.store.forget_batches({t for t in done | done_marks if now - int(t.split("-", 1)[0]) > 3_600})

    async def _count(self, token: str, wanted: set[str], facts: dict[str, dict[str, dict[str, Any]]],
                     who: dict[str, dict[str, str]], again: set[str]) -> set[str]:
        """Count the prospects' new facts under `token`; the prospects to count again (written by
        another replica between read and write)."""
        docs = await self.store.prospect_docs(wanted)
        await self._recover(docs)
        job_of = {pid: (docs.get(pid) or {}).get("job_id") or who.get(pid, {}).get("job_id") for pid in wanted}
        person_of = {pid: (docs.get(pid) or {}).get("person_id") or who.get(pid, {}).get("person_id") for pid in wanted}
        jobs = await self.store.job_docs(j for j in job_of.values() if j)
        opt_outs = await self.store.opt_outs(p for p in person_of.values() if p)
        new: list[dict[str, Any]] = []
        updates: list[tuple[str, str | None, dict[str, Any]]] = []
        differences: dict[str, dict[str, Paths]] = {}
        for pid in sorted(wanted):
            doc = docs.get(pid)
            known = (doc or {}).get("events") or {}
            adding = {k: f for k, f in facts.get(pid, {}).items() if k not in known}
            if not adding and (doc is None or pid not in again):
                continue  # nothing new (a redelivery)
            job_id, person_id = job_of[pid], person_of[pid]
            job_doc = jobs.get(job_id or "")
            contribution: dict[str, Paths] = {}
            if job_doc is not None and job_id:
                job = Job(job_doc["recruiter_id"], job_doc.get("timezone") or "UTC")
                contribution = domain.bucket_paths(
                    domain.contribution({**known, **adding}, job, opt_outs.get(person_id or "", [])),
                    job.recruiter_id, job_id)
            difference = domain.difference(contribution, _nested((doc or {}).get("contrib")))
            fields: dict[str, Any] = {"contrib": _flat(contribution), "w": token, "job_id": job_id}
            if person_id:
                fields["person_id"] = person_id
            if difference:
                fields["pending"] = {"t": token, "d": _flat(difference)}
                differences[pid] = difference
            if doc is None:
                new.append({"_id": pid, "events": adding, **fields})
            else:
                update: dict[str, Any] = {"$set": {**{f"events.{k}": f for k, f in adding.items()}, **fields}}
                if not difference:
                    update["$unset"] = {"pending": ""}  # a done batch's, if any
                updates.append((pid, doc.get("w"), update))
            for fact in adding.values():
                FACTS.labels(fact["k"]).inc()
        lost = await self.store.write_prospects(token, new, updates)
        total: dict[str, Paths] = {}
        for pid, difference in differences.items():
            if pid not in lost:
                domain.add_into(total, difference)
        await self._apply(token, total)
        return lost


class Figures:
    """`GET /v1/insights`: a period's figures for a recruiter (or every recruiter), optionally of
    one job, by either reading."""

    def __init__(self, store: InsightsStore) -> None:
        self.store = store

    async def of(self, recruiter_id: str | None, *, start: date, end: date, reading: str,
                 job_id: str | None = None) -> dict[str, Any]:
        if end < start:
            raise Refused(422, "`to` is before `from`")
        if (end - start).days > MOST_DAYS:
            raise Refused(422, f"a period is at most {MOST_DAYS} days")
        if job_id is not None:
            job = (await self.store.job_docs([job_id])).get(job_id)
            if job is None or (recruiter_id is not None and job["recruiter_id"] != recruiter_id):
                raise Refused(404, "no such job among yours")
            recruiter_id = job["recruiter_id"]
        whose = recruiter_id or ALL
        part = f"j.{domain.key(job_id)}" if job_id else "f"
        days = await self.store.days(whose, reading, start.isoformat(), end.isoformat(), {"day": 1, part: 1})
        counters = ((d["day"], d.get("j", {}).get(domain.key(job_id), {}) if job_id else d.get("f", {})) for d in days)
        return domain.figures(counters, start=start.isoformat(), end=end.isoformat(), reading=reading)
