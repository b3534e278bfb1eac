"""Rating's factory: `create_app(settings)` wires broker, database and handler."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from faststream import FastStream
from pymongo import AsyncMongoClient

from shared import privacy, topics
from shared.db import mongo_client
from shared.kafka import BatchConsumer, document_publications, DeadLetters, Producer, Publisher, broker_factory, subscribe_batches
from shared.http import service_api
from shared import http as shared_http
from shared.privacy import Exports, guarded
from shared.service import ConfigurationError, service_app, tick_every

from services.rating.handlers import Retention, Board, RatingProjection
from services.rating.settings import RatingSettings
from services.rating import http
from services.rating.store import BoardViews, RatingStore

DESCRIPTION = (
    "The recruiter's prospect board: rates prospects (shortlist, not a fit), keeps the follow-up "
    "flag, joins prospects with their jobs, and answers every command with one `command.completed`."
)

CONSUMES = topics.CONSUMED_BY["rating"]
PRODUCES = {topics.ASSESSMENTS: ("prospect.rated", "prospect.follow_up_flag_changed"),
            topics.COMMAND_RESULTS: ("command.completed",), topics.INQUIRIES: ("inquiry.received",),
            topics.PRIVACY_COMMANDS: ("person.erase",), **privacy.PUBLISHES}


def create_app(settings: RatingSettings | None = None, client: AsyncMongoClient[dict[str, Any]] | None = None) -> FastStream:
    """The Kafka side: consumes commands and events, keeps the board."""
    settings = settings or RatingSettings()
    broker = broker_factory(settings.kafka, client_id=settings.service_name, description=DESCRIPTION)
    producer = Producer(settings.kafka, client_id=settings.service_name)
    client = client or mongo_client(settings.mongodb, appname=f"prospectflow-{settings.service_name}")
    store = RatingStore(client[settings.database])
    publisher = Publisher(producer, settings.kafka)
    apply, forgetting = guarded(settings.service_name, RatingProjection(
        store, publisher, flag_on_message_sent=settings.flag_on_message_sent), store, client[settings.database],
        publisher, settings.kafka.retention_days)
    consumer = BatchConsumer(
        apply=apply,
        dead_letters=DeadLetters(producer, settings.service_name, settings.kafka.topic_prefix),
        settings=settings,
    )
    subscribe_batches(
        broker, settings, list(CONSUMES), consumer,
        title="rating-inputs",
        description="Recruiter commands, prospects, messages and jobs."
    )
    document_publications(broker, settings.kafka, PRODUCES)
    app = service_app(
        broker=broker, producer=producer, client=client, settings=settings,
        topics=[*CONSUMES, *PRODUCES],
        title="Prospectflow rating", description=DESCRIPTION,
        prepare_database=store.ensure_indexes, kept=[*store.kept(), *forgetting],
    )
    tick_every(app, settings.retention_tick_s, Retention(store, publisher, days=settings.retention_closed_job_days),
               what="erase the prospects of long-closed jobs", max_backoff_s=settings.retry_max_backoff_s)
    return app


def create_service(settings: RatingSettings) -> FastAPI:
    """The whole service: the read API, running the Kafka side for its lifetime."""
    verifier = settings.token_verifier()
    if verifier is None:
        raise ConfigurationError("neither RATING_JWT_SECRET nor RATING_JWKS_URL is set; one of them checks the "
                                 "recruiters' API tokens (HS256 secret, or an identity provider's keys).")
    client = mongo_client(settings.mongodb, appname=f"prospectflow-{settings.service_name}")
    store = RatingStore(client[settings.database])
    return service_api(
        title="Prospectflow rating API", stream=create_app(settings, client), routers=[http.router, shared_http.privacy],
        description="A recruiter's prospects by view: needs follow-up, shortlist, not a fit, all.",
        provides={Board: Board(BoardViews(store)), Exports: Exports(settings.service_name, store)}, verifier=verifier)
