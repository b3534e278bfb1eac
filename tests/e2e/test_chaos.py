"""A short chaos campaign (60 s) as `make chaos` runs it: two replicas of every service on a
private stack, the workload, seeded faults of every kind, and every invariant held."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import ROOT


@pytest.mark.timeout(1200)
def test_a_short_chaos_campaign_holds_every_invariant(tmp_path):
    report = tmp_path / "chaos.md"
    run = subprocess.run([sys.executable, "-m", "chaos", "--seed", "7", "--duration", "60", "--report", str(report)],
                         cwd=ROOT, capture_output=True, text=True, timeout=1200,
                         env={k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "MONGODB_", "SMTP_"))})
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    text = report.read_text()
    assert "All invariants held." in text and "**NO**" not in text
    injected = {line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ") and "|---" not in line}
    assert {"kill replica", "kill kafka", "kill database"} & injected, text  # faults really happened


@pytest.mark.timeout(1200)
def test_three_brokers_losing_the_leader_of_the_busiest_partitions(tmp_path):
    """Three KRaft brokers, topics replicated three times with min.insync.replicas=2: the leader
    of the busiest partitions killed again and again under intake and messaging load; nothing
    lost, nothing duplicated, producers and consumers move on."""
    report = tmp_path / "chaos3.md"
    run = subprocess.run([sys.executable, "-m", "chaos", "--seed", "3", "--duration", "45", "--brokers", "3",
                          "--faults", "kill kafka leader", "--report", str(report)],
                         cwd=ROOT, capture_output=True, text=True, timeout=1200,
                         env={k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "MONGODB_", "SMTP_"))})
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    text = report.read_text()
    assert "3 Kafka brokers" in text and "All invariants held." in text
    kills = next(int(line.split("|")[2]) for line in text.splitlines() if line.startswith("| kill kafka leader |"))
    assert kills >= 2, text
    assert "SIGKILL kafka" in run.stdout  # a node really was killed (kafka, kafka2 or kafka3)
