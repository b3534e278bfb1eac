"""The dashboard's own data: sessions, the sign-in links used, and the size of each send. The
dashboard owns nothing else (the board is rating's, messages are messaging's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from shared.db import insert_new


class SessionStore(Protocol):
    async def claim_link(self, jti: str, expires_at: datetime) -> bool:
        """True the first time a sign-in link's id is claimed, False ever after (until it expires)."""

    async def open(self, session_id: str, recruiter_id: str, expires_at: datetime) -> None: ...

    async def find(self, session_id: str) -> dict[str, Any] | None: ...

    async def close(self, session_id: str) -> None: ...


@dataclass
class MemoryStore:
    """The store of one process (unit tests): what DashboardStore keeps, in dicts."""

    links: dict[str, datetime] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    sends: dict[str, dict[str, Any]] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)

    async def note_waiting(self, recruiter_id: str, day: str, n: int) -> None:
        self.waiting[f"{recruiter_id}|{day}"] = n

    async def waiting_on(self, recruiter_id: str, first: str, last: str) -> int | None:
        days = sorted(k for k in self.waiting if f"{recruiter_id}|{first}" <= k <= f"{recruiter_id}|{last}")
        return self.waiting[days[-1]] if days else None

    async def note_send(self, key: str, parts: int, total: int) -> None:
        self.sends.setdefault(key, {"parts": parts, "total": total})

    async def send(self, key: str) -> dict[str, Any] | None:
        return self.sends.get(key)

    async def claim_link(self, jti: str, expires_at: datetime) -> bool:
        if jti in self.links:
            return False
        self.links[jti] = expires_at
        return True

    async def open(self, session_id: str, recruiter_id: str, expires_at: datetime) -> None:
        self.sessions[session_id] = {"_id": session_id, "recruiter_id": recruiter_id, "expires_at": expires_at}

    async def find(self, session_id: str) -> dict[str, Any] | None:
        return self.sessions.get(session_id)

    async def close(self, session_id: str) -> None:
        self.sessions.pop(session_id, None)


class DashboardStore:
    """The dashboard's database, shared by its replicas: sessions, used sign-in links, and each
    send's size (how many parts and prospects, so its page counts "of 2,000" whichever replica
    shows it, before messaging has taken every part). Each is written once by an insert (a
    duplicate key says it was there), never by a concurrent upsert."""

    def __init__(self, db: Any) -> None:
        self.sessions = db["sessions"]
        self.links = db["used_links"]
        self.sends = db["sends"]
        self.waiting = db["waiting"]  # `_id` "<recruiter>|<day>": how many were waiting that day (Home's change)

    async def ensure_indexes(self) -> None:
        for collection in (self.sessions, self.links, self.sends, self.waiting):
            await collection.create_index("expires_at", expireAfterSeconds=0)

    async def note_send(self, key: str, parts: int, total: int) -> None:
        now = datetime.now(timezone.utc)
        await insert_new(self.sends, [{"_id": key, "parts": parts, "total": total, "at": now,
                                       "expires_at": now + timedelta(days=30)}])

    async def note_waiting(self, recruiter_id: str, day: str, n: int) -> None:
        """How many prospects were waiting on `day` (the last Home page shown that day says)."""
        _id = f"{recruiter_id}|{day}"
        result = await self.waiting.update_one({"_id": _id}, {"$set": {"n": n}})
        if not result.matched_count:  # never an upsert: the local engine loses one of two concurrent ones
            await insert_new(self.waiting, [{"_id": _id, "n": n,
                                             "expires_at": datetime.now(timezone.utc) + timedelta(days=30)}])

    async def waiting_on(self, recruiter_id: str, first: str, last: str) -> int | None:
        """The latest count noted between the days `first` and `last`, if any."""
        found = await self.waiting.find_one({"_id": {"$gte": f"{recruiter_id}|{first}", "$lte": f"{recruiter_id}|{last}"}},
                                            sort=[("_id", -1)])
        return int(found["n"]) if found else None

    async def send(self, key: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self.sends.find_one({"_id": key})
        return found

    async def claim_link(self, jti: str, expires_at: datetime) -> bool:
        from pymongo.errors import DuplicateKeyError

        try:
            await self.links.insert_one({"_id": jti, "expires_at": expires_at})
        except DuplicateKeyError:
            return False
        return True

    async def open(self, session_id: str, recruiter_id: str, expires_at: datetime) -> None:
        await self.sessions.insert_one({"_id": session_id, "recruiter_id": recruiter_id, "expires_at": expires_at,
                                        "created_at": datetime.now(timezone.utc)})

    async def find(self, session_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self.sessions.find_one({"_id": session_id})
        return found

    async def close(self, session_id: str) -> None:
        await self.sessions.delete_one({"_id": session_id})
