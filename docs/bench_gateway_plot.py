"""The gateway benchmark of bench/RESULTS.md as a picture (docs/bench-gateway.png): requests/s
to the 200 and the time to it (p50, p99), without and with a 100 KB résumé, beside the raw
aiokafka produce of the same events. Needs matplotlib; the figures are typed in from the run."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# series: (per second, p50 ms, p99 ms)
FIGURES = {
    "gateway, no résumé": (164, 88.0, 231.1),
    "raw aiokafka (baseline)": (1_957, 7.6, 16.2),
    "gateway, 100 KB PDF": (56, 257.4, 590.5),
    "raw aiokafka (baseline) ": (1_215, 10.3, 31.2),
}


def main() -> None:
    names = list(FIGURES)
    colours = ["#1d4ed8", "#9ca3af", "#0f766e", "#9ca3af"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.barh(names, [v[0] for v in FIGURES.values()], color=colours)
    left.set_xscale("log")
    left.set_xlabel("per second (log scale; higher is better)")
    left.invert_yaxis()
    for y, v in enumerate(FIGURES.values()):
        left.text(v[0] * 1.05, y, f"{v[0]:,}/s", va="center")
    p50 = [v[1] for v in FIGURES.values()]
    p99 = [v[2] for v in FIGURES.values()]
    ys = range(len(names))
    right.barh([y - 0.2 for y in ys], p50, height=0.4, color=colours, label="p50")
    right.barh([y + 0.2 for y in ys], p99, height=0.4, color=colours, alpha=0.45, label="p99")
    right.set_yticks(list(ys), names)
    right.set_xscale("log")
    right.set_xlabel("ms to the 200 / the ack (log; lower is better)")
    right.invert_yaxis()
    right.legend(loc="lower right")
    fig.suptitle("Indeed posts into intake's gateway, 16 clients, 200 once in Kafka (2 cores, medians of 3 runs)")
    fig.tight_layout()
    out = Path(__file__).with_name("bench-gateway.png")
    fig.savefig(out, dpi=100)
    print(out)


if __name__ == "__main__":
    main()
