"""`python -m bench [intake] [views] [--count N] [--runs R] [--prospects N]`: benchmarks on the local stack."""

from __future__ import annotations

import argparse
import asyncio

from bench import intake, mail, views
from bench.common import machine, stack_addresses


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("which", nargs="*", default=["intake", "views", "mail"], choices=["intake", "views", "mail"])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--prospects", type=int, default=100_000, help="board size for the views benchmark")
    parser.add_argument("--recruiters", type=int, default=10)
    args = parser.parse_args()
    addresses = stack_addresses()
    print(f"machine: {machine()}")
    if "intake" in args.which:
        for line in asyncio.run(intake.main(addresses, args.count, args.runs, args.processes)):
            print(line, flush=True)
    if "mail" in args.which:
        for line in asyncio.run(mail.main()):
            print(line, flush=True)
    if "views" in args.which:
        for line in asyncio.run(views.main(addresses, args.prospects, args.recruiters)):
            print(line, flush=True)


if __name__ == "__main__":
    main()
