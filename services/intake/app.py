"""Intake's factory: `create_app(settings)` wires broker, database and handler."""

from __future__ import annotations

from fastapi import FastAPI
from faststream import FastStream

from shared import topics
from shared.contract import documented_envelope
from shared.db import mongo_client
from shared.kafka import BatchConsumer, DeadLetters, Publisher, broker_factory, subscribe_batches
from shared.http import operations_api
from shared.service import service_app

from services.intake.handlers import RegisterInquiries
from services.intake.settings import IntakeSettings
from services.intake.store import IntakeStore

DESCRIPTION = (
    "Validates `inquiry.received` from job boards, merges duplicates and registers one prospect "
    "per job and person. Malformed inquiries go to `inquiries.dlq` with the reason."
)


def create_app(settings: IntakeSettings | None = None) -> FastStream:
    settings = settings or IntakeSettings()
    broker = broker_factory(settings.kafka, client_id=settings.service_name, description=DESCRIPTION)
    client = mongo_client(settings.mongodb, appname=f"prospectflow-{settings.service_name}")
    store = IntakeStore(client[settings.database])

    consumer = BatchConsumer(
        apply=RegisterInquiries(store, Publisher(broker, settings.kafka)),
        dead_letters=DeadLetters(broker, settings.service_name, settings.kafka.topic_prefix),
        settings=settings,
    )
    subscribe_batches(
        broker, settings, list(topics.CONSUMED_BY["intake"]), consumer,
        title="inquiries",
        description="Inquiries from job boards; key: the prospect's e-mail (recommended).",
        payload=list[documented_envelope("inquiry.received")],  # type: ignore[misc]
    )
    for event_type in ("prospect.registered", "prospect.inquired_again"):
        broker.publisher(
            settings.kafka.topic(topics.PROSPECTS),
            title=f"prospects:{event_type}",
            description="Prospects registered or inquiring again; key: prospect_id.",
            schema=documented_envelope(event_type),
        )
    return service_app(
        broker=broker, client=client, settings=settings,
        topics=[topics.INQUIRIES, topics.PROSPECTS],
        title="Prospectflow intake", description=DESCRIPTION,
        prepare_database=store.ensure_indexes, kept=store.kept(),
    )


def create_service(settings: IntakeSettings) -> FastAPI:
    """The whole service: /health, /ready and /metrics, running the Kafka side for its lifetime."""
    return operations_api(create_app(settings), title="Prospectflow intake", description=DESCRIPTION)
