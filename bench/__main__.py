"""`python -m bench [intake] [views] [--count N] [--runs R] [--prospects N]`: benchmarks on the local stack."""

from __future__ import annotations

import argparse
import asyncio

from bench import intake, mail, reminder, views
from bench.common import machine, stack_addresses


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("which", nargs="*", default=["intake", "views", "mail", "reminder"], choices=["intake", "views", "mail", "reminder"])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--prospects", type=int, default=100_000, help="board size for the views benchmark")
    parser.add_argument("--recruiters", type=int, default=10)
    parser.add_argument("--large", action="store_true", help="also 1,000,000 waiting prospects (slow to seed)")
    args = parser.parse_args()
    addresses = stack_addresses()
    print(f"machine: {machine()}")
    if "intake" in args.which:
        for line in asyncio.run(intake.main(addresses, args.count, args.runs, args.processes)):
            print(line, flush=True)
    if "reminder" in args.which:
        sizes = [(10_000, 100), (100_000, 1_000)] + ([(1_000_000, 10_000)] if args.large else [])
        for line in asyncio.run(reminder.main(addresses, sizes, runs=args.runs)):
            print(line, flush=True)
    if "mail" in args.which:
        for line in asyncio.run(mail.main()):
            print(line, flush=True)
    if "views" in args.which:
        for line in asyncio.run(views.main(addresses, args.prospects, args.recruiters)):
            print(line, flush=True)


if __name__ == "__main__":
    main()
