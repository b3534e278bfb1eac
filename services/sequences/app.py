"""The sequences service's factory: `create_app(settings)` wires broker, database, the batch
consumer and the ticker that evaluates what is due; `create_service` adds the API."""

from __future__ import annotations


from fastapi import FastAPI
from faststream import FastStream

from shared import privacy, topics
from shared.db import mongo_client
from shared.http import service_api
from shared.kafka import BatchConsumer, document_publications, DeadLetters, Producer, Publisher, broker_factory, subscribe_batches
from shared import http as shared_http
from shared.privacy import Exports, guarded
from shared.service import tick_every, service_app

from services.sequences import http
from services.sequences.handlers import Definitions, Sequences
from services.sequences.settings import SequencesSettings
from services.sequences.store import SequencesStore

DESCRIPTION = ("Follow-up sequences that run by themselves: a first message, then follow-ups some business "
               "days apart inside the person's working hours, each a `messages.send` to messaging, stopped the "
               "moment the person answers (or bounces, complains, opts out, is not a fit, or the job closes).")
CONSUMES = topics.CONSUMED_BY["sequences"]
PRODUCES = {topics.SEQUENCES: tuple(sorted(topics.TYPES_BY_TOPIC[topics.SEQUENCES])),
            topics.MESSAGING_COMMANDS: ("messages.send",), topics.COMMAND_RESULTS: ("command.completed",),
            **privacy.PUBLISHES}


def wire(settings: SequencesSettings) -> tuple[FastStream, SequencesStore]:
    broker = broker_factory(settings.kafka, client_id=settings.service_name, description=DESCRIPTION)
    producer = Producer(settings.kafka, client_id=settings.service_name)
    client = mongo_client(settings.mongodb, appname=f"prospectflow-{settings.service_name}")
    store = SequencesStore(client[settings.database])
    publisher = Publisher(producer, settings.kafka)
    sequences = Sequences(store, publisher, out_of_office_days=settings.out_of_office_days,
                          run_batch=settings.run_batch, republish_after_s=settings.republish_after_s)
    apply, forgetting = guarded(settings.service_name, sequences, store, client[settings.database], publisher,
                                settings.kafka.retention_days)
    consumer = BatchConsumer(apply=apply, dead_letters=DeadLetters(producer, settings.service_name,
                                                                       settings.kafka.topic_prefix), settings=settings)
    subscribe_batches(broker, settings, list(CONSUMES), consumer, title="sequences-inputs",
                      description="Sequence commands, prospects, jobs, messages, opt-outs, ratings and command results.")
    document_publications(broker, settings.kafka, PRODUCES)
    app = service_app(broker=broker, producer=producer, client=client, settings=settings,
                      topics=[*CONSUMES, *PRODUCES], title="Prospectflow sequences", description=DESCRIPTION,
                      prepare_database=store.ensure_indexes, kept=[*store.kept(), *forgetting])
    tick_every(app, settings.tick_s, sequences.run, what="evaluate sequences", max_backoff_s=settings.retry_max_backoff_s)

    return app, store


def create_app(settings: SequencesSettings | None = None) -> FastStream:
    """The Kafka side alone."""
    return wire(settings or SequencesSettings())[0]


def create_service(settings: SequencesSettings) -> FastAPI:
    """The whole service: the sequences API, running the Kafka side for its lifetime."""
    app, store = wire(settings)
    return service_api(title="Prospectflow sequences", description=DESCRIPTION, stream=app,
                       routers=[http.router, shared_http.privacy],
                       provides={Definitions: Definitions(store), Exports: Exports(settings.service_name, store)},
                       verifier=settings.token_verifier(),
                       unconfigured="set SEQUENCES_JWT_SECRET or SEQUENCES_JWKS_URL")
