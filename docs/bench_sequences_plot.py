"""The sequences benchmark of bench/RESULTS.md as a picture (docs/bench-sequences.png): the time
to hand 10,000 due steps to messaging against its 10 s target, the mails per second against
messaging alone, and the service's RSS against its 150 MB target. Needs matplotlib; the figures
are typed in from the run (medians of 3, with min and max)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PUBLISHED_S = (6.256, 5.693, 6.515)  # median, min, max
MAILS = {"through sequences": (157, 147, 160), "messaging alone (baseline)": (176, 170, 182)}
RSS_MB = {"idle": (89, 89, 90), "peak, 100,000 enrollments": (96, 95, 97)}


def bar(ax, names, values, colours, target=None, unit=""):
    medians = [v[0] for v in values]
    errors = [[v[0] - v[1] for v in values], [v[2] - v[0] for v in values]]
    ax.barh(names, medians, xerr=errors, color=colours, capsize=4)
    ax.invert_yaxis()
    for y, v in enumerate(values):
        ax.text(v[0] * 0.03, y, f"{v[0]:,}{unit}", va="center", color="white", fontweight="bold")
    if target is not None:
        ax.axvline(target, color="#b91c1c", linestyle="--", label=f"target {target:,}{unit}")
        ax.set_xlim(0, target * 1.15)
        ax.legend(loc="lower right", fontsize="small")


def main() -> None:
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 3.4))
    bar(left, ["10,000 steps handed\nto messaging"], [PUBLISHED_S], ["#1d4ed8"], target=10, unit=" s")
    left.set_xlabel("seconds from sequences.run (lower is better)")
    bar(middle, list(MAILS), list(MAILS.values()), ["#1d4ed8", "#9ca3af"], unit="/s")
    middle.set_xlabel(f"mails/s (higher is better); ratio {MAILS['through sequences'][0] / MAILS['messaging alone (baseline)'][0]:.2f}, target 0.8")
    bar(right, list(RSS_MB), list(RSS_MB.values()), ["#0f766e", "#0f766e"], target=150, unit=" MB")
    right.set_xlabel("sequences service RSS, MB (lower is better)")
    fig.suptitle("Sequences: 10,000 enrollments due over 100 recruiters, 90,000 more waiting (2 cores, medians of 3 runs)")
    fig.tight_layout()
    out = Path(__file__).with_name("bench-sequences.png")
    fig.savefig(out, dpi=100)
    print(out)


if __name__ == "__main__":
    main()
