"""What the benchmarks share: the stack, namespaces, timing and the report."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devstack.stack import ROOT, StackConfig, up
from shared import topics
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings
from tests.support import Named, drop_namespace, free_port


def stack_addresses() -> dict[str, str]:
    config = StackConfig()
    up(config, quiet=True)
    return config.addresses()


@dataclass
class BenchNamespace(Named):
    """One benchmark run's own topics and databases on the local stack."""

    addresses: dict[str, str]
    name: str = field(default_factory=lambda: f"b{uuid.uuid4().hex[:10]}")

    async def create_topics(self, names=topics.ALL) -> None:
        settings = KafkaSettings(bootstrap_servers=self.addresses["KAFKA_BOOTSTRAP_SERVERS"], topic_prefix=self.prefix)
        await ensure_topics(settings, names)

    def service_env(self, service: str, **extra: str) -> dict[str, str]:
        upper = service.upper()
        extra = {f"{upper}_HTTP_PORT": str(free_port()), **extra}  # every process serves /metrics: a port each
        if service == "messaging":  # and its unsubscribe links need a secret
            extra = {"MESSAGING_UNSUBSCRIBE_SECRET": f"bench-{self.name}", **extra}
        return {**os.environ, **self.addresses, "KAFKA_TOPIC_PREFIX": self.prefix,
                f"{upper}_DATABASE": self.database(service), f"{upper}_GROUP_ID": f"{self.name}-{service}",
                "PYTHONUNBUFFERED": "1", **extra}

    async def finish(self, *processes: subprocess.Popen[bytes]) -> None:
        """Stop the run's service processes (SIGTERM, all at once), then drop its topics and databases."""
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
        await self.clean_up()

    async def clean_up(self) -> None:
        """Drop this run's topics and databases, so the local stack does not grow run after run."""
        await drop_namespace(self.addresses["KAFKA_BOOTSTRAP_SERVERS"], self.addresses["MONGODB_URI"], self.name)

    def start_service(self, service: str, log: Path, **extra: str) -> subprocess.Popen[bytes]:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            return subprocess.Popen([sys.executable, "-m", f"services.{service}"], cwd=ROOT,
                                    env=self.service_env(service, **extra), stdout=out, stderr=subprocess.STDOUT)


