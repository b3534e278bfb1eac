"""Test helpers that talk to the real stack: raw Kafka producers and readers, service
processes, and the test's own namespace (topic prefix and database names)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Stack:
    """Where the real infrastructure of this test session is."""

    kafka: str
    mongodb_uri: str
    smtp_host: str
    smtp_port: int
    maildir: Path
    source: str  # "environment", "testcontainers" or "devstack"


class Named:
    """The topics (by prefix) and databases of a namespace called `self.name`; what
    `drop_namespace` deletes. Tests and benchmarks each work in their own."""

    name: str

    @property
    def prefix(self) -> str:
        return f"{self.name}-"

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def database(self, service: str) -> str:
        return f"{self.name}_{service}"


@dataclass
class Namespace(Named):
    """One test's own topics and databases, so tests never see each other."""

    stack: Stack
    name: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    processes: list[ServiceProcess] = field(default_factory=list)

    def env(self, service: str, **extra: str) -> dict[str, str]:
        upper = service.upper()
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.stack.kafka,
            "KAFKA_TOPIC_PREFIX": self.prefix,
            "MONGODB_URI": self.stack.mongodb_uri,
            "SMTP_HOST": self.stack.smtp_host,
            "SMTP_PORT": str(self.stack.smtp_port),
            f"{upper}_DATABASE": self.database(service),
            f"{upper}_GROUP_ID": f"{self.name}-{service}",
            f"{upper}_BATCH_TIMEOUT_MS": "20",
            **extra,
        }

    inbound_domain: str = "inbound.test"

    @property
    def board_secrets(self) -> dict[str, list[str]]:
        """The gateway's signing secrets in this test: one per board."""
        import base64

        whsec = "whsec_" + base64.b64encode(self.name.encode().ljust(24, b"-")).decode()
        return {"indeed": [f"indeed-{self.name}"], "linkedin": [f"linkedin-{self.name}"],
                "ziprecruiter": [f"zip-{self.name}"], "cloudevents": [whsec]}

    @property
    def jwt_secret(self) -> str:
        return f"test-secret-{self.name}-long-enough-for-hs256"

    def start(self, service: str, **extra: str) -> ServiceProcess:
        port = extra.get(f"{service.upper()}_HTTP_PORT") or str(free_port())
        extra = {f"{service.upper()}_HTTP_PORT": port, **extra}
        if service == "rating":
            extra = {"RATING_JWT_SECRET": self.jwt_secret, **extra}
        elif service == "messaging":
            extra = {"MESSAGING_JWT_SECRET": self.jwt_secret, "MESSAGING_PUBLIC_URL": f"http://127.0.0.1:{port}",
                     "MESSAGING_UNSUBSCRIBE_SECRET": f"unsubscribe-{self.name}",
                     "MESSAGING_INBOUND_DOMAIN": self.inbound_domain, "MESSAGING_INBOUND_SMTP_PORT": str(free_port()),
                     "MESSAGING_INBOUND_WEBHOOK_SECRET": f"inbound-{self.name}", **extra}
        elif service == "dashboard":
            extra = {"DASHBOARD_JWT_SECRET": self.jwt_secret, **extra}
        elif service == "webhooks":
            extra = {"WEBHOOKS_JWT_SECRET": self.jwt_secret, "WEBHOOKS_SECRET_KEY": f"webhooks-key-{self.name}",
                     "WEBHOOKS_ALLOW_HTTP": "true", "WEBHOOKS_ALLOW_LOOPBACK": "true",
                     "WEBHOOKS_RETRY_SCHEDULE_S": "[0.3, 0.3, 0.3, 0.3]", "WEBHOOKS_POLL_S": "0.1", **extra}
        elif service == "sequences":
            extra = {"SEQUENCES_JWT_SECRET": self.jwt_secret, "SEQUENCES_TICK_S": "0", **extra}
        elif service == "reminder":
            extra = {"REMINDER_JWT_SECRET": self.jwt_secret, **extra}
        elif service == "insights":
            extra = {"INSIGHTS_JWT_SECRET": self.jwt_secret, **extra}
        elif service == "intake":
            extra = {"INTAKE_JWT_SECRET": self.jwt_secret, "INTAKE_BOARD_SECRETS": json.dumps(self.board_secrets),
                     **extra}
        same = sum(1 for p in self.processes if p.service == service)
        process = ServiceProcess(service, self.env(service, **extra), log_dir=ROOT / ".devstack" / "test-logs" / self.name,
                                 label=f"{service}{same + 1}")
        process.start()
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            process.stop()

    async def clean_up(self) -> None:
        """Delete this test's topics and databases."""
        await drop_namespace(self.stack.kafka, self.stack.mongodb_uri, self.name)


