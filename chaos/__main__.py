"""`python -m chaos` (`make chaos`): see chaos/campaign.py. Exits 1 on any violated invariant."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from chaos.campaign import Campaign


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("CHAOS_SEED", "1")),
                        help="the workload's and the faults' random seed (CHAOS_SEED, 1): a run repeats")
    parser.add_argument("--duration", type=float, default=float(os.environ.get("CHAOS_DURATION_S", "300")),
                        help="seconds of workload under faults (CHAOS_DURATION_S, 300)")
    parser.add_argument("--brokers", type=int, default=int(os.environ.get("KAFKA_BROKERS", "1")),
                        help="Kafka brokers (KAFKA_BROKERS, 1; 3 adds the leader-kill fault)")
    parser.add_argument("--faults", default=os.environ.get("CHAOS_FAULTS", ""),
                        help="only these fault kinds, comma-separated (CHAOS_FAULTS; default: every kind)")
    parser.add_argument("--report", help="also write the report (Markdown) to this file")
    args = parser.parse_args(argv)
    only = [k.strip() for k in args.faults.split(",") if k.strip()]
    campaign = Campaign(seed=args.seed, duration_s=args.duration, brokers=args.brokers, only=only)
    try:
        ok = asyncio.run(campaign.run())
    except KeyboardInterrupt:
        ok = False
    finally:
        campaign.tear_down()
    if args.report:
        with open(args.report, "w") as out:
            out.write(campaign.report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
