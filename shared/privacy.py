"""Forgetting a person (docs/privacy.md, the contract's section 8): every service that holds
personal data takes `person.erase` from `privacy-commands` in its own batch consumer, removes
what it holds of the person (its `Eraser`), notes who was erased and when, and answers one
`person.erased` on `privacy` with counts. Events about an erased person written before the
erasure (still in Kafka, or on their way) are dropped when they arrive; a person who inquires
anew afterwards is a new prospect.

The notes (`erased`) name the person's pseudonymous ids (person and prospect ids), never the
address, and expire with the service's retention: once Kafka's copies are gone (its topics keep
records `KAFKA_RETENTION_DAYS`), nothing written before the erasure can arrive any more."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from pydantic import BaseModel
from pymongo.asynchronous.database import AsyncDatabase

from shared import ids, topics
from shared.contract import ErasePerson, PersonErased, new_event
from shared.db import find_by_ids, insert_new
from shared.logs import get_logger
from shared.messages import Outgoing, Publishes, Received
from shared.retention import Kept

log = get_logger("prospectflow.privacy")
SOURCE = "prospectflow/{service}/privacy"


@dataclass(frozen=True)
class Held:
    """Where a store holds something of a person: a collection and the query that finds it;
    `export`: shown in the person's export; `delete`: removed on erasure (else the store's
    `forget` changes it in place)."""

    collection: Any
    query: dict[str, Any]
    export: bool = True
    delete: bool = True


class Holder(Protocol):
    """A store that holds personal data."""

    async def held(self, person_id: str, email: str,
                   only: frozenset[str] | None = None) -> tuple[dict[str, Held], set[str]]:
        """Where the person is (by a name per place), and the prospect ids they had here; with
        `only`, just what belongs to those prospects of theirs (what is the person's as a whole,
        such as a suppression, stays)."""
        ...

    async def forget(self, person_id: str, email: str, prospect_ids: set[str], whole: bool) -> dict[str, int]:
        """What erasure changes rather than removes (a keyed hash left of an address, a name
        taken out of another's record), when the whole person goes: counts by place."""
        ...


async def prepared(holder: Any, people: list[tuple[str, str]]) -> None:
    """Let a store look up, in one query each, what it would otherwise look up person by person
    (a batch of erasures; `people`: (person_id, email)). Optional."""
    prepare = getattr(holder, "prepare", None)
    if prepare is not None:
        await prepare(people)


Eraser = Holder


async def erase(holder: Holder, person_id: str, email: str,
                only: frozenset[str] | None = None) -> tuple[dict[str, int], set[str]]:
    """Remove everything `holder` holds of the person (or of `only` those prospects of theirs):
    (documents per place, the prospect ids removed)."""
    places, prospect_ids = await holder.held(person_id, email, only)
    removed = await holder.forget(person_id, email, prospect_ids, only is None)  # before: it may read what goes
    for name, place in places.items():
        if place.delete:
            removed[name] = (await place.collection.delete_many(place.query)).deleted_count
    return removed, prospect_ids


async def export(holder: Holder, person_id: str, email: str, most: int = 10_000) -> dict[str, list[dict[str, Any]]]:
    """Everything `holder` holds of the person, by place (at most `most` documents a place)."""
    places, _ = await holder.held(person_id, email)
    return {name: await place.collection.find(place.query).limit(most).to_list()
            for name, place in places.items() if place.export}


def address_key(secret: str, email: str) -> str:
    """What stays of an address that must never be mailed again: a keyed hash, from which the
    address cannot be read back without the secret."""
    return "hmac:" + hmac.new(secret.encode(), b"address:" + email.strip().lower().encode(), hashlib.sha256).hexdigest()


async def candidate_prospects(jobs: Any, email: str) -> set[str]:
    """The ids the person would have on each job a service knows (a prospect id is derived from
    the job and the address), for stores that key by prospect and keep no address."""
    return {ids.prospect_id(d["_id"], email) async for d in jobs.find({}, {"_id": 1})}


def scrubbed(value: Any, gone: set[str]) -> Any:
    """`value` without the ids in `gone`: list items that are one of them, or name one as their
    `prospect_id`, are left out (a command's outcome listing several people keeps the others)."""
    if isinstance(value, dict):
        return {k: scrubbed(v, gone) for k, v in value.items()}
    if isinstance(value, list):
        return [scrubbed(v, gone) for v in value
                if not (isinstance(v, str) and v in gone)
                and not (isinstance(v, dict) and v.get("prospect_id") in gone)]
    return value


def about(data: Any, *, lists: bool = False) -> set[str]:
    """The person and prospect ids an event's data is about (its prospect, the person, an
    address's person); with `lists`, also those it names among others (a command's
    `prospect_ids`, its result's `accepted` and `rejected`: what a delivery log must forget,
    though such an event is not about one person and is never dropped for one)."""
    found: set[str] = set()
    if not isinstance(data, dict):
        return found
    for key in ("prospect_id", "person_id"):
        if isinstance(data.get(key), str):
            found.add(data[key])
    if lists:
        for key in ("prospect_ids", "accepted"):  # a command, and its result
            found.update(v for v in data.get(key) or () if isinstance(v, str))
        found.update(r["prospect_id"] for r in data.get("rejected") or () if isinstance(r, dict)
                     and isinstance(r.get("prospect_id"), str))
    for holder in (data, data.get("prospect"), data.get("profile")):
        if isinstance(holder, dict) and isinstance(holder.get("email"), str):
            found.add(ids.person_id(holder["email"].strip().lower()))
    return found


def _shallow(data: Any) -> Any:
    """What `about` reads of an event's data (its fields, and those of its `prospect` and
    `profile`), from the models' own attribute dicts: every event of every batch is asked, and
    `dict(model)` (pydantic's iterator) cost 5-10 us an event, more than the rest of the guard."""
    if not isinstance(data, BaseModel):
        return data
    fields = _fields(data)
    nested = {holder: _fields(fields[holder]) for holder in ("prospect", "profile")
              if isinstance(fields.get(holder), BaseModel)}
    return {**fields, **nested} if nested else fields


def _fields(model: BaseModel) -> dict[str, Any]:
    """A model's fields, and its extra ones if it keeps them (read, never changed)."""
    extra = model.__pydantic_extra__
    return {**model.__dict__, **extra} if extra else model.__dict__


class Forgotten:
    """Who was erased here and when (`erased`: `_id` a person or prospect id, `at`)."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db["erased"]

    def kept(self) -> list[Kept]:
        return [Kept(self.collection, "at")]

    async def note(self, keys: Iterable[str], at: datetime) -> None:
        keys = sorted(set(keys))
        await insert_new(self.collection, [{"_id": k, "at": at} for k in keys])
        await self.collection.update_many({"_id": {"$in": keys}}, {"$max": {"at": at}})  # erased again later

    async def erased_at(self, keys: Iterable[str]) -> dict[str, datetime]:
        return {d["_id"]: _aware(d["at"]) for d in await find_by_ids(self.collection, list(keys))}


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


class Privacy:
    """Wraps a service's batch handler: `person.erase` first (each erased, answered), then the
    rest without the events about people erased after those events were written."""

    def __init__(self, service: str, eraser: Eraser, forgotten: Forgotten, publisher: Publishes, *,
                 kafka_retention_days: float) -> None:
        self.service = service
        self.eraser = eraser
        self.forgotten = forgotten
        self.publisher = publisher
        self.kafka_retention = timedelta(days=kafka_retention_days)

    def wrap(self, apply: Callable[[list[Received]], Awaitable[None]]) -> Callable[[list[Received]], Awaitable[None]]:
        async def with_privacy(batch: list[Received]) -> None:
            erasures = [r.of(ErasePerson) for r in batch if r.event.type == "person.erase"]
            if erasures:
                await prepared(self.eraser, [(ids.person_id(r.data.email), r.data.email) for r in erasures])
            for r in erasures:
                await self.erase(r)
            rest = await self.without_erased([r for r in batch if r.topic != topics.PRIVACY_COMMANDS])
            if rest:
                await apply(rest)
        return with_privacy

    async def erase(self, r: Received[ErasePerson]) -> None:
        command = r.data
        email = command.email
        person_id = ids.person_id(email)
        only = frozenset(command.prospect_ids) if command.prospect_ids is not None else None
        removed, prospect_ids = await erase(self.eraser, person_id, email, only)
        await self.forgotten.note({*prospect_ids, *(() if only is not None else (person_id,))}, r.time)
        now = datetime.now(timezone.utc)
        answer = PersonErased(person_id=person_id, request_id=r.event.id, service=self.service, erased_at=now,
                              removed={k: v for k, v in removed.items() if v}, kafka_copies_gone_by=now + self.kafka_retention)
        event = new_event(event_id=ids.derive("person-erased", r.event.id, self.service),
                          source=SOURCE.format(service=self.service), type="person.erased", data=answer,
                          correlationid=r.event.id)
        await self.publisher.publish([Outgoing(topics.PRIVACY, person_id, event)])
        log.info("erased a person", extra={"person_id": person_id, "removed": answer.removed, "reason": command.reason})

    async def without_erased(self, batch: list[Received]) -> list[Received]:
        """The batch without events about people erased after the event was written."""
        named = {id(r): about(_shallow(r.data)) for r in batch}
        wanted = set().union(*named.values()) if named else set()
        if not wanted:
            return batch
        erased = await self.forgotten.erased_at(wanted)
        if not erased:
            return batch
        kept = []
        for r in batch:
            if any(k in erased and r.time <= erased[k] for k in named[id(r)]):
                log.info("dropped an event about an erased person", extra={"event_id": r.event.id, "type": r.event.type})
                continue
            kept.append(r)
        return kept


def guarded(service: str, apply: Callable[[list[Received]], Awaitable[None]], eraser: Eraser,
            db: AsyncDatabase[dict[str, Any]], publisher: Publishes,
            kafka_retention_days: float) -> tuple[Callable[[list[Received]], Awaitable[None]], list[Kept]]:
    """A service's batch handler that also forgets people (`person.erase`), and what of it
    retention prunes (the notes of who was erased)."""
    forgotten = Forgotten(db)
    privacy = Privacy(service, eraser, forgotten, publisher, kafka_retention_days=kafka_retention_days)
    return privacy.wrap(apply), forgotten.kept()


PUBLISHES = {topics.PRIVACY: ("person.erased",)}
"""What every service that holds personal data adds to its AsyncAPI publications."""


class Exports:
    """What a service shows of a person (`GET /v1/privacy/export`, an operator's token)."""

    def __init__(self, service: str, holder: Holder) -> None:
        self.service = service
        self.holder = holder

    async def of(self, email: str) -> dict[str, Any]:
        person_id = ids.person_id(email)
        return {"service": self.service, "person_id": person_id, "email": email,
                "held": await export(self.holder, person_id, email)}
