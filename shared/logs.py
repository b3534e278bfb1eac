"""One logger set-up for every service: one JSON object per line on stderr.

Prospect data is personal data: log ids, counts and reasons, never names, e-mails or bodies.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime, timezone

_outages_log = logging.getLogger("prospectflow.operations")  # as before: ops filter on it
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# What aiokafka logs at error level, once per attempt, while a broker is away (thousands of
# lines a minute), and while a new broker elects its group coordinator (every normal start).
_UNREACHABLE = ("Unable connect to node", "Unable to update metadata", "NodeNotReadyError", "KafkaConnectionError",
                "Connection at", "RequestTimedOutError")
# A coordinator or leader moving (a new broker electing, a rebalance): routine, and during a real
# outage the connection errors above say it.
_ELECTING = ("GroupCoordinatorNotAvailable", "CoordinatorNotAvailable", "NotCoordinator", "CoordinatorLoadInProgress",
             "NotLeaderForPartition", "LeaderNotAvailable", "StaleMetadata", "Heartbeat", "coordinator dead")


_STARTING = ("not found in cluster metadata",)  # a topic just created, before its metadata spreads
_STARTUP_S = 30.0


class KafkaNoise(logging.Filter):
    """Turns aiokafka's per-attempt connection errors into one "kafka is failing" line (and,
    once a probe gets through again, one "kafka answers again" with how long it lasted; see
    shared.telemetry.Outages), and drops the coordinator election of a starting broker."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiokafka") or record.levelno < logging.WARNING:
            return True
        message = record.getMessage()
        if any(m in message for m in _ELECTING):
            return False
        if record.relativeCreated < _STARTUP_S * 1000 and any(m in message for m in _STARTING):
            return False
        if any(m in message for m in _UNREACHABLE):
            OUTAGES.down("kafka", message, record.name)
            return False
        return True


class Outages:
    """A dependency's outage is logged when it starts and when it ends (with how long it
    lasted), not once per failed attempt."""

    def __init__(self) -> None:
        self._since: dict[str, tuple[float, str]] = {}

    def down(self, dependency: str, fault: str, operation: str = "") -> None:
        if dependency in self._since:
            return
        self._since[dependency] = (time.monotonic(), datetime.now(timezone.utc).isoformat(timespec="seconds"))
        _outages_log.warning(f"{dependency} is failing; retrying until it answers",
                    extra={"dependency": dependency, "operation": operation, "fault": fault[:300]})

    def up(self, dependency: str) -> None:
        started = self._since.pop(dependency, None)
        if started is None:
            return
        _outages_log.warning(f"{dependency} answers again", extra={
            "dependency": dependency, "down_since": started[1], "down_s": round(time.monotonic() - started[0], 1)})

    def is_down(self, dependency: str) -> bool:
        return dependency in self._since


OUTAGES = Outages()


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(KafkaNoise())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka is chatty about rebalances and coordinator moves at INFO.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # aiosmtpd (messaging's inbound listener) logs every session at INFO: thousands a burst.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per delivery attempt; ours say what matters


def get_logger(name: str = "prospectflow") -> logging.Logger:
    return logging.getLogger(name)
