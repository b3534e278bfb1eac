"""Insights on the real stack: a known two-week scenario published on the topics, and the exact
figures the API answers for it: per board, template and sequence step, automatic answers not
counted, a bounce, an opt-out, a redelivered event counted once, another recruiter's events kept
apart; cohort against activity; CSV equal to JSON; a second service that reads the topics from
the beginning (in other batches) ends with the same figures; an erasure keeps the counts."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from shared import ids
from shared.auth import mint
from shared.messages import received
from services.insights.domain import csv_rows
from services.insights.handlers import Figures, Insights
from services.insights.store import InsightsStore
from tests.support import Kafka, Namespace, Stack, cloud_event, events, mongo_count, token

REC, OTHER = "rec-7", "rec-8"
SEQ = "seq-1"


def _job(job_id: str, recruiter_id: str, tz: str = "Europe/Berlin") -> tuple[str, dict]:
    return job_id, cloud_event("job.opened", {
        "job_id": job_id, "title": f"Job {job_id}", "company": "Acme",
        "recruiter": {"recruiter_id": recruiter_id, "name": "R", "email": "r@acme.example", "timezone": tz}},
        source="tests/ats")


class Scenario:
    """Events of a known story, by topic, with the ids a test needs."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.by_topic: dict[str, list[tuple[str, dict]]] = {"jobs": [_job("job-42", REC), _job("job-43", REC),
                                                                     _job("job-90", OTHER, "UTC")],
                                                            "prospects": [], "assessments": [], "messages": [],
                                                            "opt-outs": []}

    def email(self, who: str) -> str:
        return f"{self.tag}-{who}@example.com"

    def pid(self, who: str, job_id: str = "job-42") -> str:
        return ids.prospect_id(job_id, self.email(who))

    def inquiry(self, who: str, board: str, at: str, *, job_id: str = "job-42", again: bool = False) -> None:
        email = self.email(who)
        self.by_topic["prospects"].append((self.pid(who, job_id), cloud_event(
            "prospect.inquired_again" if again else "prospect.registered",
            {"prospect_id": self.pid(who, job_id), "person_id": ids.person_id(email), "job_id": job_id,
             "profile": {"name": who, "email": email}, "inquiry": {"board": board, "inquired_at": at}},
            source="prospectflow/intake", time=at)))

    def rated(self, who: str, rating: str, at: str) -> None:
        self.by_topic["assessments"].append((self.pid(who), cloud_event("prospect.rated", {
            "prospect_id": self.pid(who), "job_id": "job-42", "recruiter_id": REC, "rating": rating,
            "previous_rating": "unrated", "command_id": f"c-{who}"}, source="prospectflow/rating", time=at)))

    def _message(self, type_: str, who: str, at: str, job_id: str, recruiter_id: str, **data: Any) -> dict:
        event = cloud_event(type_, {"message_id": f"m-{who}-{at}", "prospect_id": self.pid(who, job_id),
                                   "job_id": job_id, "recruiter_id": recruiter_id, **data},
                            source="prospectflow/messaging", time=at)
        self.by_topic["messages"].append((self.pid(who, job_id), event))
        return event

    def sent(self, who: str, template: str, at: str, *, step: int | None = None, job_id: str = "job-42",
             recruiter_id: str = REC) -> dict:
        return self._message("message.sent", who, at, job_id, recruiter_id, command_id=f"c-{who}-{at}",
                             template=template, to=self.email(who), subject="s", sent_at=at,
                             **({"sequence": {"enrollment_id": f"e-{who}", "sequence_id": SEQ, "step": step}}
                                if step else {}))

    def answered(self, type_: str, who: str, at: str, *, job_id: str = "job-42", recruiter_id: str = REC,
                 **data: Any) -> None:
        self._message(type_, who, at, job_id, recruiter_id, received_at=at, **data)

    def opted_out(self, who: str, at: str) -> None:
        self.by_topic["opt-outs"].append((self.email(who), cloud_event("prospect.opted_out", {
            "email": self.email(who), "reason": "unsubscribe"}, source="prospectflow/messaging", time=at)))


