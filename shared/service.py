"""What every service's factory does the same way: specification, start-up, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pymongo import AsyncMongoClient

from shared import __version__
from shared.kafka import Producer, consumer_state, ensure_topics
from shared.logs import get_logger
from shared.retention import Kept, ensure_retention
from shared.retry import retry_forever
from shared.settings import ServiceSettings
from shared.logs import OUTAGES
from shared.telemetry import READY, setup_tracing, shutdown_tracing

log = get_logger("prospectflow.operations")


class Operations:
    """What `/ready` and the lag metric ask of a running service, and the watch that keeps the
    lag up to date and notices a dependency coming back."""

    def __init__(self, broker: KafkaBroker, client: AsyncMongoClient[dict[str, Any]], settings: ServiceSettings) -> None:
        self.broker = broker
        self.client = client
        self.settings = settings
        self.started = False
        self._watch: asyncio.Task[None] | None = None

    async def problems(self) -> dict[str, str]:
        """What is not ready, by part (empty: ready)."""
        problems: dict[str, str] = {}
        if not self.started:
            problems["service"] = "still starting (creating topics and indexes)"
        kafka = self.settings.kafka.bootstrap_servers
        try:
            if not await self.broker.ping(timeout=2.0):
                problems["kafka"] = f"no answer from {kafka}"
        except Exception as exc:  # not started, or closed
            problems["kafka"] = f"not connected to {kafka}: {type(exc).__name__}"
        state = consumer_state(self.broker)
        if state is not None and not state.joined:
            problems["consumer"] = f"not yet a member of consumer group {self.settings.group_id}"
        try:
            await asyncio.wait_for(self.client.admin.command("ping"), timeout=2.0)
        except Exception as exc:
            problems["database"] = f"the database does not answer ({type(exc).__name__})"
        return problems

    def start(self) -> None:
        self._watch = asyncio.create_task(self._watching())

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)

    async def _watching(self) -> None:
        """Each watch interval: one round of readiness probes, which also says whether Kafka and
        the database are failing or back; then the lag of this replica's partitions."""
        state = consumer_state(self.broker)
        while True:
            await asyncio.sleep(self.settings.watch_interval_s)
            problems = await self.problems()
            READY.set(0 if problems else 1)
            for dependency, part in (("kafka", "kafka"), ("mongodb", "database")):
                if part in problems:
                    OUTAGES.down(dependency, problems[part], "watch")
                else:
                    OUTAGES.up(dependency)
            if state is not None and "kafka" not in problems:
                try:
                    await asyncio.wait_for(state.update_lag(), timeout=max(1.0, self.settings.watch_interval_s))
                except Exception as exc:  # Kafka went away since the probe: the next round says so
                    log.debug("lag not measured", extra={"fault": repr(exc)[:300]})


_OPERATIONS: weakref.WeakKeyDictionary[FastStream, Operations] = weakref.WeakKeyDictionary()


def operations_of(app: FastStream) -> Operations:
    return _OPERATIONS[app]


def service_app(
    *,
    broker: KafkaBroker,
    producer: Producer,
    client: AsyncMongoClient[dict[str, Any]],
    settings: ServiceSettings,
    topics: Iterable[str],
    title: str,
    description: str,
    prepare_database: Callable[[], Awaitable[None]],
    kept: list[Kept] | None = None,
) -> FastStream:
    """A FastStream app that, before consuming, creates missing topics (when allowed) and the
    database's indexes, retrying while Kafka or MongoDB is not reachable yet, and closes the
    database client after the broker has stopped."""
    log = get_logger(f"prospectflow.{settings.service_name}")
    topics = list(topics)
    app = FastStream(
        broker,
        specification=AsyncAPI(broker, title=title, version=__version__, description=description),
        logger=log,
    )

    operations = _OPERATIONS[app] = Operations(broker, client, settings)
    setup_tracing(settings.service_name)

    @app.on_startup
    async def prepare() -> None:
        if settings.kafka.create_topics:
            await retry_forever(lambda: ensure_topics(settings.kafka, topics), what="create topics")
        await retry_forever(prepare_database, what="create indexes")
        await retry_forever(lambda: ensure_retention(kept or [], settings.retention_days), what="set up retention")
        await retry_forever(producer.start, what="connect the producer")  # before the first batch comes

    @app.after_startup
    async def started() -> None:
        operations.started = True
        operations.start()
        log.info("ready", extra={"group_id": settings.group_id, "database": settings.database})

    @app.on_shutdown
    async def stopping() -> None:
        await operations.stop()

    @app.after_shutdown
    async def close() -> None:
        await producer.stop()  # after the consumer: its last batch is published
        await client.close()
        shutdown_tracing()

    return app


def tick_every(app: FastStream, every_s: float, evaluate: Callable[[datetime], Awaitable[Any]], *, what: str,
               max_backoff_s: float) -> None:
    """Run `evaluate(now)` on every replica every `every_s` seconds while `app` runs (0: never;
    the service's `…run` command still does), retrying through outages. What it sends must be
    keyed so that replicas evaluating at once send it once (a reminder's id, a step's)."""
    ticker: list[asyncio.Task[None]] = []

    async def tick_forever() -> None:
        while True:
            await retry_forever(lambda: evaluate(datetime.now(timezone.utc)), what=what, max_backoff_s=max_backoff_s)
            await asyncio.sleep(every_s)

    @app.after_startup
    async def start_ticker() -> None:
        if every_s > 0:
            ticker.append(asyncio.create_task(tick_forever()))

    @app.on_shutdown
    async def stop_ticker() -> None:
        for task in ticker:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class ConfigurationError(Exception):
    """The service cannot start as configured; the message says what to change."""


def _configured(settings_cls: type[ServiceSettings], factory: Callable[[Any], Any]) -> tuple[Any, Any]:
    """Settings from the environment, JSON logs, and what the factory builds from them; a
    configuration error exits non-zero with its message."""
    import sys

    from shared.logs import setup_logging

    settings = settings_cls()
    setup_logging(settings.service_name, settings.log_level)
    try:
        return settings, factory(settings)
    except ConfigurationError as exc:
        sys.exit(f"{settings.service_name}: {exc}")


def run_http_service(settings_cls: type[ServiceSettings], create_service: Callable[[Any], Any]) -> None:
    """`python -m services.<name>`: the service's ASGI app (operations endpoints and any API; its
    lifespan runs the Kafka side) served by uvicorn at `<SERVICE>_HTTP_HOST`:`<SERVICE>_HTTP_PORT`."""
    import uvicorn

    settings, api = _configured(settings_cls, create_service)
    uvicorn.run(api, host=settings.http_host, port=settings.http_port, log_config=None, access_log=False)
