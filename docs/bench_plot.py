"""The benchmark figures of bench/RESULTS.md as one picture (docs/bench-postgresql-vs-sqlite.png):
FerretDB over PostgreSQL beside FerretDB over SQLite, as a ratio of the time each took (lower is
better). Needs matplotlib (`pip install matplotlib`); the figures are typed in from the runs."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# name: (over SQLite, over PostgreSQL), in seconds (or ms; only the ratio is drawn)
FIGURES = {
    "view page of 50,\n100,000 prospects": (4.7, 0.515),
    "11th page (cursor)": (6.0, 5.4),
    "reminder,\n10,000 waiting": (0.85, 0.79),
    "reminder,\n100,000 waiting": (7.5, 10.2),
    "reminder,\n1,000,000 waiting": (80.0, 95.5),
    "e2e p99 at 100/s": (0.102, 0.127),
    "e2e p99 at 500/s": (0.482, 0.124),
    "intake, 20,000\n(1 / throughput)": (1 / 2476, 1 / 3069),
    "messaging, 1,000 mails\n(1 / throughput)": (1 / 340, 1 / 230),
}


def main() -> None:
    names = list(FIGURES)
    ratios = [pg / sqlite for sqlite, pg in FIGURES.values()]
    fig, ax = plt.subplots(figsize=(10, 5.5))
    colours = ["#15803d" if r < 1 else "#b91c1c" for r in ratios]
    ax.barh(names, ratios, color=colours)
    ax.axvline(1.0, color="#334155", linewidth=1)
    for y, r in enumerate(ratios):
        ax.text(r + 0.02, y, f"x{r:.2f}", va="center", fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("time over PostgreSQL / time over SQLite (lower is better)")
    ax.set_title("FerretDB 1.24 over PostgreSQL vs over SQLite, this 2-core machine")
    fig.tight_layout()
    out = Path(__file__).resolve().parent / "bench-postgresql-vs-sqlite.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
