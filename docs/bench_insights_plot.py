"""The insights benchmark of bench/RESULTS.md as a picture (docs/bench-insights.png): events/s
counted (a backfill of a year) against the 10,000 target and the two baselines, the API's answer
for a year against its targets, and the service's RSS against its 200 MB target. Needs
matplotlib; the figures are typed in from the 1,000,000-event run (the validation baseline from
the 100,000-event run)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

EVENTS_PER_S = {"insights, counted to lag 0": 1_199, "target": 10_000, "validating only (baseline)": 34_571,
                "reading only (baseline)": 100_857}
API_MS = {"one recruiter, a year": (37, 100), "one job by cohort, a year": (34, 100), "every recruiter, a year": (222, 1_000)}
RSS_MB = {"on joining": 76, "peak, catching up 1,000,000": 200, "before the fetch limits": 482}


def main() -> None:
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 3.6))
    names = list(EVENTS_PER_S)
    left.barh(names, list(EVENTS_PER_S.values()), color=["#1d4ed8", "#ffffff", "#9ca3af", "#9ca3af"],
              edgecolor="#1f2933", hatch=["", "//", "", ""])
    left.set_xscale("log")
    left.invert_yaxis()
    for y, v in enumerate(EVENTS_PER_S.values()):
        left.text(v * 1.1, y, f"{v:,}/s", va="center")
    left.set_xlim(500, 400_000)
    left.set_xlabel("events/s, log scale (higher is better)")
    names = list(API_MS)
    middle.barh(names, [v[0] for v in API_MS.values()], color="#1d4ed8")
    middle.scatter([v[1] for v in API_MS.values()], names, marker="|", s=400, color="#b91c1c", label="target")
    middle.invert_yaxis()
    for y, v in enumerate(API_MS.values()):
        middle.text(v[0] + 15, y, f"{v[0]} ms", va="center")
    middle.set_xlabel("median answer, ms (lower is better)")
    middle.legend(loc="lower right", fontsize="small")
    names = list(RSS_MB)
    right.barh(names, list(RSS_MB.values()), color=["#0f766e", "#0f766e", "#9ca3af"])
    right.axvline(200, color="#b91c1c", linestyle="--", label="target 200 MB")
    right.invert_yaxis()
    for y, v in enumerate(RSS_MB.values()):
        right.text(v + 8, y, f"{v} MB", va="center")
    right.set_xlim(0, 560)
    right.set_xlabel("insights RSS, MB (lower is better)")
    right.legend(loc="lower right", fontsize="small")
    fig.suptitle("Insights: 1,000,000 events of a year (100 recruiters, 345,102 prospects), one service backfilling (2 cores, one run)")
    fig.tight_layout()
    out = Path(__file__).with_name("bench-insights.png")
    fig.savefig(out, dpi=100)
    print(out)


if __name__ == "__main__":
    main()
