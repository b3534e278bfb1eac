"""MongoDB wiring: one AsyncMongoClient per process, one database per service."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared.settings import MongoSettings

DUPLICATE_KEY = 11000


def mongo_client(settings: MongoSettings, *, appname: str) -> AsyncMongoClient[dict[str, Any]]:
    """A client that connects lazily; nothing is contacted until the first operation."""
    return AsyncMongoClient(
        settings.uri.get_secret_value(),
        appname=appname,
        tz_aware=True,
        serverSelectionTimeoutMS=settings.server_selection_timeout_ms,
        timeoutMS=settings.operation_timeout_ms,
    )


def database(client: AsyncMongoClient[dict[str, Any]], name: str) -> AsyncDatabase[dict[str, Any]]:
    return client[name]


def only_duplicate_keys(exc: BulkWriteError) -> bool:
    """True when every failure of a bulk write is a unique-key violation (and nothing else)."""
    details = exc.details or {}
    errors = details.get("writeErrors") or []
    return bool(errors) and not details.get("writeConcernErrors") and all(
        e.get("code") == DUPLICATE_KEY for e in errors
    )
