"""End-to-end latency against the rate, issue 33's fourth round against its fifth (the offset
commit behind the next batch, a 5 ms linger), as a picture (docs/bench-latency-rate.png): p50
and p99 from an inquiry published to the prospect visible in rating's API, the first hop, and
the CPU the pipeline used. One run of each at each rate, 30 s, the two codes in turn on the same
stack (bench/RESULTS.md, 2026-12-08). Needs matplotlib; the figures are typed in from the runs."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RATES = [5, 100, 300, 500, 700]
FOURTH = {"p50": [25, 65, 70, 74, 86], "p99": [38, 93, 104, 135, 155], "hop": [8, 33, 36, 40, 45],
          "cpu": [0.18, 0.95, 1.07, 1.16, 1.28]}
FIFTH = {"p50": [29, 42, 61, 63, 72], "p99": [47, 60, 123, 137, 145], "hop": [9, 16, 26, 27, 29],
         "cpu": [0.20, 1.20, 1.25, 1.41, 1.46]}


def main() -> None:
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.4))
    for name, figures, colour, style in (("fourth round", FOURTH, "#9ca3af", "--"),
                                         ("fifth round", FIFTH, "#1d4ed8", "-")):
        left.plot(RATES, figures["p50"], style, marker="o", color=colour, label=f"p50, {name}")
        left.plot(RATES, figures["p99"], style, marker="^", color=colour, label=f"p99, {name}")
        middle.plot(RATES, figures["hop"], style, marker="s", color=colour, label=f"first hop p50, {name}")
        right.plot(RATES, figures["cpu"], style, marker="D", color=colour, label=name)
    left.axhline(30, color="#047857", linestyle=":", label="target p50 < 30 ms")
    left.axhline(100, color="#b45309", linestyle=":", label="target p99 < 100 ms")
    left.set_title("End to end: inquiry published → visible in rating")
    left.set_ylabel("ms (lower is better)")
    middle.set_title("First hop: published → intake's event read back")
    middle.set_ylabel("ms (lower is better)")
    right.set_title("CPU: intake, rating, Kafka, FerretDB, PostgreSQL")
    right.set_ylabel("cores of the machine's 2")
    for axis in (left, middle, right):
        axis.set_xlabel("inquiries a second, steady")
        axis.set_xticks(RATES, [f"{r}" for r in RATES])
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(Path(__file__).with_name("bench-latency-rate.png"), dpi=110)


if __name__ == "__main__":
    main()
