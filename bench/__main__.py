"""`python -m bench [intake latency messaging reminder views mail dashboard pipeline send replies gateway webhooks sequences privacy insights soak cold] [options]`: benchmarks on the
local stack, each against a baseline measured in the same run. With no names, all of them run
and the results are written to bench/RESULTS.md (--no-write to only print)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import (cold, dashboard, gateway, insights, intake, latency, mail, messaging, pipeline, privacy, reminder,
                   replies, send, sequences, soak, views, webhooks)
from bench.common import machine, stack_addresses

ALL = ["intake", "latency", "messaging", "reminder", "views", "mail", "dashboard", "pipeline", "send", "replies",
       "gateway", "webhooks", "sequences", "privacy", "insights", "soak", "cold"]
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("which", nargs="*", metavar="NAME", help=f"some of {', '.join(ALL)}; default: all")
    parser.add_argument("--count", type=int, default=20_000, help="inquiries for the intake benchmark")
    parser.add_argument("--upsert-count", type=int, default=None,
                        help="inquiries for intake's bulk-upsert baseline (default --count; it is slow on FerretDB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rates", type=int, nargs="+", default=[100, 500], help="inquiries/s for the latency benchmark")
    parser.add_argument("--seconds", type=float, default=30, help="length of each latency run")
    parser.add_argument("--prospects", type=int, default=100_000, help="board size for the views benchmark")
    parser.add_argument("--recruiters", type=int, default=10)
    parser.add_argument("--burst", type=int, default=20_000, help="inquiries (and ratings) of the pipeline burst")
    parser.add_argument("--burst-sizes", type=int, nargs="+", default=None,
                        help="pipeline: one burst of each size instead (the growth curve)")
    parser.add_argument("--board", type=int, default=10_000, help="the recruiter's board for the dashboard benchmark")
    parser.add_argument("--send-count", type=int, default=10_000, help="prospects of the dashboard's send benchmark")
    parser.add_argument("--replies", type=int, default=5_000, help="replies of the inbound burst")
    parser.add_argument("--posts", type=int, default=2_000, help="board posts of the gateway benchmark (a quarter "
                                                                 "of them with résumés)")
    parser.add_argument("--gateway-clients", type=int, nargs="+", help="the gateway against its concurrency: these "
                        "numbers of clients, --posts without résumés each (written for docs/bench_gateway_curve_plot.py)")
    parser.add_argument("--deliveries", type=int, default=5_000, help="events of the webhooks benchmark")
    parser.add_argument("--enrolled", type=int, default=10_000, help="enrollments due in the sequences benchmark")
    parser.add_argument("--waiting", type=int, default=90_000, help="enrollments not yet due beside them")
    parser.add_argument("--erase", type=int, default=1_000, help="people erased in the privacy benchmark")
    parser.add_argument("--erase-over", type=int, default=100_000, help="prospects each service holds in it")
    parser.add_argument("--events", type=int, default=1_000_000, help="events of the insights benchmark")
    parser.add_argument("--soak-rate", type=int, default=200, help="inquiries/s of the soak")
    parser.add_argument("--soak-seconds", type=float, default=600, help="length of the soak")
    parser.add_argument("--large", action="store_true", help="reminder: also 1,000,000 waiting prospects (slow to seed)")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    args = parser.parse_args()
    if unknown := [w for w in args.which if w not in ALL]:
        parser.error(f"no benchmark {', '.join(unknown)}: choose from {', '.join(ALL)}")
    which = args.which or ALL
    addresses = stack_addresses()
    began = time.monotonic()
    header = f"machine: {machine()}"
    print(header, flush=True)
    sections: list[list[str]] = []
    memory: dict[str, list[float]] = {}

    def report(lines: list[str], mem: dict | None = None) -> None:
        for line in lines:
            print(line, flush=True)
        sections.append(lines)
        for key, values in (mem or {}).items():
            memory.setdefault(key, []).extend(values)

    if "intake" in which:
        report(*asyncio.run(intake.main(addresses, args.count, args.runs, args.processes, args.upsert_count)))
    if "latency" in which:
        report(*asyncio.run(latency.main(addresses, args.rates, args.seconds, args.runs)))
    if "messaging" in which:
        report(*asyncio.run(messaging.main(addresses, runs=args.runs)))
    if "reminder" in which:
        sizes = [(10_000, 100), (100_000, 1_000)] + ([(1_000_000, 10_000)] if args.large else [])
        report(*asyncio.run(reminder.main(addresses, sizes, runs=args.runs)))
    if "views" in which:
        report(asyncio.run(views.main(addresses, args.prospects, args.recruiters)))
    if "mail" in which:
        report(asyncio.run(mail.main()))
    if "dashboard" in which:
        report(asyncio.run(dashboard.main(addresses, args.board)))
    if "pipeline" in which:
        report(asyncio.run(pipeline.curve(addresses, args.burst_sizes) if args.burst_sizes
                           else pipeline.main(addresses, args.burst)))
    if "send" in which:
        report(asyncio.run(send.main(addresses, args.send_count)))
    if "replies" in which:
        report(asyncio.run(replies.main(addresses, args.replies, args.runs)))
    if "gateway" in which:
        if args.gateway_clients:
            report(asyncio.run(gateway.curve(addresses, args.posts, args.runs, args.gateway_clients)))
        else:
            report(asyncio.run(gateway.main(addresses, args.posts, args.runs)))
    if "webhooks" in which:
        report(asyncio.run(webhooks.main(addresses, args.deliveries, args.runs)))
    if "sequences" in which:
        report(*asyncio.run(sequences.main(addresses, args.enrolled, args.waiting, 100, args.runs)))
    if "privacy" in which:
        report(asyncio.run(privacy.main(addresses, args.erase_over, args.erase)))
    if "insights" in which:
        report(asyncio.run(insights.main(addresses, args.events, 100)))
    if "soak" in which:
        report(asyncio.run(soak.main(addresses, args.soak_rate, args.soak_seconds)))
    if "cold" in which:
        report(asyncio.run(cold.main(addresses, args.runs)))
    if memory:
        lines = ["memory, MB RSS (idle: after start; peak: the process's high-water mark during the benchmark):"]
        for key, values in memory.items():
            lines.append(f"  {key}: median {statistics.median(values):.0f} (min {min(values):.0f}, max {max(values):.0f})")
        report(lines)
    took = time.monotonic() - began
    print(f"took {took / 60:.1f} min", flush=True)
    if not args.no_write and not args.which:
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        body = "\n\n".join("```\n" + "\n".join(lines) + "\n```" for lines in sections)
        RESULTS.write_text(f"# Benchmark results\n\nOne full run of `python -m bench` ({when}, {took / 60:.0f} min).\n"
                           f"{header}\n\n{body}\n")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
