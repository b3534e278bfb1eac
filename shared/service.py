"""What every service's factory does the same way: specification, start-up, shutdown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pymongo import AsyncMongoClient

from shared.kafka import ensure_topics
from shared.logs import get_logger
from shared.retention import Kept, Retention
from shared.retry import retry_forever
from shared.settings import ServiceSettings

VERSION = "0.1.0"


def service_app(
    *,
    broker: KafkaBroker,
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
        specification=AsyncAPI(broker, title=title, version=VERSION, description=description),
        logger=log,
    )

    retention = Retention(kept or [], settings.retention_days)

    @app.on_startup
    async def prepare() -> None:
        if settings.kafka.create_topics:
            await retry_forever(lambda: ensure_topics(settings.kafka, topics), what="create topics")
        await retry_forever(prepare_database, what="create indexes")
        await retry_forever(retention.start, what="set up retention")
        log.info("ready", extra={"group_id": settings.group_id, "database": settings.database})

    @app.after_shutdown
    async def close() -> None:
        await retention.stop()
        await client.close()

    return app


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


def run_service(settings_cls: type[ServiceSettings], create_app: Callable[[Any], FastStream]) -> None:
    """`python -m services.<name>`: run the Kafka side until SIGINT or SIGTERM."""
    import asyncio

    _, app = _configured(settings_cls, create_app)
    asyncio.run(app.run())


def run_http_service(settings_cls: type[ServiceSettings], create_service: Callable[[Any], Any]) -> None:
    """`python -m services.<name>` for a service with an HTTP side: an ASGI app (whose lifespan
    runs the Kafka side) served by uvicorn at `<SERVICE>_HTTP_HOST`:`<SERVICE>_HTTP_PORT`."""
    import uvicorn

    settings, api = _configured(settings_cls, create_service)
    uvicorn.run(api, host=settings.http_host, port=settings.http_port, log_config=None, access_log=False)