def story(tag: str) -> Scenario:
    """Two weeks (Mon 30 Nov to Sun 13 Dec 2026) of rec-7's follow-up in Berlin, and one of rec-8's."""
    s = Scenario(tag)
    # a: acme-board, contacted after 1.5 h, replied the next day.
    s.inquiry("a", "acme-board", "2026-12-01T08:00:00Z")
    first_a = s.sent("a", "ask_to_apply", "2026-12-01T09:30:00Z")
    s.rated("a", "shortlist", "2026-12-01T10:00:00Z")
    s.answered("message.replied", "a", "2026-12-02T10:00:00Z", **{"from": s.email("a"), "subject": "Re", "text": "yes"})
    s.by_topic["messages"].append((s.pid("a"), first_a))  # delivered twice: counted once
    # b: acme-board, not a fit, declined after a day; an out-of-office answer is not a reply.
    s.inquiry("b", "acme-board", "2026-12-01T09:00:00Z")
    s.rated("b", "not_a_fit", "2026-12-01T11:00:00Z")
    s.sent("b", "not_a_match", "2026-12-02T09:00:00Z")
    s.answered("message.auto_replied", "b", "2026-12-02T09:05:00Z", kind="out_of_office")
    # c: other-board, a sequence: step 1 after 2 h, step 2 the next week, the reply to step 2.
    s.inquiry("c", "other-board", "2026-12-04T10:00:00Z")
    s.sent("c", "ask_to_apply", "2026-12-04T12:00:00Z", step=1)
    s.sent("c", "follow_up", "2026-12-08T12:00:00Z", step=2)
    s.answered("message.replied", "c", "2026-12-09T08:00:00Z", **{"from": s.email("c"), "subject": "Re", "text": "ok"})
    # d: other-board, inquired again through acme-board; the interview mail bounced for good.
    s.inquiry("d", "other-board", "2026-12-03T10:00:00Z")
    s.inquiry("d", "acme-board", "2026-12-04T10:00:00Z", again=True)
    s.sent("d", "arrange_interview", "2026-12-03T11:00:00Z")
    s.answered("message.bounced", "d", "2026-12-03T11:01:00Z", permanent=True, status="5.1.1")
    # e: the second week, on job-43; opted out; never contacted.
    s.inquiry("e", "acme-board", "2026-12-08T10:00:00Z", job_id="job-43")
    s.opted_out("e", "2026-12-09T10:00:00Z")
    # f: rec-8's, who is not rec-7's business.
    s.inquiry("f", "acme-board", "2026-12-01T08:00:00Z", job_id="job-90")
    s.sent("f", "ask_to_apply", "2026-12-01T08:10:00Z", job_id="job-90", recruiter_id=OTHER)
    s.answered("message.replied", "f", "2026-12-01T09:00:00Z", job_id="job-90", recruiter_id=OTHER,
               **{"from": s.email("f"), "subject": "Re", "text": "hi"})
    return s


def two_weeks_by_activity() -> dict[str, Any]:
    return {
        "inquiries": 6, "prospects": 5, "rated": 2, "shortlisted": 1, "contacted": 4, "replied": 2, "reply_rate": 0.5,
        "bounced": 1, "complained": 0, "opted_out": 1,
        # 1.5 h, 24 h, 2 h, 1 h: the median (nearest rank) is 1.5 h, p90 24 h.
        "time_to_first_contact_s": {"median": 5400, "p90": 86400, "count": 4},
        "by_board": {"acme-board": {"inquiries": 4, "contacted": 2, "replied": 1},
                     "other-board": {"inquiries": 2, "contacted": 2, "replied": 1}},
        "by_template": {"arrange_interview": {"sent": 1, "replied": 0, "reply_rate": 0.0},
                        "ask_to_apply": {"sent": 2, "replied": 1, "reply_rate": 0.5},
                        "follow_up": {"sent": 1, "replied": 1, "reply_rate": 1.0},
                        "not_a_match": {"sent": 1, "replied": 0, "reply_rate": 0.0}},
        "by_step": {f"{SEQ}:1": {"sent": 1, "replied": 0, "reply_rate": 0.0},
                    f"{SEQ}:2": {"sent": 1, "replied": 1, "reply_rate": 1.0}},
    }


