"""Messaging's factory: `create_app(settings)` wires broker, database, templates and SMTP."""

from __future__ import annotations

from typing import Union

from faststream import FastStream

from shared import topics
from shared.contract import documented_envelope
from shared.db import mongo_client
from shared.kafka import BatchConsumer, DeadLetters, Publisher, broker_factory, subscribe_batches
from shared.service import service_app

from services.messaging.handlers import Messaging
from services.messaging.mail import Mailer
from services.messaging.rendering import Templates
from services.messaging.settings import MessagingSettings
from services.messaging.store import MessagingStore

DESCRIPTION = (
    "Sends templated e-mail to prospects (ask to apply, arrange an interview, not a match), "
    "at most once per command and prospect, and reports each as `message.sent` or `message.failed`."
)
CONSUMES = topics.CONSUMED_BY["messaging"]
PRODUCES = {topics.MESSAGES: ("message.sent", "message.failed"), topics.COMMAND_RESULTS: ("command.completed",)}


def create_app(settings: MessagingSettings | None = None) -> FastStream:
    settings = settings or MessagingSettings()
    templates = Templates(settings.templates_dir)  # a broken replacement stops us here
    broker = broker_factory(settings.kafka, client_id=settings.service_name, description=DESCRIPTION)
    client = mongo_client(settings.mongodb, appname=f"prospectflow-{settings.service_name}")
    store = MessagingStore(client[settings.database])
    mailer = Mailer(settings.smtp, settings.smtp_connections)
    consumer = BatchConsumer(
        apply=Messaging(store, Publisher(broker, settings.kafka), templates, mailer, sender=settings.smtp.sender,
                        max_attempts=settings.smtp_max_attempts, max_backoff_s=settings.retry_max_backoff_s,
                        daily_digest=settings.daily_digest),
        dead_letters=DeadLetters(broker, settings.service_name),
        settings=settings,
    )
    payloads = [documented_envelope(t) for topic in CONSUMES for t in sorted(topics.TYPES_BY_TOPIC[topic])]
    subscribe_batches(broker, settings, list(CONSUMES), consumer, title="messaging-inputs",
                      description="Send commands, prospects, jobs, opt-outs and reminders (the daily digest).",
                      payload=list[Union[tuple(payloads)]])  # type: ignore[misc,valid-type]
    for topic, types in PRODUCES.items():
        for event_type in types:
            broker.publisher(settings.kafka.topic(topic), title=f"{topic}:{event_type}",
                             schema=documented_envelope(event_type))
    app = service_app(broker=broker, client=client, settings=settings, topics=[*CONSUMES, *PRODUCES],
                      title="Prospectflow messaging", description=DESCRIPTION, prepare_database=store.ensure_indexes)
    app.after_shutdown(mailer.close)
    return app
