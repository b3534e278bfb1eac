"""The benchmark figures of bench/RESULTS.md as one picture (docs/bench-ferretdb2-vs-1.png): the
time each took on FerretDB 2 over PostgreSQL with DocumentDB against FerretDB 1.24 over
PostgreSQL (the engine before), as a ratio (lower is better; log scale). Needs matplotlib (`pip
install matplotlib`); the figures are typed in from the runs."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# name: (FerretDB 1.24, FerretDB 2), in the same unit (only the ratio is drawn)
FIGURES = {
    "view page of 50 of 10,000": (515, 48),
    "11th page (keyset)": (5_400, 46),
    "dashboard Prospects page, p95": (1_223, 52),
    "20,000 rate commands to lag 0": (75.6, 19.5),
    "20,000 inquiries to lag 0": (11.3, 20.9),
    "reminder, 100,000 waiting": (10.2, 3.0),
    "messaging, 1,000 mails\n(1 / ratio to baseline)": (1 / 0.32, 1 / 0.77),
    "end to end p99 at 100/s": (127, 157),
    "end to end p99 at 500/s": (124, 1_159),
    "intake, 20,000, 1 process\n(1 / throughput)": (1 / 3_069, 1 / 2_275),
}


def main() -> None:
    names = list(FIGURES)
    ratios = [new / old for old, new in FIGURES.values()]
    fig, ax = plt.subplots(figsize=(10, 5.5))
    colours = ["#15803d" if r < 1 else "#b91c1c" for r in ratios]
    ax.barh(names, ratios, color=colours)
    ax.set_xscale("log")
    ax.axvline(1.0, color="#334155", linewidth=1)
    for y, r in enumerate(ratios):
        ax.text(r * 1.08, y, f"x{r:.2f}", va="center", fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("time on FerretDB 2 + DocumentDB / time on FerretDB 1.24 (lower is better, log scale)")
    ax.set_title("The local database engine before and after, this 2-core machine")
    fig.tight_layout()
    out = Path(__file__).resolve().parent / "bench-ferretdb2-vs-1.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