async def drop_namespace(kafka: str, mongodb_uri: str, name: str) -> None:
    """Delete the topics prefixed `<name>-` and the databases named `<name>_*`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(f"{name}-")]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        for database in await client.list_database_names():
            if database.startswith(f"{name}_"):
                await client.drop_database(database)
    finally:
        await client.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceProcess:
    """A service run as a real process (`python -m services.<name>`), as operators run it."""

    def __init__(self, service: str, env: dict[str, str], log_dir: Path, label: str) -> None:
        self.service = service
        self.label = label
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.log_dir = log_dir
        self.popen: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.label}-run{self.runs}.log"

    def start(self) -> None:
        self.runs += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.service}"], cwd=ROOT, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout_s: float = 60) -> None:
        def logged() -> bool:
            if text in self.log():
                return True
            if self.popen and self.popen.poll() is not None:
                raise AssertionError(f"{self.service} exited ({self.popen.returncode}):\n{self.log()[-3000:]}")
            return False

        until(logged, timeout_s=timeout_s, what=f"{self.service} never logged {text!r}:\n{self.log()[-3000:]}")

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.env[f'{self.service.upper()}_HTTP_PORT']}"

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final commit; what a crash looks like."""
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait()

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


# --- Kafka ---------------------------------------------------------------------------------------


def cloud_event(type: str, data: dict[str, Any], *, id: str | None = None, time: str | None = "2026-11-25T09:30:00Z",
                source: str = "tests/board", **extra: Any) -> dict[str, Any]:
    event = {"specversion": "1.0", "id": id or str(uuid.uuid4()), "source": source, "type": type,
             "datacontenttype": "application/json", "data": data, **extra}
    if time is not None:
        event["time"] = time
    return event


class Kafka:
    """Plain aiokafka clients, as an outside producer or consumer would use them."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._producer: AIOKafkaProducer | None = None

    async def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True)
            await self._producer.start()
        return self._producer

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def send_raw(self, topic: str, value: bytes | None, key: str | bytes | None = None,
                       headers: list[tuple[str, bytes]] | None = None) -> None:
        producer = await self.producer()
        key_bytes = key.encode() if isinstance(key, str) else key
        await producer.send_and_wait(topic, value, key=key_bytes, headers=headers or [])

    async def send_event(self, topic: str, event: dict[str, Any], key: str | None = None) -> None:
        await self.send_raw(topic, json.dumps(event).encode(), key,
                            headers=[("content-type", b"application/cloudevents+json")])

    async def send_many(self, topic: str, items: list[tuple[str | None, dict[str, Any]]]) -> None:
        producer = await self.producer()
        pending = [
            await producer.send(topic, json.dumps(event).encode(), key=key.encode() if key else None)
            for key, event in items
        ]
        await asyncio.gather(*pending)

    async def read(self, topic: str, *, count: int | None = None, until: Callable[[list[ConsumerRecord]], bool] | None = None,
                   timeout_s: float = 30) -> list[ConsumerRecord]:
        """Everything on `topic` from the beginning, until `count` records (or `until` holds),
        or the timeout. To see that nothing more comes, wait for the producer's `caught_up` and
        then `read_to_end`."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            deadline = time.monotonic() + timeout_s

            async def known() -> set[int] | None:
                partitions = consumer.partitions_for_topic(topic)
                if not partitions:
                    await consumer._client.force_metadata_update()  # noqa: SLF001
                return partitions

            try:
                partitions = await eventually(known, timeout_s=timeout_s, interval_s=0.1)
            except AssertionError:  # no such topic (yet): nothing to read
                return []
            consumer.assign([TopicPartition(topic, p) for p in partitions])
            await consumer.seek_to_beginning()
            records: list[ConsumerRecord] = []
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for recs in batch.values():
                    records.extend(recs)
                if (count is not None and len(records) >= count) or (until is not None and until(records)):
                    break
            return records
        finally:
            await consumer.stop()

    async def read_to_end(self, topic: str) -> list[ConsumerRecord]:
        """Exactly what `topic` holds now: every record up to its current end offsets."""
        from prospectflow.bus import Bus
        from shared.settings import KafkaSettings

        async with Bus(KafkaSettings(bootstrap_servers=self.bootstrap)) as bus:
            return await bus.read(topic)

    async def caught_up(self, ns: Named, service: str, *, timeout_s: float = 90, group: str | None = None) -> None:
        """Wait until `service`'s consumer group (in this namespace) has committed everything now
        on the topics it consumes: it has done (written, published) all of it. A fact to wait
        on before saying that something did not happen."""
        from prospectflow.bus import Bus
        from shared.settings import KafkaSettings
        from shared.topics import CONSUMED_BY

        async with Bus(KafkaSettings(bootstrap_servers=self.bootstrap)) as bus:
            await bus.caught_up(group or f"{ns.name}-{service}", [ns.topic(t) for t in CONSUMED_BY[service]],
                                timeout_s=timeout_s, what=service)

    async def group_members(self, group_id: str, *, stable: bool = False) -> int:
        """Members of the group (with `stable`: 0 unless the group has finished rebalancing, so
        each member holds its share)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            described = await admin.describe_consumer_groups([group_id])
            if stable and any(group[2] != "Stable" for response in described for group in response.groups):
                return 0
            return _count_members(described)
        finally:
            await admin.close()


def _count_members(described: Any) -> int:
    total = 0
    for response in described:
        for group in response.groups:
            # (error_code, group_id, state, protocol_type, protocol, members, ...)
            total += len(group[5])
    return total


def events(records: list[ConsumerRecord]) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records]


def headers(record: ConsumerRecord) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in record.headers}


async def mongo_count(stack: Stack, database: str, collection: str, query: dict[str, Any] | None = None) -> int:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_uri)
    try:
        return await client[database][collection].count_documents(query or {})
    finally:
        await client.close()


async def eventually(check: Callable[[], Any], *, timeout_s: float = 30, interval_s: float = 0.2) -> Any:
    """Poll an async or sync check until it returns something truthy, and return that; past the
    timeout, fail with what it last returned."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval_s)
    raise AssertionError(f"not true within {timeout_s:.0f} s; last seen: {last!r}"[:2_000])


