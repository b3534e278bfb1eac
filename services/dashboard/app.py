"""The Recruiter Dashboard: `create_service(settings)` makes its parts (sessions, the rating and
messaging clients, the Kafka feed, the templates) and the application: one router per area
(`routes/`: sign-in, pages, actions, send, live), the error pages (`errors`), operations.

It owns no data but its sessions (`sessions`, in its database, so signing out ends one on every
replica). It reads the board through rating's API with the recruiter's own token, asks
messaging for a template preview and a send's progress, acts by publishing the contract's
commands, and pushes what changes to open pages by Server-Sent Events. Tests pass their own
parts (`parts=`), or a feed of their own (`feed=`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from shared.db import mongo_client
from shared.http import service_api
from shared.telemetry import READY

from services.dashboard import errors, problems
from services.dashboard.clients import InsightsApi, IntakeApi, MessagingApi, RatingApi, SequencesApi, WebhooksApi
from services.dashboard.feed import Feed
from services.dashboard.routes import actions, consider, insights, integrations, live, pages, send, sequences, signin
from services.dashboard.sessions import Sessions, login_verifier
from services.dashboard.store import DashboardStore
from services.dashboard.settings import DashboardSettings
from services.dashboard.web import HERE, Parts, make_templates


DESCRIPTION = "The Recruiter Dashboard: the recruiter's day in a browser, over the services' APIs and Kafka."


def make_parts(settings: DashboardSettings, *, feed: Feed | None = None) -> Parts:
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    if not secret:
        from shared.service import ConfigurationError

        raise ConfigurationError("DASHBOARD_JWT_SECRET is not set: it checks sign-in links and signs the API tokens "
                                 "of sessions (the same secret as rating's RATING_JWT_SECRET)")
    client = mongo_client(settings.mongodb, appname="prospectflow-dashboard")
    store = DashboardStore(client[settings.database])
    return Parts(
        settings=settings,
        sessions=Sessions(login_verifier(secret), secret, settings.session_hours, store),
        store=store,
        rating=RatingApi(settings.rating_api_url, settings.api_timeout_s),
        messaging=MessagingApi(settings.messaging_api_url, settings.api_timeout_s),
        feed=feed or Feed(settings.kafka, command_timeout_s=settings.command_timeout_s),
        templates=make_templates(),
        intake=IntakeApi(settings.intake_api_url, settings.api_timeout_s),
        webhooks=WebhooksApi(settings.webhooks_api_url, settings.api_timeout_s),
        sequences=SequencesApi(settings.sequences_api_url, settings.api_timeout_s),
        insights=InsightsApi(settings.insights_api_url, settings.api_timeout_s),
    )


def create_service(settings: DashboardSettings, *, feed: Feed | None = None, parts: Parts | None = None) -> FastAPI:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per API call is noise; failures are ours to say
    made = parts or make_parts(settings, feed=feed)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if isinstance(made.store, DashboardStore):
            try:
                await made.store.ensure_indexes()
            except Exception:  # noqa: BLE001 - the database is away: sessions expire by their own check meanwhile
                logging.getLogger("prospectflow.dashboard").warning("could not create the TTL indexes of its store")
        await made.feed.start()
        try:
            yield
        finally:
            await made.feed.stop()
            await made.rating.close()
            await made.messaging.close()
            for api in (made.intake, made.webhooks, made.sequences, made.insights):
                if api is not None:
                    await api.close()

    async def readiness() -> dict[str, str]:
        return {} if made.feed.reading else {"kafka": "not reading updates"}

    app = service_api(title="Prospectflow Recruiter Dashboard", description=DESCRIPTION, lifespan=lifespan,
                      readiness=readiness, routers=[area.router for area in (signin, pages, actions, send, live,
                                                                               integrations, sequences, consider, insights)],
                      probes_in_schema=False, docs_url=None, redoc_url=None, responses=errors.RESPONSES)
    app.state.parts = made
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    problems.install(app, command_timeout_s=settings.command_timeout_s)
    # Read at each scrape: a gauge set once stayed 0 for a dashboard that was ready.
    READY.set_function(lambda: 1.0 if made.feed.reading else 0.0)
    return app
