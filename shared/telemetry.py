"""What an operator sees of a service: Prometheus metrics, one trace across the pipeline, and
outages logged once each way.

Metrics live in prometheus-client's default registry (one process is one service); `GET /metrics`
serves them. Traces follow W3C trace context carried in every event as the CloudEvents
distributed-tracing extension (`traceparent`, `tracestate`): each consumed event gets a span whose
parent is its `traceparent` (a new trace when it has none), and every event published while
that batch is applied continues the span of the event it names as its `correlationid`, its
cause. Spans are made and exported over OTLP only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; without it the context is only propagated.
"""

from __future__ import annotations

import os
import re
from collections import Counter as CountOf
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from shared.logs import get_logger

log = get_logger("prospectflow.operations")

# --- metrics -----------------------------------------------------------------------------------
# (Each service adds its own: messaging `prospectflow_mails_total`, reminder
# `prospectflow_reminders_total` and `prospectflow_reminder_evaluation_seconds`.)

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` twin of every series
# Topic labels are the contract's names (without KAFKA_TOPIC_PREFIX), so dashboards and alerts
# read the same in every deployment.

CONSUMER_LAG = Gauge(
    "prospectflow_consumer_lag", "Records of a partition assigned to this replica not yet committed by its group.",
    ["topic", "partition"])
EVENTS_CONSUMED = Counter(
    "prospectflow_events_consumed", "Events taken from Kafka (type `invalid` for what could not be parsed).",
    ["topic", "type"])
EVENTS_PUBLISHED = Counter(
    "prospectflow_events_published", "Events acknowledged by Kafka.", ["topic", "type"])
BATCH_SECONDS = Histogram(
    "prospectflow_batch_seconds", "One batch, from receipt until its offset commit is sent.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
EVENT_AGE_SECONDS = Histogram(
    "prospectflow_event_age_seconds", "Now minus the event's `time` when its batch is done (then committed).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400))
READY = Gauge(
    "prospectflow_ready", "1 when /ready would answer 200 (broker, consumer group, database), else 0; "
    "measured every watch interval.")
DEAD_LETTERS = Counter(
    "prospectflow_dead_letters", "Messages sent to a dead-letter topic.", ["topic", "reason"])
RETRIES = Counter(
    "prospectflow_retries", "Operations retried because a dependency failed.", ["dependency"])
COMMANDS = Counter(
    "prospectflow_commands", "Commands answered with `command.completed`.", ["type", "outcome"])


def contract_topic(topic: str, prefix: str) -> str:
    return topic[len(prefix):] if prefix and topic.startswith(prefix) else topic


def count_consumed(events: Iterable[tuple[str, str]]) -> None:
    """(topic, type) of each event taken: one increment per label set, not per event."""
    for (topic, kind), n in CountOf(events).items():
        EVENTS_CONSUMED.labels(topic, kind).inc(n)


def count_published(events: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """(topic, event) of each event Kafka acknowledged; `command.completed` by its outcome too."""
    published: CountOf[tuple[str, str]] = CountOf()
    for topic, event in events:
        kind = event.get("type", "")
        published[(topic, kind)] += 1
        if kind == "command.completed":
            data = event.get("data") or {}
            outcome = ("rejected" if not data.get("accepted") and data.get("rejected")
                       else "partly_rejected" if data.get("rejected") else "accepted")
            COMMANDS.labels(data.get("command_type", ""), outcome).inc()
    for (topic, kind), n in published.items():
        EVENTS_PUBLISHED.labels(topic, kind).inc(n)


def observe_ages(times: Iterable[datetime]) -> None:
    now = datetime.now(timezone.utc)
    for at in times:
        EVENT_AGE_SECONDS.observe(max(0.0, (now - at).total_seconds()))


# --- dependencies going away and coming back ---------------------------------------------------


def dependency_of(exc: BaseException, what: str = "") -> str:
    """kafka, mongodb or smtp, from the failing library (or the operation's words)."""
    module = type(exc).__module__
    if module.startswith("aiokafka") or "publish" in what or "topic" in what or "dead-letter" in what:
        return "kafka"
    if module.startswith(("pymongo", "bson")):
        return "mongodb"
    if module.startswith(("aiosmtplib", "smtplib")) or "mail" in what:
        return "smtp"
    return "mongodb"  # our other retried operations are database writes and reads




# --- tracing -----------------------------------------------------------------------------------

_CAUSES: ContextVar[dict[str, _Context]] = ContextVar("prospectflow_causes", default={})
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_PROPAGATOR = TraceContextTextMapPropagator()
TRACE_ATTRIBUTES = ("traceparent", "tracestate")
_recording = False  # spans are made only when something exports them


@dataclass(slots=True)
class _Context:
    """The trace context of one consumed event's processing: what its effects carry."""

    trace_id: str
    span_id: str
    flags: str
    state: str | None
    span: Span | None = None

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def setup_tracing(service: str, exporter: Any = None) -> None:
    """Spans through the OpenTelemetry SDK when they go somewhere: to `exporter`, or over
    OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set. Otherwise the
    context is only propagated (a new span id per consumed event, its trace id kept), which
    costs a fraction of a span."""
    global _recording
    if exporter is None and (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                             or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    _recording = exporter is not None
    if not _recording:
        return
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"prospectflow-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()  # flushes what the exporter still holds


def _carrier(extra: dict[str, Any] | None) -> dict[str, str]:
    extra = extra or {}
    return {k: extra[k] for k in TRACE_ATTRIBUTES if isinstance(extra.get(k), str)}


def _context(topic: str, event_id: str, kind: str, extra: dict[str, Any] | None) -> _Context:
    carrier = _carrier(extra)
    if _recording:
        parent_valid = trace.get_current_span(_PROPAGATOR.extract(carrier)).get_span_context().is_valid
        span = trace.get_tracer("prospectflow").start_span(
            f"{topic} process", context=_PROPAGATOR.extract(carrier), kind=SpanKind.CONSUMER,
            attributes={"messaging.system": "kafka", "messaging.destination.name": topic,
                        "messaging.operation.type": "process", "cloudevents.event_id": event_id,
                        "cloudevents.event_type": kind})
        own = span.get_span_context()
        return _Context(format(own.trace_id, "032x"), format(own.span_id, "016x"), format(own.trace_flags, "02x"),
                        carrier.get("tracestate") if parent_valid else None, span)
    parent = _TRACEPARENT.match(carrier.get("traceparent", ""))
    if parent and parent[1] != "0" * 32 and parent[2] != "0" * 16:
        return _Context(parent[1], os.urandom(8).hex(), parent[3], carrier.get("tracestate"))
    return _Context(os.urandom(16).hex(), os.urandom(8).hex(), "01", None)  # a trace starts here


@contextmanager
def consuming(events: Sequence[tuple[str, str, str, dict[str, Any] | None]]) -> Iterator[None]:
    """Trace context for each consumed event (`(topic, id, type, extension attributes)`): the
    child of its `traceparent` (a new trace without a valid one), open while the batch is
    applied; events published meanwhile continue it (`continue_trace`)."""
    contexts: dict[str, _Context] = {}
    for topic, event_id, kind, extra in events:
        if event_id not in contexts:
            contexts[event_id] = _context(topic, event_id, kind, extra)
    token = _CAUSES.set(contexts)
    try:
        yield
    except BaseException as exc:
        for context in contexts.values():
            if context.span is not None:
                context.span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        _CAUSES.reset(token)
        for context in contexts.values():
            if context.span is not None:
                context.span.end()


def continue_trace(event: dict[str, Any]) -> None:
    """Give an outgoing event the trace context of its cause (its `correlationid`) when that
    cause is being processed and the event carries none yet."""
    if "traceparent" in event:
        return
    context = _CAUSES.get().get(event.get("correlationid") or "")
    if context is None:
        return
    event["traceparent"] = context.traceparent
    if context.state:
        event["tracestate"] = context.state


def trace_id(event_id: str) -> str | None:
    """The trace id (hex) of an event being processed, for log lines."""
    context = _CAUSES.get().get(event_id)
    return context.trace_id if context is not None else None
