"""The whole pipeline under a burst: N inquiries published at once (then N ratings), and for each
service the time from the last publish until its consumer group has committed everything on
every topic it consumes (lag 0). Then the same with 2N, in a fresh namespace, to show growth.

Targets (issue 12): every service absorbs a 20,000 burst within 60 s of the last publish on the
local stack, and twice the burst within 2.2x the time (no quadratic growth)."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
import uuid

from bench.common import BenchNamespace, cpu_seconds, produce, stack_pids
from devstack.stack import ROOT
from prospectflow.bus import Bus
from shared import ids, topics
from shared.settings import KafkaSettings
from tests.support import cloud_event, free_port

SERVICES = ("intake", "rating", "messaging", "reminder")
JOBS = 20


async def absorbed(bus: Bus, ns: BenchNamespace, since: float, stages: list[tuple[str, ...]], timeout_s: float,
                   processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, float]:
    """Per service: seconds after `since` at which its lag on all its topics was first 0, a
    stage's services counted only once the stage before (their producers) is done: a consumer
    whose producer has not published yet has nothing to be behind on."""
    services = [s for stage in stages for s in stage]
    left = set(services)
    done: dict[str, float] = {}
    deadline = time.monotonic() + timeout_s
    while left and time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}); see .devstack/bench-logs/{ns.name}-{name}.log")
        current = next(stage for stage in stages if any(s in left for s in stage))
        for service in sorted(s for s in current if s in left):
            lag = await bus.lag(f"{ns.name}-{service}", [ns.topic(t) for t in topics.CONSUMED_BY[service]])
            if not any(lag.values()):
                done[service] = time.monotonic() - since
                left.discard(service)
        await asyncio.sleep(0.25)
    for service in left:
        done[service] = float("inf")
    return done


async def start(ns: BenchNamespace, **extra: str) -> dict[str, subprocess.Popen[bytes]]:
    """The pipeline's services on a fresh namespace (its topics made), their logs in
    .devstack/bench-logs."""
    await ns.create_topics()
    logs = ROOT / ".devstack" / "bench-logs"
    secret = secrets.token_urlsafe(32)
    return {s: ns.start_service(s, logs / f"{ns.name}-{s}.log", RATING_JWT_SECRET=secret,
                                RATING_HTTP_PORT=str(free_port()), **extra) for s in SERVICES}


async def open_jobs(bus: Bus, ns: BenchNamespace, processes: dict[str, subprocess.Popen[bytes]]) -> list[tuple[str, str]]:
    """JOBS jobs of JOBS / 2 recruiters opened, and every service caught up on them: (job, recruiter)."""
    recruiters = [f"rec-{n}" for n in range(JOBS // 2)]
    jobs = [(f"job-{n}", recruiters[n % len(recruiters)]) for n in range(JOBS)]
    await produce(ns.addresses["KAFKA_BOOTSTRAP_SERVERS"], ns.topic(topics.JOBS), [(job_id, cloud_event("job.opened", {
        "job_id": job_id, "title": "Backend Engineer", "company": "Acme", "apply_url": "https://acme.example/a",
        "recruiter": {"recruiter_id": rec, "name": "Dana", "email": f"{rec}@acme.example"}}))
        for job_id, rec in jobs])
    await absorbed(bus, ns, time.monotonic(), [SERVICES], timeout_s=120, processes=processes)
    return jobs


async def one_burst(addresses: dict[str, str], count: int) -> tuple[dict[str, float], dict[str, float]]:
    ns = BenchNamespace(addresses)
    bootstrap = addresses["KAFKA_BOOTSTRAP_SERVERS"]
    processes = await start(ns, REMINDER_TICK_S="0")
    try:
        async with Bus(KafkaSettings(bootstrap_servers=bootstrap)) as bus:
            jobs = await open_jobs(bus, ns, processes)  # all services caught up on the jobs before the burst
            tag = uuid.uuid4().hex[:6]
            inquiries = []
            for n in range(count):
                job_id = jobs[n % JOBS][0]
                email = f"p{n}-{tag}@example.com"
                inquiries.append((email, cloud_event("inquiry.received", {
                    "job_id": job_id, "board": "bench", "board_inquiry_id": f"{tag}-{n}",
                    "prospect": {"name": f"Person {n}", "email": email}})))
            pids = {**{s: p.pid for s, p in processes.items()}, **stack_pids()}
            cpu = {s: cpu_seconds(pid) for s, pid in pids.items()}
            await produce(bootstrap, ns.topic(topics.INQUIRIES), inquiries)
            after_inquiries = await absorbed(bus, ns, time.monotonic(), [("intake",), ("rating", "messaging", "reminder")], timeout_s=900, processes=processes)
            print(_row(f"{count:,} inquiries", after_inquiries), flush=True)
            print(_cpu(count, {s: cpu_seconds(pid) - cpu[s] for s, pid in pids.items()}), flush=True)
            ratings = []
            for n in range(count):
                job_id, rec = jobs[n % JOBS]
                pid = ids.prospect_id(job_id, f"p{n}-{tag}@example.com")
                ratings.append((rec, cloud_event("prospects.rate", {"recruiter_id": rec, "prospect_ids": [pid],
                                                                   "rating": "shortlist"})))
            await produce(bootstrap, ns.topic(topics.RATING_COMMANDS), ratings)
            after_ratings = await absorbed(bus, ns, time.monotonic(), [("rating",), ("reminder",)], timeout_s=900, processes=processes)
            print(_row(f"then {count:,} rate commands", after_ratings), flush=True)
    finally:
        await ns.finish(*processes.values())
    return after_inquiries, after_ratings


def _cpu(count: int, used: dict[str, float]) -> str:
    """CPU seconds each process used from the publish to lag 0 (a steadier figure than the time on
    a shared machine), and the services' together per 1,000 inquiries."""
    services = sum(used[s] for s in SERVICES)
    return ("    CPU s: " + ", ".join(f"{s} {t:.1f}" for s, t in used.items())
            + f"; services {services:.1f} ({services / count * 1000:.2f} per 1,000 inquiries), with the stack "
            f"{sum(used.values()):.1f}")


