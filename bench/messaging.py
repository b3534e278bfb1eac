"""Messaging end to end: a 1,000-prospect `messages.send` to a local SMTP sink, from the command
published to the last `message.sent` on the topic, with the service as a real process. Baseline
in the same run: a plain aiosmtplib loop over one connection sending the same number of
rendered mails to the same kind of sink (no Kafka, no database, no rendering)."""

from __future__ import annotations

import statistics
import time
import uuid

from bench.common import BenchNamespace, memory_mb, produce, summary, wait_for_log, wait_for_records
from bench.mail import baseline, messages, private_sink
from devstack.stack import ROOT
from prospectflow.bus import Bus
from shared import ids
from shared.settings import KafkaSettings

JOB, RECRUITER = "job-mail", "rec-mail"


def event(type_: str, data: dict) -> dict:
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "bench", "type": type_, "data": data}


async def one(addresses: dict[str, str], port: int, count: int) -> dict:
    ns = BenchNamespace(addresses)
    await ns.create_topics()
    bootstrap = addresses["KAFKA_BOOTSTRAP_SERVERS"]
    log = ROOT / ".devstack" / "bench-logs" / f"{ns.name}-messaging.log"
    process = ns.start_service("messaging", log, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port))
    try:
        wait_for_log(log, "assigned to partitions", timeout_s=120)
        idle = memory_mb(process.pid)[0]
        await produce(bootstrap, ns.topic("jobs"), [(JOB, event("job.opened", {
            "job_id": JOB, "title": "Backend Engineer", "company": "Acme", "apply_url": "https://acme.example/apply",
            "recruiter": {"recruiter_id": RECRUITER, "name": "Dana Smith", "email": "dana@acme.example"}}))])
        emails = [f"mail{n}@example.com" for n in range(count)]
        pids = [ids.prospect_id(JOB, e) for e in emails]
        await produce(bootstrap, ns.topic("prospects"), [(pid, event("prospect.registered", {
            "prospect_id": pid, "person_id": ids.person_id(e), "job_id": JOB,
            "profile": {"name": f"Person {n}", "email": e},
            "inquiry": {"board": "bench", "inquired_at": "2026-11-25T09:00:00Z"}}))
            for n, (pid, e) in enumerate(zip(pids, emails))])
        async with Bus(KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=ns.prefix)) as bus:
            await bus.caught_up(f"{ns.name}-messaging", [ns.topic("prospects"), ns.topic("jobs")], timeout_s=300,
                                what="messaging")
        started = time.monotonic()
        await produce(bootstrap, ns.topic("messaging-commands"), [(RECRUITER, event("messages.send", {
            "recruiter_id": RECRUITER, "template": "ask_to_apply", "prospect_ids": pids}))])
        done = await wait_for_records(bootstrap, ns.topic("messages"), count)
        return {"rate": count / (done - started), "idle": idle, "peak": memory_mb(process.pid)[1]}
    finally:
        await ns.finish(process)


async def main(addresses: dict[str, str], count: int = 1000, runs: int = 3) -> tuple[list[str], dict]:
    with private_sink() as port:
        batch = messages(count)
        base, service = [], []
        for _ in range(runs):  # alternate, so drift on a shared machine hits both alike
            base.append(await baseline(port, batch))
            service.append(await one(addresses, port, count))
    rates = [r["rate"] for r in service]
    lines = [f"messaging, a {count:,}-prospect messages.send to the local sink -> last message.sent, {runs} runs, mails/s:",
             f"  baseline, plain aiosmtplib loop on one connection (pre-rendered mails): {summary(base)}",
             f"  messaging service: {summary(rates)}; ratio {statistics.median(rates) / statistics.median(base):.2f}"]
    memory = {"messaging idle": [r["idle"] for r in service], f"messaging peak, {count:,} mails": [r["peak"] for r in service]}
    return lines, memory