async def produce(bootstrap: str, topic: str, items: list[tuple[str, dict]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
                                max_batch_size=256 * 1024)
    await producer.start()
    try:
        pending = [await producer.send(topic, json.dumps(v).encode(), key=k.encode()) for k, v in items]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def wait_for_records(bootstrap: str, topic: str, count: int, timeout_s: float = 600) -> float:
    """Poll the topic's end offsets until they add up to `count`; return when that happened."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        partitions = None
        while not partitions:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                await consumer._client.force_metadata_update()  # noqa: SLF001
        tps = [TopicPartition(topic, p) for p in partitions]
        while time.monotonic() < deadline:
            ends = await consumer.end_offsets(tps)
            if sum(ends.values()) >= count:
                return time.monotonic()
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{topic} did not reach {count} records in {timeout_s} s")
    finally:
        await consumer.stop()


async def timestamp_span(bootstrap: str, topic: str) -> float:
    """Seconds between the first and the last record on `topic` (their Kafka timestamps: when
    the service published them), so a service's start-up time is not counted."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await partitions_of(consumer, topic)
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        first, last, left = None, None, {tp: end for tp, end in ends.items() if end > 0}
        quiet = 0  # polls that brought nothing: the end of what was written (a partition's last
        # offset can stay short of its end, which hung this loop twice); 10, not 3: on a loaded
        # machine (a chaos run beside it) 3 s passed before the first fetch came back
        while left and quiet < 10:
            fetched = await consumer.getmany(*left, timeout_ms=1000)
            quiet = 0 if any(fetched.values()) else quiet + 1
            for tp, records in fetched.items():
                for r in records:
                    first = r.timestamp if first is None else min(first, r.timestamp)
                    last = r.timestamp if last is None else max(last, r.timestamp)
                if records and records[-1].offset >= left[tp] - 1:
                    del left[tp]
        if first is None or last is None or last == first:
            raise RuntimeError(f"{topic}: no span of records to time (read from {len(tps)} partitions)")
        return (last - first) / 1000
    finally:
        await consumer.stop()


async def partitions_of(consumer: AIOKafkaConsumer, topic: str, timeout_s: float = 30) -> list[TopicPartition]:
    """The topic's partitions, once the consumer's metadata knows them (a topic created a moment
    ago may take a few metadata updates to appear)."""
    deadline = time.monotonic() + timeout_s
    while not (found := consumer.partitions_for_topic(topic)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{topic}: no partitions known after {timeout_s:.0f} s")
        await consumer._client.force_metadata_update()  # noqa: SLF001
        await asyncio.sleep(0.1)
    return [TopicPartition(topic, p) for p in sorted(found)]


def wait_for_log(log: Path, text: str, timeout_s: float = 60) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return time.monotonic()
        time.sleep(0.02)
    raise TimeoutError(f"{log} never said {text!r}")


def proc_status(pid: int, keys: tuple[str, ...]) -> dict[str, float]:
    """The `keys` of /proc/<pid>/status that are sizes (kB), in MB (Linux)."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in keys:
            found[key] = int(value.split()[0]) / 1024
    return found


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command name (index 1 is the parent, 11-14 CPU ticks)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    """The living children of a process (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(_stat(int(entry.name))[1])
            except OSError:
                continue
            if parent == pid:
                out.append(int(entry.name))
    return out


def memory_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB, from /proc (Linux)."""
    fields = proc_status(pid, ("VmRSS", "VmHWM"))
    return fields["VmRSS"], fields["VmHWM"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its children (living and ended) have used so far
    (Linux /proc): PostgreSQL's work, DocumentDB's included, is done in its backends."""
    def ticks_of(fields: list[str]) -> int:
        return sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime, stime, cutime, cstime

    ticks = ticks_of(_stat(pid))
    for child in children(pid):
        try:
            ticks += ticks_of(_stat(child))
        except OSError:  # it ended in between: its time is in the parent's cutime now
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def stack_pids() -> dict[str, int]:
    """The local stack's processes (Kafka, FerretDB, PostgreSQL), when devstack started them."""
    path = StackConfig().state_dir / "state.json"
    try:
        state = json.loads(path.read_text())
        return {name: state[name]["pid"] for name in ("kafka", "ferretdb", "postgres") if name in state}
    except (OSError, ValueError, KeyError):
        return {}


def dashboard_session(base: str, secret: str, recruiter: str) -> str:
    """A session cookie of the dashboard at `base`, opened with a sign-in link as a recruiter does."""
    import httpx

    from shared.auth import login_link

    response = httpx.get(login_link(secret, recruiter, base), timeout=30)
    response.raise_for_status()
    return str(response.cookies["pf_session"])


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def summary(values: list[float], digits: int = 0) -> str:
    return (f"median {statistics.median(values):,.{digits}f} (min {min(values):,.{digits}f}, "
            f"max {max(values):,.{digits}f})")


def machine() -> str:
    from importlib.metadata import version

    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"FastStream {version('faststream')}, aiokafka {version('aiokafka')}, PyMongo {version('pymongo')}, "
            f"Kafka 4.1.1 (KRaft, 1 node), {database()}")


def database() -> str:
    """What answers MONGODB_URI for this run."""
    config = StackConfig()
    if config.external_mongo:
        return f"MongoDB-compatible server at {config.external_mongo.split('@')[-1]}"
    from devstack import engine

    return f"FerretDB {engine.FERRETDB_VERSION} over PostgreSQL {engine.PG_MAJOR} with DocumentDB"