async def publish(kafka: Kafka, ns: Namespace, s: Scenario) -> None:
    for topic, items in s.by_topic.items():
        await kafka.send_many(ns.topic(topic), items)


def get(service: Any, query: str, bearer: str) -> httpx.Response:
    return httpx.get(f"{service.http}/v1/insights?{query}", headers={"Authorization": f"Bearer {bearer}"}, timeout=10)


def figures(service: Any, query: str, bearer: str) -> dict[str, Any]:
    answer = get(service, query, bearer)
    assert answer.status_code == 200, answer.text
    return answer.json()


def subset(answer: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    return {k: answer[k] for k in expected}


WEEK1, WEEK2, BOTH = "from=2026-11-30&to=2026-12-06", "from=2026-12-07&to=2026-12-13", "from=2026-11-30&to=2026-12-13"


async def test_known_figures_once_each_apart_by_recruiter_and_reading(ns: Namespace, kafka: Kafka):
    insights = ns.start("insights")
    s = story(ns.name)
    await publish(kafka, ns, s)
    await kafka.caught_up(ns, "insights")
    mine = token(ns.jwt_secret, REC)

    both = figures(insights, BOTH, mine)
    assert subset(both, two_weeks_by_activity()) == two_weeks_by_activity()
    assert both["by_day"][0] == {"date": "2026-12-01", "inquiries": 2, "contacted": 1, "replied": 0}

    # Activity counts what happened in the week; cohort what became of the week's inquirers.
    week1 = figures(insights, WEEK1, mine)
    assert subset(week1, {"inquiries": 5, "contacted": 4, "replied": 1, "opted_out": 0}) == {
        "inquiries": 5, "contacted": 4, "replied": 1, "opted_out": 0}
    cohort1 = figures(insights, WEEK1 + "&reading=cohort", mine)
    assert subset(cohort1, {"inquiries": 5, "prospects": 4, "contacted": 4, "replied": 2, "opted_out": 0}) == {
        "inquiries": 5, "prospects": 4, "contacted": 4, "replied": 2, "opted_out": 0}
    assert cohort1["by_template"]["follow_up"] == {"sent": 1, "replied": 1, "reply_rate": 1.0}
    week2 = figures(insights, WEEK2, mine)
    assert subset(week2, {"inquiries": 1, "prospects": 1, "contacted": 0, "replied": 1, "opted_out": 1}) == {
        "inquiries": 1, "prospects": 1, "contacted": 0, "replied": 1, "opted_out": 1}
    cohort2 = figures(insights, WEEK2 + "&reading=cohort", mine)
    assert subset(cohort2, {"inquiries": 1, "prospects": 1, "contacted": 0, "replied": 0, "opted_out": 1}) == {
        "inquiries": 1, "prospects": 1, "contacted": 0, "replied": 0, "opted_out": 1}

    # One job; another recruiter's figures are theirs; an operator reads one or everyone.
    job43 = figures(insights, BOTH + "&job_id=job-43", mine)
    assert (job43["inquiries"], job43["opted_out"], job43["contacted"]) == (1, 1, 0)
    assert get(insights, BOTH + "&job_id=job-90", mine).status_code == 404
    assert get(insights, BOTH + f"&recruiter_id={OTHER}", mine).status_code == 403
    theirs = figures(insights, BOTH, token(ns.jwt_secret, OTHER))
    assert (theirs["inquiries"], theirs["contacted"], theirs["replied"]) == (1, 1, 1)
    operator = mint(ns.jwt_secret, "ops@acme.example", ttl_s=600, scope="insights")
    everyone = figures(insights, BOTH, operator)
    assert (everyone["inquiries"], everyone["contacted"], everyone["replied"]) == (7, 5, 3)
    assert everyone["time_to_first_contact_s"] == {"median": 5400, "p90": 86400, "count": 5}
    assert figures(insights, BOTH + f"&recruiter_id={REC}", operator) == both
    assert get(insights, BOTH, "not-a-token").status_code == 401
    assert get(insights, "from=2026-12-13&to=2026-12-01", mine).status_code == 422

    # CSV: the same figures as the JSON.
    answer = get(insights, BOTH + "&format=csv", mine)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == ["section", "key", "figure", "value"]
    assert rows[1:] == [[str("" if v is None else v) for v in row] for row in csv_rows(both)]

    # A second service reading the topics from the beginning, three records a batch, agrees.
    group = f"{ns.name}-insights-backfill"
    backfill = ns.start("insights", INSIGHTS_GROUP_ID=group, INSIGHTS_DATABASE=f"{ns.name}-insights-backfill",
                        INSIGHTS_BATCH_MAX_RECORDS="3")
    await kafka.caught_up(ns, "insights", group=group)
    assert figures(backfill, BOTH, mine) == both
    assert figures(backfill, WEEK1 + "&reading=cohort", mine) == cohort1
    assert figures(backfill, BOTH, operator) == everyone

    # An erasure removes what is kept of the person, not the counts.
    assert await mongo_count(ns.stack, ns.database("insights"), "prospects", {"_id": s.pid("a")}) == 1
    await kafka.send_event(ns.topic("privacy-commands"), cloud_event(
        "person.erase", {"email": s.email("a"), "requested_by": "ops@acme.example", "reason": "request"},
        source="tests/ops"), key=s.email("a"))
    erased = events(await kafka.read(ns.topic("privacy"), until=lambda rs: any(
        e["data"]["service"] == "insights" and e["data"]["person_id"] == ids.person_id(s.email("a"))
        for e in events(rs)), timeout_s=90))
    assert [e["data"]["removed"] for e in erased if e["data"]["service"] == "insights"][0]["prospects"] == 1
    assert await mongo_count(ns.stack, ns.database("insights"), "prospects", {"_id": s.pid("a")}) == 0
    assert figures(insights, BOTH, mine) == both


class Crashing(InsightsStore):
    """The real store, dying once part-way through counting a batch: after the prospects are
    written and before the buckets take the difference (`before_add`), or after the buckets did
    and before the batch is noted done (`before_done`)."""

    def __init__(self, db: Any, at: str) -> None:
        super().__init__(db)
        self.at, self.armed = at, True

    def _crash(self, where: str) -> None:
        if self.armed and self.at == where:
            self.armed = False
            raise ConnectionResetError(f"the process died {where}")

    async def add(self, token: str, increments: Any, clear: Any = ()) -> None:
        if increments:
            self._crash("before_add")
        await super().add(token, increments, clear)

    async def mark_done(self, token: str) -> None:
        self._crash("before_done")
        await super().mark_done(token)


@pytest.mark.parametrize("at", ["before_add", "before_done"])
@pytest.mark.parametrize("then", ["redelivered", "redelivered_to_another", "swept_by_another"])
async def test_a_crash_part_way_counts_nothing_twice(stack: Stack, at: str, then: str):
    s = story(f"crash{uuid.uuid4().hex[:8]}")
    batch = [received(topic, event) for topic, items in s.by_topic.items() for _, event in items]
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_uri, tz_aware=True)
    name = f"insights-crash-{uuid.uuid4().hex[:8]}"
    try:
        store = Crashing(client[name], at)
        await store.ensure_indexes()
        counting = Insights(store)
        with pytest.raises(ConnectionResetError):
            await counting(batch)
        if then != "redelivered":  # a new process, once the batch is stale
            counting = Insights(store, stale_s=0.0)
        if then == "swept_by_another":  # the events are never seen again (committed elsewhere)
            await counting.sweep()
        else:  # redelivered: in two parts, and whole again
            await counting(batch[:7])
            await counting(batch)
        answer = await Figures(store).of(REC, start=date(2026, 11, 30), end=date(2026, 12, 13), reading="activity")
        assert subset(answer, two_weeks_by_activity()) == two_weeks_by_activity()
        await counting.sweep()  # what done batches left is tidied
        assert await store.prospects.count_documents({"pending": {"$exists": True}}) == 0
        assert await store.buckets.count_documents({"a": {"$ne": {}}}) == 0
        assert subset(await Figures(store).of(REC, start=date(2026, 11, 30), end=date(2026, 12, 13),
                                              reading="activity"), two_weeks_by_activity()) == two_weeks_by_activity()
    finally:
        await client.drop_database(name)
        await client.close()