def until(check: Callable[[], Any], *, timeout_s: float = 30, interval_s: float = 0.1, what: str = "") -> Any:
    """`eventually` for code outside the event loop (fixtures, process start-ups): poll `check`
    until it returns something truthy and return that; past the timeout, fail saying `what` and
    the last value. A check may raise AssertionError to give up at once (a process died)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"{what or 'not true'} within {timeout_s:.0f} s; last seen: {last!r}"[:2_000])


def answers(call: Callable[[], Any]) -> Any:
    """What `call` returns, or None while the server does not listen yet."""
    import urllib.error

    try:
        return call()
    except (urllib.error.URLError, ConnectionError):
        return None


def http_get(url: str, token: str | None = None) -> tuple[int, Any]:
    """GET with an optional bearer token; (status, parsed JSON body)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def token(secret: str, recruiter_id: str) -> str:
    from shared.auth import mint

    return mint(secret, recruiter_id, ttl_s=3600)


def mails(maildir: Path, recipients_containing: str) -> list[Any]:
    """The mails the sink received whose To holds `recipients_containing`, parsed. A long-lived
    local stack's sink holds thousands: a file is parsed only if its bytes hold the text."""
    import email
    import email.policy

    found = []
    needle = recipients_containing.encode()
    for path in sorted((maildir / "new").glob("*.eml")):
        raw = path.read_bytes()
        if needle not in raw:
            continue
        head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        # A mail sent with SMTPUTF8 has UTF-8 headers, which the bytes parser reads as escapes
        message = (email.message_from_bytes(raw, policy=email.policy.default) if head.isascii()
                   else email.message_from_string(raw.decode("utf-8", "surrogateescape"), policy=email.policy.default))
        if recipients_containing in str(message["To"]):
            found.append(message)
    return found


@dataclass
class Cli:
    """The `prospectflow` tool run as a user runs it: a process, its output and exit code."""

    env: dict[str, str]

    def __call__(self, *args: str, input: str | None = None, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "prospectflow", *args], cwd=ROOT, env={**os.environ, **self.env},
                              input=input, capture_output=True, text=True, timeout=timeout_s)

    def json(self, *args: str) -> Any:
        done = self(*args, "--json")
        assert done.returncode == 0, f"prospectflow {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        return json.loads(done.stdout)


def cli(ns: Namespace, rating: ServiceProcess | None = None, **extra: str) -> Cli:
    """The tool pointed at this test's namespace: its topics, groups, rating API and mail sink."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": ns.stack.kafka,
        "KAFKA_TOPIC_PREFIX": ns.prefix,
        "RATING_JWT_SECRET": ns.jwt_secret,
        "PROSPECTFLOW_MAILDIR": str(ns.stack.maildir),
        "PROSPECTFLOW_TIMEOUT_S": "60",
        "MONGODB_URI": ns.stack.mongodb_uri, "MESSAGING_DATABASE": ns.database("messaging"),
        **{f"{s.upper()}_GROUP_ID": f"{ns.name}-{s}" for s in ("intake", "rating", "messaging", "reminder")},
    }
    if rating is not None:
        env["PROSPECTFLOW_API_URL"] = rating.http
    return Cli({**env, **extra})


# --- operations ----------------------------------------------------------------------------------


def http_text(url: str) -> tuple[int, str]:
    """GET; (status, body as text)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples (Prometheus text format) whose labels include `labels`."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


class SpanSink:
    """An OTLP/HTTP trace receiver on loopback (`OTEL_EXPORTER_OTLP_ENDPOINT`): keeps every span
    the services export, decoded, as (service, trace id, span id, parent span id, name, attributes)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self.spans: list[dict[str, Any]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource_spans in request.resource_spans:
                    service = next((a.value.string_value for a in resource_spans.resource.attributes
                                    if a.key == "service.name"), "")
                    for scope in resource_spans.scope_spans:
                        for span in scope.spans:
                            sink.spans.append({
                                "service": service, "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                                "parent_id": span.parent_span_id.hex(), "name": span.name,
                                "attributes": {a.key: a.value.string_value for a in span.attributes}})
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def env(self) -> dict[str, str]:
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