def _row(what: str, times: dict[str, float]) -> str:
    return f"  {what}: " + ", ".join(f"{s} {t:.1f} s" for s, t in sorted(times.items(), key=lambda kv: SERVICES.index(kv[0])))


async def curve(addresses: dict[str, str], sizes: list[int]) -> list[str]:
    """One burst of each size (inquiries, then as many rate commands), each in a fresh namespace:
    how the time to lag 0 grows with the work (linear: the same time per inquiry at every size)."""
    lines = ["pipeline, bursts of growing size; seconds from the last publish until every service's lag is 0, "
             "and per 1,000:"]
    for size in sizes:
        inquiries, ratings = await one_burst(addresses, size)
        slowest_i, slowest_r = max(inquiries.values()), max(ratings.values())
        line = (f"  {size:,}: inquiries {slowest_i:.1f} s ({slowest_i / size * 1000:.2f} s per 1,000), "
                f"then rate commands {slowest_r:.1f} s ({slowest_r / size * 1000:.2f} s per 1,000)")
        print(line, flush=True)
        lines.append(line)
    return lines


async def main(addresses: dict[str, str], count: int = 20_000) -> list[str]:
    small_inquiries, small_ratings = await one_burst(addresses, count)
    large_inquiries, large_ratings = await one_burst(addresses, count * 2)
    worst_small = max(max(small_inquiries.values()), max(small_ratings.values()))
    worst_large = max(max(large_inquiries.values()), max(large_ratings.values()))
    growth = {s: large_inquiries[s] / small_inquiries[s] for s in SERVICES}
    return [
        "pipeline, bursts published at once; seconds from the last publish until each service's lag is 0:",
        _row(f"{count:,} inquiries", small_inquiries),
        _row(f"then {count:,} rate commands", small_ratings),
        _row(f"{count * 2:,} inquiries", large_inquiries),
        _row(f"then {count * 2:,} rate commands", large_ratings),
        f"  slowest: {worst_small:.1f} s for {count:,}, {worst_large:.1f} s for {count * 2:,} "
        f"(x{worst_large / worst_small:.2f} for x2; per service on inquiries: "
        + ", ".join(f"{s} x{g:.2f}" for s, g in growth.items()) + ")",
    ]
