"""What an operator sees, on the real stack: /health, /ready and /metrics on every service, one
trace from an inquiry to the reminder, and an outage logged once each way."""

from __future__ import annotations

import asyncio
import json
import uuid

from shared import ids
from tests.integration.test_rating import RECRUITER, flag, job_opened, on_board, rate, results_for
from tests.support import (
    ROOT, Kafka, Namespace, SpanSink, cloud_event, eventually, events, http_get, http_text, metric,
)

SERVICES = ("intake", "rating", "messaging", "reminder")
FAST_WATCH = {f"{s.upper()}_WATCH_INTERVAL_S": "0.3" for s in SERVICES}


def inquiry(email: str, **extra: str) -> dict:
    return cloud_event("inquiry.received", {"job_id": "job-42", "board": "acme-board",
                                            "prospect": {"name": "Lee Park", "email": email}}, **extra)


async def ready(process) -> dict:
    import urllib.error

    async def answer():
        try:
            status, body = http_get(f"{process.http}/ready")
        except urllib.error.URLError:
            return None  # not listening yet
        return body if status == 200 else None
    return await eventually(answer, timeout_s=60)


def metrics(process) -> str:
    status, text = http_text(f"{process.http}/metrics")
    assert status == 200
    return text


async def test_every_service_answers_health_ready_and_metrics(ns: Namespace, kafka: Kafka):
    procs = {s: ns.start(s, **FAST_WATCH) for s in SERVICES}
    for process in procs.values():
        assert await ready(process) == {"status": "ready"}
        assert http_get(f"{process.http}/health") == (200, {"status": "ok"})

    await kafka.send_event(ns.topic("jobs"), job_opened(), key="job-42")
    await kafka.send_event(ns.topic("inquiries"), inquiry("lee@example.com"), key="lee@example.com")
    await kafka.send_raw(ns.topic("inquiries"), b"{not json", key="x")
    pid = ids.prospect_id("job-42", "lee@example.com")
    await on_board(ns, 1, {"_id": pid, "recruiter_id": RECRUITER})
    command = rate([pid, "p-unknown"], "shortlist")
    await kafka.send_event(ns.topic("rating-commands"), command, key=RECRUITER)
    await results_for(kafka, ns, {command["id"]})
    send = cloud_event("messages.send", {"recruiter_id": RECRUITER, "prospect_ids": [pid], "template": "ask_to_apply"},
                       source="tests/app")
    await kafka.send_event(ns.topic("messaging-commands"), send, key=RECRUITER)
    await kafka.read(ns.topic("messages"), count=1, timeout_s=60)
    for service in SERVICES:
        await kafka.caught_up(ns, service)

    intake = metrics(procs["intake"])
    assert metric(intake, "prospectflow_events_consumed_total", topic="inquiries", type="inquiry.received") == 1
    assert metric(intake, "prospectflow_events_consumed_total", topic="inquiries", type="invalid") == 1
    assert metric(intake, "prospectflow_dead_letters_total", topic="inquiries", reason="not_json") == 1
    assert metric(intake, "prospectflow_events_published_total", topic="prospects", type="prospect.registered") == 1
    assert metric(intake, "prospectflow_batch_seconds_count") >= 1
    # intake reads `jobs` too (its gateway answers 404/410 from them): the job and the inquiry
    assert metric(intake, "prospectflow_events_consumed_total", topic="jobs", type="job.opened") == 1
    assert metric(intake, "prospectflow_event_age_seconds_count") == 2
    rating = metrics(procs["rating"])
    assert metric(rating, "prospectflow_commands_total", type="prospects.rate", outcome="partly_rejected") == 1
    assert metric(rating, "prospectflow_events_published_total", topic="assessments", type="prospect.rated") == 1
    messaging = metrics(procs["messaging"])
    assert metric(messaging, "prospectflow_mails_total", template="ask_to_apply", result="sent") == 1
    assert metric(messaging, "prospectflow_commands_total", type="messages.send", outcome="accepted") == 1
    assert "prospectflow_reminder_evaluation_seconds" in metrics(procs["reminder"])

    # Lag per assigned partition: every partition of every input topic, and 0 once caught up.
    async def lag_zero(process, topic: str):
        text = metrics(process)
        partitions = {s.labels["partition"] for s in _samples(text, "prospectflow_consumer_lag", topic=topic)}
        return partitions == {str(p) for p in range(6)} and metric(text, "prospectflow_consumer_lag", topic=topic) == 0
    for service, topic in (("intake", "inquiries"), ("rating", "prospects"), ("reminder", "assessments"),
                           ("messaging", "messaging-commands")):
        await eventually(lambda: lag_zero(procs[service], topic), timeout_s=30)

    # Prometheus (as `make run` starts it) scrapes all four, and has loaded the alert rules.
    from devstack.stack import prometheus_ready, start_prometheus
    from tests.support import free_port

    port = free_port()
    prometheus = start_prometheus(ROOT / ".devstack" / "test-logs" / ns.name / "prometheus", port,
                                  {s: p.http.removeprefix("http://") for s, p in procs.items()}, interval_s=0.5)
    try:
        await eventually(lambda: prometheus_ready(port), timeout_s=30)

        def query(expr: str):
            import urllib.parse
            status, body = http_get(f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(expr)}")
            return {r["metric"].get("job"): float(r["value"][1]) for r in body["data"]["result"]} if status == 200 else {}
        everyone = {f"prospectflow-{s}": 1.0 for s in SERVICES}
        await eventually(lambda: query("up") == everyone and query("prospectflow_ready") == everyone, timeout_s=30)
        assert query('sum by (job) (prospectflow_events_consumed_total{topic="inquiries"})') == {"prospectflow-intake": 2.0}
        status, rules = http_get(f"http://127.0.0.1:{port}/api/v1/rules")
        assert len([r for g in rules["data"]["groups"] for r in g["rules"]]) == 6
        # Every query of the Grafana dashboard is valid PromQL over these metrics.
        import urllib.parse
        dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "prospectflow.json").read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                status, body = http_get(f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(target['expr'])}")
                assert status == 200 and body["status"] == "success", (panel["title"], body)
        lag = query("sum by (job, topic) (prospectflow_consumer_lag)")
        assert set(lag) == {f"prospectflow-{s}" for s in SERVICES}
    finally:
        prometheus.terminate()
        prometheus.wait()


