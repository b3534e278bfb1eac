"""The webhooks service's factory: `create_app(settings)` wires broker, database, the fan-out
consumer and the deliverer; `create_service` adds the endpoints API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI
from faststream import FastStream

from shared import topics
from shared.http import service_api
from shared.db import mongo_client
from shared.kafka import BatchConsumer, DeadLetters, Producer, Publisher, broker_factory, document_publications, subscribe_batches
from shared import http as shared_http
from shared.privacy import PUBLISHES, Exports, guarded
from shared.service import ConfigurationError, service_app

from services.webhooks import safety
from services.webhooks import http
from services.webhooks.crypto import SecretBox
from services.webhooks.deliver import Deliverer
from services.webhooks.handlers import Endpoints, Fanout
from services.webhooks.settings import WebhooksSettings
from services.webhooks.store import WebhooksStore

DESCRIPTION = ("Delivers Prospectflow's events to the HTTPS endpoints recruiter apps register, signed by "
               "Standard Webhooks, retried with backoff for about three days, each attempt logged.")
CONSUMES = topics.CONSUMED_BY["webhooks"]


@dataclass
class Wired:
    app: FastStream
    endpoints: Endpoints
    store: WebhooksStore


def secret_box(settings: WebhooksSettings) -> SecretBox:
    key = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if not key:
        raise ConfigurationError("WEBHOOKS_SECRET_KEY is not set; it encrypts the endpoints' signing secrets "
                                 "(any long random string, the same for every replica)")
    try:
        return SecretBox(key)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def create_app(settings: WebhooksSettings | None = None) -> FastStream:
    return wire(settings or WebhooksSettings()).app


def wire(settings: WebhooksSettings) -> Wired:
    box = secret_box(settings)
    try:
        operators = settings.operators()
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    dispositions = settings.dispositions()
    rules = safety.Rules(settings.allow_http, settings.allow_loopback, settings.allow_private)
    broker = broker_factory(settings.kafka, client_id=settings.service_name, description=DESCRIPTION)
    producer = Producer(settings.kafka, client_id=settings.service_name)
    client = mongo_client(settings.mongodb, appname=f"prospectflow-{settings.service_name}")
    store = WebhooksStore(client[settings.database])
    deliverer = Deliverer(store, box, rules, schedule=list(settings.retry_schedule_s), timeout_s=settings.timeout_s,
                          disable_after=timedelta(days=settings.disable_after_days), concurrency=settings.concurrency,
                          poll_s=settings.poll_s, lease_s=settings.lease_s)
    publisher = Publisher(producer, settings.kafka)
    apply, forgetting = guarded(settings.service_name, Fanout(store, deliverer.wake), store, client[settings.database],
                                publisher, settings.kafka.retention_days)
    consumer = BatchConsumer(apply=apply,
                             dead_letters=DeadLetters(producer, settings.service_name, settings.kafka.topic_prefix),
                             settings=settings)
    subscribe_batches(broker, settings, list(CONSUMES), consumer, title="webhooks-inputs",
                      description="Every event recruiter apps may subscribe to, and jobs (whose prospects are whose).")

    endpoints = Endpoints(store, box, rules, rotation=timedelta(hours=settings.rotation_hours),
                          max_endpoints=settings.max_endpoints)

    async def prepare() -> None:
        await store.ensure_indexes()
        await endpoints.prepare(operators, dispositions, settings.linkedin_integration_context)

    document_publications(broker, settings.kafka, PUBLISHES)
    app = service_app(broker=broker, producer=producer, client=client, settings=settings, topics=list(CONSUMES),
                      title="Prospectflow webhooks", description=DESCRIPTION, prepare_database=prepare,
                      kept=[*forgetting, *store.kept()])
    app.after_startup(deliverer.start)
    app.on_shutdown(deliverer.stop)
    return Wired(app=app, endpoints=endpoints, store=store)


def create_service(settings: WebhooksSettings) -> FastAPI:
    wired = wire(settings)
    return service_api(
        title="Prospectflow webhooks", stream=wired.app, routers=[http.router, shared_http.privacy],
        description="Recruiter apps register HTTPS endpoints; Prospectflow's events are delivered to them "
                    "signed by Standard Webhooks, retried with backoff, and logged.",
        provides={Endpoints: wired.endpoints, Exports: Exports(settings.service_name, wired.store)},
        verifier=settings.token_verifier(),
        unconfigured="set WEBHOOKS_JWT_SECRET or WEBHOOKS_JWKS_URL")
