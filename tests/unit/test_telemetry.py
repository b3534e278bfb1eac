"""Trace context from cause to effect, and outages logged once each way: in-process, with
OpenTelemetry's in-memory exporter."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import logs, telemetry
from shared.logs import KafkaNoise

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


SPANS = InMemorySpanExporter()


@pytest.fixture
def exporter():
    """Spans recorded (as with OTEL_EXPORTER_OTLP_ENDPOINT set), into memory."""
    from opentelemetry import trace

    telemetry.setup_tracing("test", exporter=SPANS)  # the provider is set once per process; the flag each time
    trace.get_tracer_provider().force_flush()
    SPANS.clear()
    yield SPANS
    telemetry.setup_tracing("test")  # back to propagating only


def finished(exporter):
    from opentelemetry import trace

    trace.get_tracer_provider().force_flush()
    return exporter.get_finished_spans()


def test_without_an_exporter_the_context_is_still_carried_on():
    telemetry.setup_tracing("test")
    effect = {"id": "e1", "correlationid": "c1"}
    with telemetry.consuming([("inquiries", "c1", "inquiry.received",
                               {"traceparent": f"00-{TRACE}-{PARENT}-01", "tracestate": "board=acme"})]):
        telemetry.continue_trace(effect)
    _, trace_id, span_id, flags = effect["traceparent"].split("-")
    assert (trace_id, flags, effect["tracestate"]) == (TRACE, "01", "board=acme") and span_id != PARENT
    fresh = {"id": "e2", "correlationid": "c2"}
    with telemetry.consuming([("inquiries", "c2", "inquiry.received", {"traceparent": "garbage"})]):
        telemetry.continue_trace(fresh)
    assert len(fresh["traceparent"].split("-")[1]) == 32 and "tracestate" not in fresh


def test_an_effect_continues_its_causes_trace(exporter):
    effect = {"id": "e1", "type": "prospect.registered", "correlationid": "c1"}
    unrelated = {"id": "e2", "type": "prospect.registered", "correlationid": "somebody-else"}
    with telemetry.consuming([("inquiries", "c1", "inquiry.received",
                               {"traceparent": f"00-{TRACE}-{PARENT}-01", "tracestate": "board=acme"})]):
        telemetry.continue_trace(effect)
        telemetry.continue_trace(unrelated)
        assert telemetry.trace_id("c1") == TRACE
    (span,) = finished(exporter)
    assert format(span.context.trace_id, "032x") == TRACE and format(span.parent.span_id, "016x") == PARENT
    assert effect["traceparent"] == f"00-{TRACE}-{format(span.context.span_id, '016x')}-01"
    assert effect["tracestate"] == "board=acme"
    assert "traceparent" not in unrelated
    assert span.attributes["cloudevents.event_id"] == "c1"


@pytest.mark.parametrize("extension", [None, {"traceparent": "garbage"}, {"traceparent": 42},
                                       {"traceparent": f"00-{'0' * 32}-{PARENT}-01"}])
def test_absent_or_malformed_context_starts_a_new_trace(exporter, extension):
    effect = {"id": "e1", "correlationid": "c1"}
    with telemetry.consuming([("inquiries", "c1", "inquiry.received", extension)]):
        telemetry.continue_trace(effect)
    (span,) = finished(exporter)
    assert span.parent is None
    assert effect["traceparent"].split("-")[1] == format(span.context.trace_id, "032x") != "0" * 32


def test_an_event_that_has_context_keeps_it(exporter):
    mine = f"00-{TRACE}-{PARENT}-01"
    effect = {"id": "e1", "correlationid": "c1", "traceparent": mine}
    with telemetry.consuming([("inquiries", "c1", "inquiry.received", None)]):
        telemetry.continue_trace(effect)
    assert effect["traceparent"] == mine


def test_a_failed_batch_marks_its_spans(exporter):
    with pytest.raises(RuntimeError):
        with telemetry.consuming([("inquiries", "c1", "inquiry.received", None)]):
            raise RuntimeError("boom")
    (span,) = finished(exporter)
    assert not span.status.is_ok


def test_an_outage_is_logged_when_it_starts_and_when_it_ends(caplog):
    outages = logs.Outages()
    with caplog.at_level(logging.WARNING, logger="prospectflow.operations"):
        for _ in range(100):
            outages.down("kafka", "Connection refused")
        assert outages.is_down("kafka")
        outages.up("kafka")
        outages.up("kafka")
    assert [r.getMessage() for r in caplog.records] == ["kafka is failing; retrying until it answers",
                                                         "kafka answers again"]
    assert caplog.records[1].down_s >= 0


def test_aiokafka_retry_noise_becomes_an_outage_and_elections_vanish(monkeypatch):
    seen = []
    monkeypatch.setattr(logs.OUTAGES, "down", lambda dependency, fault, operation="": seen.append(dependency))
    noise = KafkaNoise()

    def record(name: str, message: str, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, message, None, None)

    assert not noise.filter(record("aiokafka", "Unable connect to node with id 1: [Errno 111] Connect call failed"))
    assert not noise.filter(record("aiokafka.consumer.group_coordinator",
                                   "Group Coordinator Request failed: [Error 15] GroupCoordinatorNotAvailableError"))
    assert noise.filter(record("aiokafka.consumer", "something else entirely"))
    assert noise.filter(record("prospectflow.intake", "Unable connect to node"))  # not aiokafka's: kept
    assert seen == ["kafka"]
