"""The insights service's factory: `create_app(settings)` wires broker, database and the batch
consumer that counts; `create_service` adds the API."""

from __future__ import annotations


from fastapi import FastAPI
from faststream import FastStream

from shared import http as shared_http
from shared import privacy, topics
from shared.db import mongo_client
from shared.http import service_api
from shared.kafka import BatchConsumer, DeadLetters, Producer, Publisher, broker_factory, document_publications, subscribe_batches
from shared.privacy import Exports, guarded
from shared.service import service_app, tick_every

from services.insights import http
from services.insights.handlers import Figures, Insights
from services.insights.settings import InsightsSettings
from services.insights.store import InsightsStore

DESCRIPTION = ("A recruiter's follow-up in figures, counted exactly once from the events: inquiries, ratings, "
               "first contact and how long it took, replies and reply rates per template and sequence step, "
               "bounces, complaints and opt-outs, per job, board and local day.")
CONSUMES = topics.CONSUMED_BY["insights"]
PRODUCES = dict(privacy.PUBLISHES)


def wire(settings: InsightsSettings) -> tuple[FastStream, InsightsStore]:
    broker = broker_factory(settings.kafka, client_id=settings.service_name, description=DESCRIPTION)
    producer = Producer(settings.kafka, client_id=settings.service_name)
    client = mongo_client(settings.mongodb, appname=f"prospectflow-{settings.service_name}")
    store = InsightsStore(client[settings.database])
    publisher = Publisher(producer, settings.kafka)
    counting = Insights(store, stale_s=settings.stale_s)
    apply, forgetting = guarded(settings.service_name, counting, store,
                                client[settings.database], publisher, settings.kafka.retention_days)
    consumer = BatchConsumer(apply=apply, dead_letters=DeadLetters(producer, settings.service_name,
                                                                   settings.kafka.topic_prefix), settings=settings)
    subscribe_batches(broker, settings, list(CONSUMES), consumer, title="insights-inputs",
                      description="Jobs, prospects, ratings, messages, opt-outs and erasures: what is counted.")
    document_publications(broker, settings.kafka, PRODUCES)
    app = service_app(broker=broker, producer=producer, client=client, settings=settings,
                      topics=[*CONSUMES, *PRODUCES], title="Prospectflow insights", description=DESCRIPTION,
                      prepare_database=store.ensure_indexes, kept=[*store.kept(), *forgetting])
    tick_every(app, settings.sweep_s, counting.sweep, what="sweep counted batches",
               max_backoff_s=settings.retry_max_backoff_s)
    return app, store


def create_app(settings: InsightsSettings | None = None) -> FastStream:
    """The Kafka side alone."""
    return wire(settings or InsightsSettings())[0]


def create_service(settings: InsightsSettings) -> FastAPI:
    """The whole service: the insights API, running the Kafka side for its lifetime."""
    app, store = wire(settings)
    return service_api(title="Prospectflow insights", description=DESCRIPTION, stream=app,
                       routers=[http.router, shared_http.privacy],
                       provides={Figures: Figures(store), Exports: Exports(settings.service_name, store)},
                       verifier=settings.token_verifier(),
                       unconfigured="set INSIGHTS_JWT_SECRET or INSIGHTS_JWKS_URL")
