"""The one retry helper: infrastructure faults stall processing, they never drop it."""

from __future__ import annotations

import asyncio
import errno
import random
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import KafkaError
from pymongo.errors import ConnectionFailure, PyMongoError, WaitQueueTimeoutError

from shared.logs import get_logger
from shared.logs import OUTAGES
from shared.telemetry import RETRIES, dependency_of

T = TypeVar("T")
log = get_logger("prospectflow.retry")


RESTARTED_POSTGRESQL = ("terminating connection due to administrator command", "the database system is starting up",
                        "the database system is shutting down", "connection refused")


class InfrastructureError(Exception):
    """A dependency (Kafka, MongoDB, SMTP) is unavailable; the same work will succeed later."""


NETWORK_ERRNOS = frozenset({
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT, errno.EHOSTUNREACH,
    errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.ENOTCONN, errno.EADDRNOTAVAIL, errno.ESHUTDOWN,
})


def is_infrastructure_error(exc: BaseException) -> bool:
    if isinstance(exc, (InfrastructureError, KafkaError, ConnectionFailure, WaitQueueTimeoutError,
                        ConnectionError, TimeoutError, asyncio.TimeoutError)):
        return True
    if isinstance(exc, PyMongoError):
        if getattr(exc, "timeout", False):  # the operation outlived MONGODB_OPERATION_TIMEOUT_MS
            return True
        if exc.has_error_label("RetryableWriteError") or exc.has_error_label("TransientTransactionError"):
            return True
        # FerretDB 2 after its PostgreSQL restarted: the first command on each pooled connection
        # fails once with PostgreSQL's own words; the next one works.
        return any(words in str(exc) for words in RESTARTED_POSTGRESQL)
    # An OSError is an outage only when it is the network's: a file, a permission or an encoding
    # problem raised while handling one message is that message's, and retrying it forever would
    # stop its partition; it is dead-lettered instead.
    return isinstance(exc, socket.gaierror) or isinstance(exc, OSError) and exc.errno in NETWORK_ERRNOS


async def retry_forever(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    max_backoff_s: float = 5.0,
    initial_backoff_s: float = 0.1,
) -> T:
    """Run `operation` until it succeeds, sleeping with capped, jittered exponential backoff
    after each infrastructure fault. Any other exception propagates at once.

    The first failure of a dependency is logged once (`OUTAGES`), as is its return; each
    attempt is counted in `prospectflow_retries_total` and logged at debug level only."""
    backoff = initial_backoff_s
    attempt = 0
    dependency = ""
    while True:
        try:
            result = await operation()
        except Exception as exc:
            if not is_infrastructure_error(exc):
                raise
            attempt += 1
            dependency = dependency_of(exc, what)
            RETRIES.labels(dependency).inc()
            fault = f"{type(exc).__name__}: {exc}"[:300]
            OUTAGES.down(dependency, fault, what)
            delay = min(max_backoff_s, backoff) * random.uniform(0.5, 1.0)
            log.debug("infrastructure fault, retrying",
                      extra={"operation": what, "attempt": attempt, "delay_s": round(delay, 2), "fault": fault})
            await asyncio.sleep(delay)
            backoff = min(max_backoff_s, backoff * 2)
            continue
        if dependency:
            OUTAGES.up(dependency)
        return result
