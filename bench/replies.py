"""A burst of replies into messaging's inbound listener: N prospects were mailed (their messages
seeded into messaging's database, each followed up on rating's board), and all N answer at once
over 8 SMTP connections, each reply shaped like Gmail's. Figures: replies accepted per second (to
the SMTP `250`), replies processed per second (to the last `prospect.follow_up_flag_changed`
rating publishes), and the time from each reply's `250` to its flag change, p50/p99. Baseline:
the same mails over the same connections into the local SMTP sink (which only writes a file),
in the same run."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import datetime, timezone

import aiosmtplib
from pymongo import AsyncMongoClient

from bench.common import BenchNamespace, percentile, wait_for_log, wait_for_records
from bench.mail import private_sink
from devstack.stack import ROOT
from services.messaging.addresses import ReturnAddresses
from tests.mailsamples import sample
from tests.support import Kafka, free_port

RECRUITER = "rec-0"
CONNECTIONS = 8
DOMAIN = "inbound.bench"


async def seed(uri: str, ns: BenchNamespace, count: int) -> list[str]:
    client: AsyncMongoClient = AsyncMongoClient(uri)
    now = datetime.now(timezone.utc)
    recruiter = {"recruiter_id": RECRUITER, "name": "Dana Smith", "email": "dana@acme.example"}
    message_ids = [str(uuid.uuid4()) for _ in range(count)]
    for start in range(0, count, 5_000):
        chunk = range(start, min(count, start + 5_000))
        await client[ns.database("messaging")]["messages"].insert_many([
            {"_id": message_ids[n], "command_id": "c", "prospect_id": f"p{n:07d}", "job_id": "job-0",
             "recruiter_id": RECRUITER, "template": "ask_to_apply", "to": f"p{n}@example.com",
             "to_name": f"Prospect {n}", "context": {"recruiter": recruiter}, "state": "reported", "outcome": "sent"}
            for n in chunk])
        await client[ns.database("rating")]["board"].insert_many([
            {"_id": f"p{n:07d}", "job_id": "job-0", "recruiter_id": RECRUITER, "job_open": True, "job_title": "Backend",
             "rating": "unrated", "flagged": True, "waiting_since": now, "profile": {"name": f"Prospect {n}",
                                                                                  "email": f"p{n}@example.com"}}
            for n in chunk])
    await client.close()
    return message_ids


def mails(message_ids: list[str], secret: str, tag: str) -> list[tuple[str, str, bytes]]:
    addresses = ReturnAddresses(secret, DOMAIN)
    out = []
    for n, message_id in enumerate(message_ids):
        reply_to = addresses.reply_to(message_id)
        raw = sample("gmail_reply", message_id=message_id, domain="acme.example", reply_to=reply_to,
                     prospect=f"p{n}@example.com", tag=f"{tag}-{n}")
        out.append((f"p{n:07d}", reply_to, raw.replace(b"\n", b"\r\n")))
    return out


async def blast(port: int, batch: list[tuple[str, str, bytes]]) -> tuple[dict[str, float], float]:
    """Send every mail over CONNECTIONS connections; when each got its 250, and the seconds in all."""
    accepted: dict[str, float] = {}
    queue = list(reversed(batch))
    began = time.time()

    async def connection() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
        await client.connect()
        try:
            while queue:
                key, to, raw = queue.pop()
                await client.sendmail("lee@example.com", [to], raw)
                accepted[key] = time.time()
        finally:
            await client.quit()

    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return accepted, time.time() - began


async def flag_times(bootstrap: str, topic: str) -> dict[str, float]:
    """When rating published each prospect's flag change (the record's Kafka timestamp)."""
    return {r.key.decode(): r.timestamp / 1000 for r in await Kafka(bootstrap).read_to_end(topic)}


async def one(addresses: dict[str, str], sink_port: int, count: int) -> dict[str, float]:
    ns = BenchNamespace(addresses)
    await ns.create_topics()
    message_ids = await seed(addresses["MONGODB_URI"], ns, count)
    secret = f"bench-{ns.name}"
    batch = mails(message_ids, secret, ns.name)
    inbound_port = free_port()
    logs = ROOT / ".devstack" / "bench-logs"
    smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(sink_port)}
    messaging = ns.start_service("messaging", logs / f"{ns.name}-messaging.log", MESSAGING_UNSUBSCRIBE_SECRET=secret,
                                 MESSAGING_INBOUND_DOMAIN=DOMAIN, MESSAGING_INBOUND_SMTP_PORT=str(inbound_port), **smtp)
    rating = ns.start_service("rating", logs / f"{ns.name}-rating.log", RATING_JWT_SECRET=secret, **smtp)
    try:
        wait_for_log(logs / f"{ns.name}-messaging.log", "inbound SMTP listening", timeout_s=120)
        wait_for_log(logs / f"{ns.name}-rating.log", "Uvicorn running", timeout_s=120)
        accepted, took = await blast(inbound_port, batch)
        bootstrap = addresses["KAFKA_BOOTSTRAP_SERVERS"]
        await wait_for_records(bootstrap, ns.topic("assessments"), count, timeout_s=900)
        flagged = await flag_times(bootstrap, ns.topic("assessments"))
        lags = [flagged[k] - at for k, at in accepted.items() if k in flagged]
        first = min(accepted.values())
        base_accepted, base_took = await blast(sink_port, batch)
        return {"accepted_per_s": count / took, "processed_per_s": count / (max(flagged.values()) - first),
                "p50_ms": percentile(lags, 50) * 1000, "p99_ms": percentile(lags, 99) * 1000,
                "sink_per_s": count / base_took, "flags": len(lags)}
    finally:
        await ns.finish(messaging, rating)


async def main(addresses: dict[str, str], count: int = 5_000, runs: int = 3) -> list[str]:
    with private_sink() as sink_port:
        results = [await one(addresses, sink_port, count) for _ in range(runs)]

    def med(key: str) -> float:
        return statistics.median(r[key] for r in results)

    return [f"replies: a burst of {count:,} replies over {CONNECTIONS} SMTP connections into messaging's inbound "
            f"listener ({runs} runs, medians)",
            f"  accepted (SMTP 250, stored):      {med('accepted_per_s'):,.0f} replies/s",
            f"  processed (flag off on rating):   {med('processed_per_s'):,.0f} replies/s",
            f"  250 -> flag change:               p50 {med('p50_ms'):,.0f} ms, p99 {med('p99_ms'):,.0f} ms",
            f"  baseline, the same mails into the local SMTP sink (a file each): {med('sink_per_s'):,.0f} mails/s; "
            f"accepted / baseline = {med('accepted_per_s') / med('sink_per_s'):.2f}",
            f"  every reply turned its flag off: {all(r['flags'] == count for r in results)}"]
