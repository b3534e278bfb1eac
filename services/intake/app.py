"""Intake's factory: `create_app(settings)` wires broker, database and handler."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from faststream import FastStream

from shared import privacy, topics
from shared.contract import documented_envelope
from shared.db import mongo_client
from shared.kafka import (BatchConsumer, DeadLetters, Producer, Publisher, broker_factory, document_publications,
                          subscribe_batches)
from shared import http as shared_http
from shared.privacy import Exports, guarded
from shared.http import service_api
from shared.service import ConfigurationError, service_app

from services.intake import http
from services.intake.handlers import Gateway, Intake
from services.intake.settings import IntakeSettings
from services.intake.store import IntakeStore

DESCRIPTION = (
    "Validates `inquiry.received` from job boards, merges duplicates and registers one prospect "
    "per job and person. Malformed inquiries go to `inquiries.dlq` with the reason. Its HTTP side "
    "is the job-board gateway: Indeed, LinkedIn and ZipRecruiter post in their own signed formats, "
    "any other board CloudEvents signed by Standard Webhooks; résumés are downloaded from it."
)


@dataclass
class Wired:
    app: FastStream
    publisher: Publisher
    store: IntakeStore


def create_app(settings: IntakeSettings | None = None) -> FastStream:
    """The Kafka side alone."""
    return wire(settings or IntakeSettings()).app


def wire(settings: IntakeSettings) -> Wired:
    broker = broker_factory(settings.kafka, client_id=settings.service_name, description=DESCRIPTION)
    producer = Producer(settings.kafka, client_id=settings.service_name)
    publisher = Publisher(producer, settings.kafka)
    client = mongo_client(settings.mongodb, appname=f"prospectflow-{settings.service_name}")
    store = IntakeStore(client[settings.database])

    apply, forgetting = guarded(settings.service_name, Intake(store, publisher), store, client[settings.database],
                                publisher, settings.kafka.retention_days)
    consumer = BatchConsumer(
        apply=apply,
        dead_letters=DeadLetters(producer, settings.service_name, settings.kafka.topic_prefix),
        settings=settings,
    )
    subscribe_batches(
        broker, settings, list(topics.CONSUMED_BY["intake"]), consumer,
        title="inquiries-and-jobs",
        description="Inquiries from job boards (key: the prospect's e-mail, recommended), and jobs "
                    "(the gateway answers 404 for a job never opened, 410 for a closed one).")
    for event_type in ("prospect.registered", "prospect.inquired_again"):
        broker.publisher(
            settings.kafka.topic(topics.PROSPECTS),
            title=f"prospects:{event_type}",
            description="Prospects registered or inquiring again; key: prospect_id.",
            schema=documented_envelope(event_type),
        )
    document_publications(broker, settings.kafka, privacy.PUBLISHES)
    app = service_app(
        broker=broker, producer=producer, client=client, settings=settings,
        topics=[*topics.CONSUMED_BY["intake"], topics.PROSPECTS, topics.PRIVACY],
        title="Prospectflow intake", description=DESCRIPTION,
        prepare_database=store.ensure_indexes, kept=[*store.kept(), *forgetting],
    )
    return Wired(app=app, publisher=publisher, store=store)


def create_service(settings: IntakeSettings) -> FastAPI:
    """The whole service: the gateway and résumé downloads, /health, /ready and /metrics, running
    the Kafka side for its lifetime."""
    try:
        secrets = settings.secrets()
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    wired = wire(settings)
    gateway = Gateway(wired.store, wired.publisher, secrets,
                      max_bytes=settings.gateway_max_bytes, resume_max_bytes=settings.resume_max_bytes,
                      concurrency=settings.gateway_concurrency, publish_timeout_s=settings.publish_timeout_s,
                      body_timeout_s=settings.gateway_body_timeout_s)
    return service_api(
        title="Prospectflow intake", description=DESCRIPTION, stream=wired.app, routers=[http.router, shared_http.privacy],
        provides={Gateway: gateway, Exports: Exports(settings.service_name, wired.store)}, verifier=settings.token_verifier(),
        unconfigured="résumé downloads are not configured: set INTAKE_JWT_SECRET or INTAKE_JWKS_URL")
