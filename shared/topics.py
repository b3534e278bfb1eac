"""Topic names of the contract (docs/contract.md, section 4), and creating them.

A deployment may prefix every name (KAFKA_TOPIC_PREFIX); `.dlq` topics follow their original.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

JOBS = "jobs"
INQUIRIES = "inquiries"
OPT_OUTS = "opt-outs"
PROSPECTS = "prospects"
RATING_COMMANDS = "rating-commands"
ASSESSMENTS = "assessments"
MESSAGING_COMMANDS = "messaging-commands"
MESSAGES = "messages"
REMINDER_COMMANDS = "reminder-commands"
REMINDERS = "reminders"
COMMAND_RESULTS = "command-results"
PROSPECT_VIEWS = "prospect-views"
SEQUENCE_COMMANDS = "sequence-commands"
SEQUENCES = "sequences"
PRIVACY_COMMANDS = "privacy-commands"
PRIVACY = "privacy"

ALL = (
    JOBS, INQUIRIES, OPT_OUTS, PROSPECTS, RATING_COMMANDS, ASSESSMENTS, MESSAGING_COMMANDS,
    MESSAGES, REMINDER_COMMANDS, REMINDERS, COMMAND_RESULTS, PROSPECT_VIEWS, SEQUENCE_COMMANDS, SEQUENCES,
    PRIVACY_COMMANDS, PRIVACY,
)
"""Every topic of the contract, without prefix."""

TYPES_BY_TOPIC: dict[str, frozenset[str]] = {
    JOBS: frozenset({"job.opened", "job.updated", "job.closed"}),
    INQUIRIES: frozenset({"inquiry.received"}),
    OPT_OUTS: frozenset({"prospect.opted_out"}),
    PROSPECTS: frozenset({"prospect.registered", "prospect.inquired_again"}),
    RATING_COMMANDS: frozenset({"prospects.rate", "prospects.flag_follow_up", "prospects.suggest"}),
    ASSESSMENTS: frozenset({"prospect.rated", "prospect.follow_up_flag_changed"}),
    MESSAGING_COMMANDS: frozenset({"messages.send"}),
    MESSAGES: frozenset({"message.sent", "message.failed", "message.replied", "message.auto_replied",
                         "message.bounced", "message.complained"}),
    REMINDER_COMMANDS: frozenset({"reminders.run"}),
    REMINDERS: frozenset({"follow_up.reminder_due"}),
    COMMAND_RESULTS: frozenset({"command.completed"}),
    PROSPECT_VIEWS: frozenset({"prospect.viewed"}),
    SEQUENCE_COMMANDS: frozenset({"sequences.enroll", "sequences.stop", "sequences.run"}),
    SEQUENCES: frozenset({"sequence.enrolled", "sequence.paused", "sequence.resumed", "sequence.stopped",
                          "sequence.completed"}),
    PRIVACY_COMMANDS: frozenset({"person.erase"}),
    PRIVACY: frozenset({"person.erased"}),
}
"""The event types each topic carries; anything else on it is dead-lettered."""

CONSUMED_BY: dict[str, tuple[str, ...]] = {
    "intake": (INQUIRIES, JOBS, PRIVACY_COMMANDS),
    "rating": (RATING_COMMANDS, PROSPECTS, MESSAGES, JOBS, PRIVACY_COMMANDS),
    "messaging": (MESSAGING_COMMANDS, PROSPECTS, JOBS, OPT_OUTS, REMINDERS, PRIVACY_COMMANDS),
    "reminder": (PROSPECTS, ASSESSMENTS, JOBS, REMINDER_COMMANDS, PRIVACY_COMMANDS),
    "webhooks": (REMINDERS, ASSESSMENTS, MESSAGES, PROSPECTS, COMMAND_RESULTS, PROSPECT_VIEWS, JOBS, SEQUENCES,
                 PRIVACY_COMMANDS, PRIVACY),
    "sequences": (SEQUENCE_COMMANDS, PROSPECTS, JOBS, MESSAGES, OPT_OUTS, ASSESSMENTS, COMMAND_RESULTS, PRIVACY_COMMANDS),
    "insights": (JOBS, PROSPECTS, ASSESSMENTS, MESSAGES, OPT_OUTS, PRIVACY_COMMANDS),
}
"""What each service consumes (docs/contract.md, section 2), each in its own consumer group."""

HOLDS_PERSONAL_DATA = ("intake", "rating", "messaging", "reminder", "webhooks", "sequences", "insights")
"""The services that answer `person.erase` with a `person.erased` (docs/privacy.md)."""

DLQ_REPLAYS = "dlq-replays"
"""Operations' own log of replayed dead letters (compacted; key `<dlq topic>:<partition>:<offset>`),
so that `prospectflow dlq replay` replays nothing twice by accident. Not part of the contract."""


def dlq(topic: str) -> str:
    """The dead-letter topic of `topic` (already prefixed)."""
    return f"{topic}.dlq"


def strip_prefix(topic: str, prefix: str) -> str:
    return topic[len(prefix):] if prefix and topic.startswith(prefix) else topic


def with_dead_letters(names: Iterable[str]) -> list[str]:
    names = list(names)
    return names + [dlq(n) for n in names]


async def ensure_topics(
    admin: AIOKafkaAdminClient, names: Iterable[str], *, partitions: int, replication_factor: int,
    retention_days: float | None = None,
) -> list[str]:
    """Create the topics that do not exist yet (with `retention.ms` when `retention_days` is
    given: records carrying personal data are not kept longer); return the names created."""
    wanted = sorted(set(names))
    existing = set(await admin.list_topics())
    missing = [n for n in wanted if n not in existing]
    if not missing:
        return []
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=replication_factor,
                      topic_configs=({"retention.ms": str(int(retention_days * 86_400_000))} if retention_days else {}))
             for n in missing]
        )
    except TopicAlreadyExistsError:
        pass  # another replica created them first
    logging.getLogger("prospectflow").info("created topics", extra={"topics": missing})
    return missing
