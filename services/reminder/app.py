"""Reminder's factory: `create_app(settings)` wires broker, database, handler and the ticker."""

from __future__ import annotations


from fastapi import FastAPI
from faststream import FastStream

from shared import topics
from shared.contract import documented_envelope
from shared.db import mongo_client
from shared.kafka import BatchConsumer, DeadLetters, Producer, Publisher, broker_factory, document_publications, subscribe_batches
from shared import http as shared_http
from shared.privacy import PUBLISHES, Exports, guarded
from shared.logs import get_logger
from shared.http import service_api
from shared.service import tick_every, service_app

from services.reminder.handlers import Reminders
from services.reminder.settings import ReminderSettings
from services.reminder.store import ReminderStore

DESCRIPTION = (
    "Reminds each recruiter once per local day, at their reminder hour, of every prospect still "
    "waiting for follow-up (`follow_up.reminder_due`)."
)
CONSUMES = topics.CONSUMED_BY["reminder"]
log = get_logger("prospectflow.reminder")


def create_app(settings: ReminderSettings | None = None) -> FastStream:
    return wire(settings or ReminderSettings())[0]


def wire(settings: ReminderSettings) -> tuple[FastStream, ReminderStore]:
    broker = broker_factory(settings.kafka, client_id=settings.service_name, description=DESCRIPTION)
    producer = Producer(settings.kafka, client_id=settings.service_name)
    client = mongo_client(settings.mongodb, appname=f"prospectflow-{settings.service_name}")
    store = ReminderStore(client[settings.database])
    publisher = Publisher(producer, settings.kafka)
    reminders = Reminders(store, publisher)
    apply, forgetting = guarded(settings.service_name, reminders, store, client[settings.database], publisher,
                                settings.kafka.retention_days)
    consumer = BatchConsumer(apply=apply, dead_letters=DeadLetters(producer, settings.service_name, settings.kafka.topic_prefix), settings=settings)
    subscribe_batches(broker, settings, list(CONSUMES), consumer, title="reminder-inputs",
                      description="Prospects, assessments, jobs and reminders.run.")
    broker.publisher(settings.kafka.topic(topics.REMINDERS), title="reminders:follow_up.reminder_due",
                     schema=documented_envelope("follow_up.reminder_due"))
    document_publications(broker, settings.kafka, PUBLISHES)
    app = service_app(broker=broker, producer=producer, client=client, settings=settings,
                      topics=[*CONSUMES, topics.REMINDERS, topics.PRIVACY],
                      title="Prospectflow reminder", description=DESCRIPTION, prepare_database=store.ensure_indexes,
                      kept=[*store.kept(), *forgetting])
    tick_every(app, settings.tick_s, reminders.evaluate, what="evaluate schedule", max_backoff_s=settings.retry_max_backoff_s)
    return app, store


def create_service(settings: ReminderSettings) -> FastAPI:
    """The whole service: /health, /ready and /metrics, running the Kafka side for its lifetime."""
    app, store = wire(settings)
    return service_api(title="Prospectflow reminder", description=DESCRIPTION, stream=app, routers=[shared_http.privacy],
                       provides={Exports: Exports(settings.service_name, store)}, verifier=settings.token_verifier(),
                       unconfigured="privacy exports are not configured: set REMINDER_JWT_SECRET or REMINDER_JWKS_URL")
