"""The burst curve of bench/RESULTS.md (2026-12-07, `python -m bench pipeline --burst-sizes 1000
5000 20000 80000 160000`) as a picture (docs/bench-burst.png): seconds from the last publish until
every service's lag is 0, against the burst's size, and the time per 1,000 (flat: linear growth).
Needs matplotlib; the figures are typed in from the run."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SIZES = [1_000, 5_000, 20_000, 80_000, 160_000]
INQUIRIES_S = [2.7, 6.2, 20.1, 67.9, 145.4]
RATINGS_S = [2.1, 4.3, 16.4, 64.7, 128.7]


def main() -> None:
    fig, (total, per) = plt.subplots(1, 2, figsize=(13, 4.2))
    for name, seconds, colour in (("inquiries", INQUIRIES_S, "#1d4ed8"), ("then as many rate commands", RATINGS_S, "#b45309")):
        points = [(n, s) for n, s in zip(SIZES, seconds) if s is not None]
        total.plot([p[0] for p in points], [p[1] for p in points], "-o", color=colour, label=name)
        per.plot([p[0] for p in points], [p[1] / p[0] * 1000 for p in points], "-o", color=colour, label=name)
    total.axhline(10, color="#047857", linestyle=":", label="target: 20,000 in ≤ 10 s")
    total.set_xscale("log")
    total.set_yscale("log")
    total.set_xlabel("burst size (log scale)")
    total.set_ylabel("s to lag 0 in every service (log)")
    total.set_title("A burst, published at once, until every service has caught up", fontsize=10)
    total.legend(fontsize=8, loc="upper left")
    per.set_xscale("log")
    per.set_ylim(bottom=0)
    per.set_xlabel("burst size (log scale)")
    per.set_ylabel("s per 1,000 (flat = linear growth)")
    per.set_title("Per 1,000: the fixed start-up cost spread thinner, then flat", fontsize=10)
    per.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    out = Path(__file__).resolve().parent / "bench-burst.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