def _samples(text: str, name: str, **labels: str) -> list:
    from prometheus_client.parser import text_string_to_metric_families

    return [s for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


async def test_lag_metric_counts_what_is_not_committed(ns: Namespace, kafka: Kafka):
    """Stopped, the group commits nothing: a second replica started later reports the backlog of
    its partitions until it has worked it off."""
    intake = ns.start("intake", **FAST_WATCH)
    await ready(intake)
    intake.stop()
    await kafka.send_many(ns.topic("inquiries"), [(f"p{i}@example.com", inquiry(f"p{i}@example.com"))
                                                  for i in range(300)])
    again = ns.start("intake", **FAST_WATCH, INTAKE_BATCH_MAX_RECORDS="1")  # slow enough to be seen
    await ready(again)
    seen = await eventually(lambda: metric(metrics(again), "prospectflow_consumer_lag", topic="inquiries"),
                            timeout_s=60, interval_s=0.05)
    assert 0 < seen <= 300
    await kafka.caught_up(ns, "intake")
    await eventually(lambda: metric(metrics(again), "prospectflow_consumer_lag", topic="inquiries") == 0, timeout_s=30)


async def test_ready_names_the_database_when_it_is_down(ns: Namespace, kafka: Kafka, private_ferretdb):
    intake = ns.start("intake", MONGODB_URI=private_ferretdb.uri, INTAKE_WATCH_INTERVAL_S="0.3",
                      INTAKE_RETRY_MAX_BACKOFF_S="0.5")
    await ready(intake)
    private_ferretdb.stop()

    async def not_ready():
        status, body = http_get(f"{intake.http}/ready")
        return body if status == 503 else None
    body = await eventually(not_ready, timeout_s=30)
    assert set(body["problems"]) == {"database"}, body
    assert http_get(f"{intake.http}/health") == (200, {"status": "ok"})  # alive: do not restart it
    await eventually(lambda: "mongodb is failing" in intake.log(), timeout_s=30)
    private_ferretdb.start()
    await ready(intake)
    await eventually(lambda: "mongodb answers again" in intake.log(), timeout_s=30)
    lines = [json.loads(line) for line in intake.log().splitlines() if line.startswith("{")]
    assert [line["msg"] for line in lines if line["level"] in ("warning", "error", "critical")] == [
        "mongodb is failing; retrying until it answers", "mongodb answers again"]


async def test_a_kafka_outage_is_two_log_lines_and_a_start_none(ns: Namespace, private_kafka):
    """Tried as a user would: a normal start logs no error (the new broker elects its group
    coordinator meanwhile); an outage of several seconds logs that Kafka is failing and, once
    it is back, that it answers again and for how long it did not, instead of one error per
    attempt (thousands a minute before)."""
    procs = [ns.start(s, KAFKA_BOOTSTRAP_SERVERS=private_kafka.bootstrap, **FAST_WATCH) for s in ("intake", "rating")]
    for process in procs:
        await ready(process)
    assert [line for p in procs for line in _loud(p)] == []

    private_kafka.stop()
    for process in procs:
        async def kafka_named(process=process):
            status, body = http_get(f"{process.http}/ready")
            return status == 503 and "kafka" in body["problems"]
        await eventually(kafka_named, timeout_s=30)
        await eventually(lambda process=process: "kafka is failing" in process.log(), timeout_s=30)
    await asyncio.to_thread(private_kafka.start)  # its readiness check runs a loop of its own
    for process in procs:
        await ready(process)
        await eventually(lambda process=process: "kafka answers again" in process.log(), timeout_s=30)
        assert [line["msg"] for line in _loud(process)] == [
            "kafka is failing; retrying until it answers", "kafka answers again"], process.log()[-3000:]
        back = next(line for line in _loud(process) if line["msg"] == "kafka answers again")
        assert back["down_s"] > 1

    # and it works again: an inquiry goes through
    private = Kafka(private_kafka.bootstrap)
    try:
        await private.send_event(ns.topic("inquiries"), inquiry("after@example.com"), key="after@example.com")
        assert events(await private.read(ns.topic("prospects"), count=1, timeout_s=60))[0]["type"] == "prospect.registered"
    finally:
        await private.close()


def _loud(process) -> list[dict]:
    lines = [json.loads(line) for line in process.log().splitlines() if line.startswith("{")]
    return [line for line in lines if line["level"] in ("warning", "error", "critical")]


async def test_one_trace_from_inquiry_to_reminder(ns: Namespace, kafka: Kafka):
    """An inquiry carrying W3C trace context: intake's, rating's and reminder's spans and the
    events between them (`prospects`, `assessments`) share its trace id, each span the child
    of the one before."""
    sink = SpanSink()
    try:
        procs = {s: ns.start(s, **sink.env()) for s in ("intake", "rating", "reminder")}
        await kafka.send_event(ns.topic("jobs"), job_opened(), key="job-42")
        await kafka.send_event(ns.topic("inquiries"), inquiry("lee@example.com"), key="lee@example.com")
        pid = ids.prospect_id("job-42", "lee@example.com")
        await on_board(ns, 1, {"_id": pid, "flagged": {"$ne": True}})
        await kafka.send_event(ns.topic("rating-commands"), flag([pid], True), key=RECRUITER)
        await on_board(ns, 1, {"_id": pid, "flagged": True})

        trace_id, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]
        again = inquiry("lee@example.com", traceparent=f"00-{trace_id}-{parent}-01", tracestate="board=acme")
        await kafka.send_event(ns.topic("inquiries"), again, key="lee@example.com")
        prospects = events(await kafka.read(ns.topic("prospects"), until=lambda rs: any(
            json.loads(r.value)["type"] == "prospect.inquired_again" for r in rs), timeout_s=60))
        inquired = next(e for e in prospects if e["type"] == "prospect.inquired_again")
        assert inquired["traceparent"].split("-")[1] == trace_id and inquired["tracestate"] == "board=acme"
        assessments = events(await kafka.read(ns.topic("assessments"), until=lambda rs: any(
            json.loads(r.value)["data"].get("cause") == "new_inquiry" for r in rs), timeout_s=60))
        unflagged = next(e for e in assessments if e["data"].get("cause") == "new_inquiry")
        assert unflagged["traceparent"].split("-")[1] == trace_id
        await kafka.caught_up(ns, "reminder")

        def chain():
            spans = {s["service"]: s for s in sink.spans if s["trace_id"] == trace_id}
            return spans if len(spans) == 3 else None
        spans = await eventually(chain, timeout_s=30)
        intake, rating, reminder = (spans[f"prospectflow-{s}"] for s in ("intake", "rating", "reminder"))
        assert intake["parent_id"] == parent and intake["attributes"]["cloudevents.event_id"] == again["id"]
        assert rating["parent_id"] == intake["span_id"] == inquired["traceparent"].split("-")[2]
        assert rating["attributes"]["cloudevents.event_id"] == inquired["id"]
        assert reminder["parent_id"] == rating["span_id"] == unflagged["traceparent"].split("-")[2]
        assert reminder["attributes"]["cloudevents.event_id"] == unflagged["id"]
        # An event without trace context starts a trace of its own; its consequences join it.
        first = next(e for e in prospects if e["type"] == "prospect.registered")
        assert len(first["traceparent"].split("-")[1]) == 32 and first["traceparent"].split("-")[1] != trace_id
        assert procs  # the services ran as processes, exporting over OTLP/HTTP
    finally:
        sink.close()
