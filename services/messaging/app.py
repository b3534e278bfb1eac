"""Messaging's factory: `create_app(settings)` wires broker, database, templates and SMTP."""

from __future__ import annotations

from dataclasses import dataclass
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
from shared.service import ConfigurationError, service_app

from services.messaging import http

from services.messaging.addresses import ReturnAddresses
from services.messaging.handlers import Referrals, CustomTemplates, Messaging, Previews, Unsubscribes
from services.messaging.inbound import Inbound
from services.messaging.listener import start_listener
from services.messaging.mail import Mailer
from services.messaging.rendering import Templates
from services.messaging.settings import MessagingSettings
from services.messaging.store import MessagingStore
from services.messaging.unsubscribe import UnsubscribeLinks

DESCRIPTION = (
    "Sends templated e-mail to prospects (ask to apply, arrange an interview, not a match), "
    "at most once per command and prospect, and reports each as `message.sent` or `message.failed`."
)
CONSUMES = topics.CONSUMED_BY["messaging"]
PRODUCES = {topics.MESSAGES: ("message.sent", "message.failed", "message.replied", "message.auto_replied",
                              "message.bounced", "message.complained"),
            topics.COMMAND_RESULTS: ("command.completed",),
            topics.OPT_OUTS: ("prospect.opted_out",), topics.INQUIRIES: ("inquiry.received",), **privacy.PUBLISHES}


@dataclass
class Wired:
    app: FastStream
    publisher: Publisher
    client: AsyncMongoClient[dict[str, Any]]
    store: MessagingStore
    templates: Templates
    links: UnsubscribeLinks
    inbound: Inbound | None = None


def unsubscribe_links(settings: MessagingSettings) -> UnsubscribeLinks:
    secret = settings.unsubscribe_secret.get_secret_value() if settings.unsubscribe_secret else ""
    if not secret:
        raise ConfigurationError("MESSAGING_UNSUBSCRIBE_SECRET is not set; it signs the unsubscribe link in every "
                                 "mail (any long random string, the same for every replica)")
    return UnsubscribeLinks(secret, settings.public_url)


def create_app(settings: MessagingSettings | None = None) -> FastStream:
    """The Kafka side alone."""
    return wire(settings or MessagingSettings()).app


def wire(settings: MessagingSettings) -> Wired:
    templates = Templates(settings.templates_dir)  # a broken replacement stops us here
    links = unsubscribe_links(settings)
    broker = broker_factory(settings.kafka, client_id=settings.service_name, description=DESCRIPTION)
    producer = Producer(settings.kafka, client_id=settings.service_name)
    client = mongo_client(settings.mongodb, appname=f"prospectflow-{settings.service_name}")
    store = MessagingStore(client[settings.database])
    mailer = Mailer(settings.smtp, settings.smtp_connections)
    publisher = Publisher(producer, settings.kafka)
    addresses = return_addresses(settings)
    store.address_secret = settings.unsubscribe_secret.get_secret_value() if settings.unsubscribe_secret else None
    apply, forgetting = guarded(settings.service_name, Messaging(
        store, publisher, templates, mailer, sender=settings.smtp.sender, max_attempts=settings.smtp_max_attempts,
        max_backoff_s=settings.retry_max_backoff_s, daily_digest=settings.daily_digest, links=links,
        addresses=addresses), store, client[settings.database], publisher, settings.kafka.retention_days)
    consumer = BatchConsumer(
        apply=apply,
        dead_letters=DeadLetters(producer, settings.service_name, settings.kafka.topic_prefix),
        settings=settings,
    )
    subscribe_batches(broker, settings, list(CONSUMES), consumer, title="messaging-inputs",
                      description="Send commands, prospects, jobs, opt-outs and reminders (the daily digest).")
    document_publications(broker, settings.kafka, PRODUCES)
    app = service_app(broker=broker, producer=producer, client=client, settings=settings, topics=[*CONSUMES, *PRODUCES],
                      title="Prospectflow messaging", description=DESCRIPTION, prepare_database=store.ensure_indexes,
                      kept=[*store.kept(), *forgetting])
    inbound = None
    if addresses is not None:
        inbound = Inbound(store, publisher, addresses, mailer, sender=settings.smtp.sender,
                          forward=settings.inbound_forward)
        listening: list[Any] = []

        @app.after_startup
        async def listen() -> None:
            # After the Kafka side is up: a stored mail is processed at once.
            listening.append(await start_listener(inbound, host=settings.inbound_smtp_host,
                                                  port=settings.inbound_smtp_port, max_bytes=settings.inbound_max_bytes,
                                                  max_connections=settings.inbound_max_connections))
            inbound.start()

        @app.on_shutdown
        async def stop_listening() -> None:
            for server in listening:
                server.close()
            await inbound.stop()

    app.after_shutdown(mailer.close)
    return Wired(app=app, publisher=publisher, client=client, store=store, templates=templates, links=links,
                 inbound=inbound)


def return_addresses(settings: MessagingSettings) -> ReturnAddresses | None:
    """The reply and bounce addresses, when MESSAGING_INBOUND_DOMAIN says where answers come back."""
    if not settings.inbound_domain:
        return None
    assert settings.unsubscribe_secret is not None  # unsubscribe_links() insisted
    return ReturnAddresses(settings.unsubscribe_secret.get_secret_value(), settings.inbound_domain)


def create_service(settings: MessagingSettings) -> FastAPI:
    """The whole service: the HTTP side (preview, sends, unsubscribe, inbound webhook), running
    the Kafka side for its lifetime."""
    wired = wire(settings)
    return service_api(
        title="Prospectflow messaging", stream=wired.app, routers=[*http.routers, shared_http.privacy],
        description="Template preview for recruiter apps; one-click unsubscribe for prospects.",
        provides={Previews: Previews(wired.store, wired.templates, wired.links),
                  Exports: Exports(settings.service_name, wired.store),
                  Unsubscribes: Unsubscribes(wired.store, wired.links, wired.publisher),
                  Referrals: Referrals(wired.store, wired.links, wired.publisher),
                  Inbound: wired.inbound, MessagingSettings: settings,
                  CustomTemplates: CustomTemplates(wired.store, wired.templates)},
        verifier=settings.token_verifier(),
        unconfigured="preview is not configured: set MESSAGING_JWT_SECRET or MESSAGING_JWKS_URL")
