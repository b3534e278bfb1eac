"""The soak: the whole pipeline (intake, rating, messaging, reminder) under a steady load for a
long while (default 10 minutes at 200 inquiries/s, and a recruiter's rating for every tenth),
every process's memory sampled every 10 s. A leak shows as memory that keeps growing after the
warm-up; the target (issue 33) is less than 10 % growth in every process between the end of the
second minute and the end. Also: whether every service kept up (its lag at the end).

The services' RSS is their VmRSS; PostgreSQL's is the private memory (RssAnon) of the postmaster
and its backends (their shared buffers would count once per backend otherwise). The samples are
written to `.devstack/bench-soak.json` for `docs/bench_soak_plot.py`."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from aiokafka import AIOKafkaProducer

from bench.common import BenchNamespace, children, cpu_seconds, proc_status, stack_pids
from bench.pipeline import JOBS, absorbed, open_jobs, start
from devstack.stack import ROOT
from prospectflow.bus import Bus
from shared import ids, topics
from shared.settings import KafkaSettings
from tests.support import cloud_event

SAMPLE_S = 10.0
WARM_UP_S = 120.0
SAMPLES = ROOT / ".devstack" / "bench-soak.json"


def memory(pids: dict[str, int]) -> dict[str, float]:
    """MB: VmRSS of each process; PostgreSQL's private memory over the postmaster and its backends."""
    out = {}
    for name, pid in pids.items():
        try:
            if name == "postgres":
                out[name] = sum(proc_status(p, ("RssAnon",)).get("RssAnon", 0.0) for p in [pid, *children(pid)])
            else:
                out[name] = proc_status(pid, ("VmRSS",))["VmRSS"]
        except OSError:
            continue
    return out


async def main(addresses: dict[str, str], rate: int = 200, seconds: float = 600) -> list[str]:
    ns = BenchNamespace(addresses)
    bootstrap = addresses["KAFKA_BOOTSTRAP_SERVERS"]
    logs = ROOT / ".devstack" / "bench-logs"
    processes = await start(ns)
    try:
        async with Bus(KafkaSettings(bootstrap_servers=bootstrap)) as bus:
            jobs = await open_jobs(bus, ns, processes)
            pids = {**{s: p.pid for s, p in processes.items()}, **stack_pids()}
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
            await producer.start()
            samples: list[dict[str, float]] = []
            cpu_before = {s: cpu_seconds(pid) for s, pid in pids.items()}
            tag = uuid.uuid4().hex[:6]
            started = time.monotonic()
            next_sample = started
            sent = 0
            try:
                while (elapsed := time.monotonic() - started) < seconds:
                    for name, process in processes.items():
                        if process.poll() is not None:
                            raise RuntimeError(f"{name} exited ({process.returncode}); see {logs}/{ns.name}-{name}.log")
                    due = int(elapsed * rate) + 1
                    pending = []
                    for n in range(sent, due):
                        job_id, rec = jobs[n % JOBS]
                        email = f"s{n}-{tag}@example.com"
                        pending.append(await producer.send(ns.topic(topics.INQUIRIES), json.dumps(cloud_event(
                            "inquiry.received", {"job_id": job_id, "board": "soak", "board_inquiry_id": f"{tag}-{n}",
                                                 "prospect": {"name": f"Person {n}", "email": email}})).encode(),
                            key=email.encode()))
                        if n % 10 == 9:  # the recruiter shortlists one in ten
                            pending.append(await producer.send(ns.topic(topics.RATING_COMMANDS), json.dumps(cloud_event(
                                "prospects.rate", {"recruiter_id": rec, "prospect_ids": [ids.prospect_id(job_id, email)],
                                                   "rating": "shortlist"})).encode(), key=rec.encode()))
                    sent = due
                    await asyncio.gather(*pending)
                    if time.monotonic() >= next_sample:
                        samples.append({"t": time.monotonic() - started, **memory(pids)})
                        next_sample += SAMPLE_S
                    await asyncio.sleep(0.02)
            finally:
                await producer.stop()
            elapsed = time.monotonic() - started
            cpu = {s: (cpu_seconds(pid) - cpu_before[s]) / elapsed for s, pid in pids.items()}
            caught_up = await absorbed(bus, ns, time.monotonic(), [("intake",), ("rating", "messaging", "reminder")],
                                       timeout_s=300, processes=processes)
            samples.append({"t": time.monotonic() - started, **memory(pids)})
    finally:
        await ns.finish(*processes.values())
    SAMPLES.parent.mkdir(parents=True, exist_ok=True)
    SAMPLES.write_text(json.dumps({"rate": rate, "seconds": seconds, "samples": samples}))
    warm = next(s for s in samples if s["t"] >= min(WARM_UP_S, seconds / 2))
    last = samples[-1]
    lines = [f"soak: {rate} inquiries/s (and a rating for every tenth) for {seconds / 60:.0f} min through intake, rating, "
             f"messaging and reminder; {sent:,} inquiries; memory sampled every {SAMPLE_S:.0f} s, MB:"]
    worst = 0.0
    for name in [k for k in last if k != "t"]:
        series = [s[name] for s in samples if name in s]
        growth = (last[name] - warm[name]) / warm[name] * 100
        worst = max(worst, growth)
        lines.append(f"  {name}: at {warm['t'] / 60:.0f} min {warm[name]:.0f}, at the end {last[name]:.0f} "
                     f"({growth:+.1f} %), peak {max(series):.0f}; CPU {cpu.get(name, 0):.2f} cores")
    lines.append(f"  worst growth after the warm-up: {worst:+.1f} % (target < 10 %); every service caught up within "
                 + ", ".join(f"{s} {t:.1f} s" for s, t in caught_up.items()) + " of the last publish")
    return lines
