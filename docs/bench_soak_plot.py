"""The soak of bench/RESULTS.md as a picture (docs/bench-soak.png): every process's memory over
the run, from the samples `python -m bench soak` wrote to .devstack/bench-soak.json. Needs
matplotlib (in a throwaway virtualenv: `python3 -m venv /tmp/plot && /tmp/plot/bin/pip install
matplotlib && /tmp/plot/bin/python docs/bench_soak_plot.py`)."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WARM_UP_S = 120


def main() -> None:
    run = json.loads((ROOT / ".devstack" / "bench-soak.json").read_text())
    samples = run["samples"]
    names = [k for k in samples[-1] if k != "t"]
    fig, (services, stack) = plt.subplots(1, 2, figsize=(13, 4.2))
    for name in names:
        points = [(s["t"] / 60, s[name]) for s in samples if name in s]
        axis = stack if name in ("kafka", "ferretdb", "postgres") else services
        axis.plot([p[0] for p in points], [p[1] for p in points], "-", marker=".", label=name)
    for axis, title in ((services, "Our services"), (stack, "The local stack (PostgreSQL: private memory of all its processes)")):
        axis.axvline(WARM_UP_S / 60, color="#9ca3af", linestyle=":", label="end of warm-up")
        axis.set_xlabel("minutes into the soak")
        axis.set_ylabel("MB resident")
        axis.set_ylim(bottom=0)
        axis.set_title(title, fontsize=10)
        axis.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Soak: {run['rate']} inquiries/s for {run['seconds'] / 60:.0f} minutes, memory every 10 s "
                 "(flat after the warm-up: no leak)", fontsize=11)
    fig.tight_layout()
    out = Path(__file__).resolve().parent / "bench-soak.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
