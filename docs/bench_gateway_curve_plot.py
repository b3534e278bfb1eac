"""The gateway against its concurrency, of bench/RESULTS.md, as a picture
(docs/bench-gateway-curve.png): requests/s and the time to the 200 (p50, p99) at each number of
clients, the gateway beside the least endpoint doing its work, from what `python -m bench gateway
--gateway-clients 1 4 16 64` wrote to .devstack/bench-gateway-curve.json. Needs matplotlib (in a
throwaway virtualenv: `python3 -m venv /tmp/plot && /tmp/plot/bin/pip install matplotlib &&
/tmp/plot/bin/python docs/bench_gateway_curve_plot.py`)."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    run = json.loads((ROOT / ".devstack" / "bench-gateway-curve.json").read_text())
    points = run["points"]
    clients = [p["clients"] for p in points]
    fig, (rate, time) = plt.subplots(1, 2, figsize=(13, 4.2))
    for prefix, name, colour in (("", "the gateway", "#1d4ed8"), ("least_", "the least endpoint doing its work", "#9ca3af")):
        rate.plot(clients, [p[f"{prefix}per_s"] for p in points], "-o", color=colour, label=name)
        time.plot(clients, [p[f"{prefix}p50_ms"] for p in points], "-o", color=colour, label=f"{name}, p50")
        time.plot(clients, [p[f"{prefix}p99_ms"] for p in points], "--o", color=colour, label=f"{name}, p99")
    for axis in (rate, time):
        axis.set_xscale("log", base=2)
        axis.set_xticks(clients, [str(c) for c in clients])
        axis.set_xlabel("concurrent clients (log scale)")
    rate.set_ylim(bottom=0)
    rate.set_ylabel("signed posts/s answered 200 (higher is better)")
    rate.set_title(f"Throughput: {run['count']:,} posts at each concurrency, medians of {run['runs']}", fontsize=10)
    rate.legend(fontsize=8, loc="lower right")
    time.set_yscale("log")
    time.set_ylabel("ms to the 200 (log; lower is better)")
    time.set_title("Time to the 200: queueing once the server is busy", fontsize=10)
    time.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    out = Path(__file__).resolve().parent / "bench-gateway-curve.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
