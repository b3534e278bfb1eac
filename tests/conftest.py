"""One fixture, three sources of real infrastructure:

1. the environment's addresses when given (KAFKA_BOOTSTRAP_SERVERS and MONGODB_URI);
2. otherwise testcontainers' Kafka and MongoDB when a Docker engine answers;
3. otherwise the project's local stack (devstack), started if needed and stopped afterwards
   if this session started it.

Mail always goes to our own SMTP sink, because tests read what it received.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack

import pytest

from devstack.stack import StackConfig, down, up
from tests.support import Kafka, Namespace, Stack


def _docker_answers() -> bool:
    if os.environ.get("PROSPECTFLOW_TEST_DOCKER", "auto") == "off":
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with ExitStack() as cleanup:
        kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        mongodb = os.environ.get("MONGODB_URI")
        source = "environment"
        if not (kafka and mongodb) and _docker_answers():
            from testcontainers.community.kafka import KafkaContainer
            from testcontainers.community.mongodb import MongoDbContainer

            kafka_container = cleanup.enter_context(KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft())
            mongo_container = cleanup.enter_context(MongoDbContainer("mongo:7"))
            kafka, mongodb, source = kafka_container.get_bootstrap_server(), mongo_container.get_connection_url(), "testcontainers"
        config = StackConfig(external_kafka=kafka, external_mongo=mongodb, external_smtp=None)
        if not (kafka and mongodb):
            source = "devstack"
        started = up(config, quiet=True)
        if started:
            cleanup.callback(down, config, started)
        addresses = config.addresses()
        yield Stack(
            kafka=addresses["KAFKA_BOOTSTRAP_SERVERS"], mongodb_uri=addresses["MONGODB_URI"],
            smtp_host="127.0.0.1", smtp_port=config.smtp_port, maildir=config.maildir, source=source,
        )


@pytest.fixture
async def ns(stack: Stack) -> AsyncIterator[Namespace]:
    namespace = Namespace(stack)
    yield namespace
    namespace.stop_all()
    await namespace.clean_up()  # a long-lived local stack does not fill up with test topics


@pytest.fixture
async def kafka(stack: Stack) -> AsyncIterator[Kafka]:
    client = Kafka(stack.kafka)
    yield client
    await client.close()


class PrivateServer:
    """A server of this test's own, which it may stop (SIGKILL: an outage) and start again on
    the same port and data, without disturbing anyone else."""

    def __init__(self, command, ready, what: str) -> None:
        self.command, self.ready, self.what = command, ready, what
        self.process = None

    def start(self) -> None:
        import subprocess

        from devstack.stack import ROOT

        from tests.support import until

        self.process = subprocess.Popen(self.command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        until(self.ready, timeout_s=30, what=f"private {self.what} did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def private_ferretdb(tmp_path, stack: Stack):
    """A database endpoint of this test's own: a FerretDB gateway in front of the local stack's
    PostgreSQL, which the test may kill (an outage, as the services see one) and start again."""
    from devstack.stack import StackConfig, ferretdb_command, mongo_ready
    from tests.support import free_port

    config = StackConfig()
    if stack.source != "devstack" or config.external_mongo:
        pytest.skip("a private FerretDB gateway needs the local stack's PostgreSQL (MONGODB_URI is external)")
    port = free_port()
    db = PrivateServer(ferretdb_command(config, port, tmp_path / "ferretdb"),
                       lambda: mongo_ready(f"mongodb://127.0.0.1:{port}/"), "FerretDB")
    db.uri = f"mongodb://127.0.0.1:{port}/"
    db.start()
    yield db
    db.stop()


@pytest.fixture
def private_smtp(tmp_path):
    import sys

    from devstack.stack import smtp_ready
    from tests.support import free_port

    port = free_port()
    sink = PrivateServer([sys.executable, "-m", "devstack.smtp_sink", "--port", str(port), "--maildir", str(tmp_path / "maildir")],
                         lambda: smtp_ready("127.0.0.1", port), "SMTP sink")
    sink.port, sink.maildir = port, tmp_path / "maildir"
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def private_kafka(tmp_path):
    """A single-node Kafka of this test's own (KRaft, the stack's jars), which it may kill and
    start again on the same ports and data."""

    from devstack.stack import StackConfig, kafka_ready, start_kafka
    from tests.support import free_port, until

    config = StackConfig(state_dir=tmp_path / "kafka", kafka_port=free_port(), controller_port=free_port(),
                         kafka_heap_mb=256)
    config.logs.mkdir(parents=True, exist_ok=True)

    class PrivateKafka:
        bootstrap = f"127.0.0.1:{config.kafka_port}"
        process = None

        def start(self) -> None:
            process = self.process = start_kafka(config)

            def ready() -> bool:
                assert process.poll() is None, "private Kafka exited while starting"
                return kafka_ready(self.bootstrap)

            until(ready, timeout_s=60, what="private Kafka did not start")

        def stop(self) -> None:
            if self.process and self.process.poll() is None:
                self.process.kill()
                self.process.wait()

    kafka = PrivateKafka()
    kafka.start()
    yield kafka
    kafka.stop()
