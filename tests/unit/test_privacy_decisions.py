"""Forgetting a person (shared.privacy) with a fake service on an in-memory database, in
milliseconds: `person.erase` is answered once per service with counts and no personal data;
events about the person written before the erasure are dropped when they arrive (an inquiry on
its way, a redelivery), and one written after it (they inquire anew) is taken."""

from __future__ import annotations

from typing import Any

from shared import ids
from shared.messages import Received, received
from shared.privacy import Forgotten, Held, Privacy, about, address_key
from tests.fakes import MemoryDatabase, MemoryPublisher

EMAIL = "lee.park@example.com"
PID = ids.prospect_id("job-42", EMAIL)


class Service:
    """A service's handler and holder: it keeps the prospects it is told of."""

    def __init__(self) -> None:
        self.prospects = MemoryDatabase()["prospects"]

    @property
    def held_now(self) -> list[str]:
        return list(self.prospects.docs)

    async def __call__(self, batch: list[Received]) -> None:
        for r in batch:
            data = r.data.model_dump(mode="json")
            await self.prospects.insert_one({"_id": data["prospect_id"], "email": data["profile"]["email"]})

    async def held(self, person_id: str, email: str,
                   only: frozenset[str] | None = None) -> tuple[dict[str, Held], set[str]]:
        pids = {d["_id"] async for d in self.prospects.find({"email": email})}
        return {"prospects": Held(self.prospects, {"email": email})}, pids

    async def forget(self, person_id: str, email: str, prospect_ids: set[str], whole: bool) -> dict[str, int]:
        return {"untouched": 0}


def registered(at: str, event_id: str) -> Received:
    return received("prospects", {"specversion": "1.0", "id": event_id, "source": "tests", "type": "prospect.registered",
                                  "time": at, "data": {
                                      "prospect_id": PID, "person_id": ids.person_id(EMAIL), "job_id": "job-42",
                                      "profile": {"name": "Lee Park", "email": EMAIL},
                                      "inquiry": {"board": "b", "inquired_at": at}}})


def erase(at: str, event_id: str = "erase-1") -> Received:
    return received("privacy-commands", {"specversion": "1.0", "id": event_id, "source": "ops", "type": "person.erase",
                                         "time": at, "data": {"email": EMAIL, "requested_by": "ops"}})


def world() -> tuple[Service, Any, MemoryPublisher]:
    service, publisher = Service(), MemoryPublisher()
    privacy = Privacy("rating", service, Forgotten(MemoryDatabase()), publisher,  # type: ignore[arg-type]
                      kafka_retention_days=30)
    return service, privacy.wrap(service), publisher


async def test_an_erasure_removes_the_person_and_answers_with_counts_only():
    service, apply, publisher = world()
    await apply([registered("2026-12-07T09:00:00Z", "r1")])
    await apply([erase("2026-12-07T10:00:00Z")])
    assert service.held_now == []
    [answer] = publisher.of_type("person.erased")
    data = answer["data"]
    assert (data["service"], data["person_id"], data["removed"]) == ("rating", ids.person_id(EMAIL), {"prospects": 1})
    assert data["kafka_copies_gone_by"] > data["erased_at"]
    assert EMAIL not in str(answer) and "Lee Park" not in str(answer)
    assert answer["id"] == ids.derive("person-erased", "erase-1", "rating")  # a redelivery: the same answer


async def test_events_written_before_the_erasure_are_dropped_and_a_new_inquiry_is_taken():
    service, apply, _ = world()
    # The erasure overtakes an inquiry on its way, and the batch holds both orders.
    await apply([erase("2026-12-07T10:00:00Z"), registered("2026-12-07T09:59:00Z", "r-on-its-way")])
    await apply([registered("2026-12-07T09:00:00Z", "r-redelivered")])
    assert service.held_now == []
    await apply([registered("2026-12-08T09:00:00Z", "r-anew")])  # they inquire again, after
    assert service.held_now == [PID]


def test_what_an_event_names_and_what_stays_of_an_address():
    assert about({"prospect_id": "p", "profile": {"email": " Lee.Park@Example.com"}}) == {"p", ids.person_id(EMAIL)}
    # A command naming several people is not about one: never dropped for one (it is answered).
    command = {"recruiter_id": "rec-7", "prospect_ids": ["p1", "p2"], "accepted": ["p3"]}
    assert about(command) == set() and about(command, lists=True) == {"p1", "p2", "p3"}
    key = address_key("secret", EMAIL)
    assert key.startswith("hmac:") and EMAIL not in key and key == address_key("secret", "LEE.PARK@example.com")
    assert key != address_key("another secret", EMAIL)


def test_an_outcome_naming_several_people_keeps_the_others():
    from shared.privacy import scrubbed

    record = {"_id": "cmd-1", "events": [{"event": {"data": {"accepted": ["p1", "p2"],
                                                             "rejected": [{"prospect_id": "p2", "reason": "x"}]}}}]}
    assert scrubbed(record, {"p2"}) == {"_id": "cmd-1", "events": [{"event": {"data": {"accepted": ["p1"], "rejected": []}}}]}


def test_the_guard_reads_the_same_people_from_every_event_as_from_its_whole_data():
    """The guard reads an event's people from the model's own fields (fast); they must be those
    its whole data names, for every event type the contract has (an erased person's event that
    named them only in a nested profile would otherwise get through)."""
    from shared.contract import EVENT_TYPES
    from shared.privacy import _shallow
    from tests.unit.samples import SAMPLE_DATA

    named_someone = 0
    for event_type, model in EVENT_TYPES.items():
        data = model.model_validate(SAMPLE_DATA[event_type])
        whole = about(data.model_dump(mode="python"))
        assert about(_shallow(data)) == whole, event_type
        named_someone += bool(whole)
    assert named_someone >= 10  # the samples do name people: the comparison is not of empty sets
