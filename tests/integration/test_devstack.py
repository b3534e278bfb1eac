"""The local stack's own set-up, as a new user meets it: a checkout in a folder only its owner
can enter (as `mktemp -d` makes them, and as root's home is) runs the database, and a set-up that
fails leaves nothing running."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from devstack.stack import ROOT, StackConfig, _alive, mongo_ready, pg_home
from tests.support import Stack, free_port

pytestmark = pytest.mark.stack


@pytest.fixture
def private_checkout(stack: Stack):
    if stack.source != "devstack" or StackConfig().external_mongo:
        pytest.skip("the local stack's own database set-up (MONGODB_URI is external)")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to clone")
    folder = Path(tempfile.mkdtemp(prefix="pf-private-"))
    assert folder.stat().st_mode & 0o777 == 0o700
    checkout = folder / "prospectflow"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(checkout)], check=True)
    environment = {
        **os.environ, "DEVSTACK_DIR": str(checkout / ".devstack"), "DEVSTACK_PG_PORT": str(free_port()),
        "DEVSTACK_MONGO_PORT": str(free_port()), "KAFKA_BOOTSTRAP_SERVERS": stack.kafka,
        "SMTP_HOST": stack.smtp_host, "SMTP_PORT": str(stack.smtp_port),
        "DEVSTACK_ENGINE_SOURCES": str(ROOT.parent / "shared" / "vendor"),
    }
    environment.pop("MONGODB_URI", None)

    def devstack(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "devstack", *args], cwd=checkout, env=environment,
                              capture_output=True, text=True, timeout=600)

    yield checkout, environment, devstack
    devstack("clean")
    shutil.rmtree(folder, ignore_errors=True)


def _state(checkout: Path) -> dict[str, dict]:
    path = checkout / ".devstack" / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_a_checkout_in_a_private_folder_runs_the_database(private_checkout):
    checkout, environment, devstack = private_checkout
    started = devstack("up")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "postgres ready" in started.stdout and "ferretdb ready" in started.stdout
    uri = f"mongodb://127.0.0.1:{environment['DEVSTACK_MONGO_PORT']}/"
    assert mongo_ready(uri)
    from pymongo import MongoClient

    client: MongoClient = MongoClient(uri)
    try:
        client.private_check.docs.insert_one({"_id": "one", "v": 1})
        assert client.private_check.docs.find_one({"_id": "one"})["v"] == 1
    finally:
        client.close()
    state = _state(checkout)
    assert set(state) == {"postgres", "ferretdb"}
    cleaned = devstack("clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert not any(_alive(part["pid"], name) for name, part in state.items())  # a zombie has no command line
    config = StackConfig(state_dir=checkout / ".devstack")
    assert not pg_home(config).exists() and not (checkout / ".devstack").exists()


def test_a_failed_set_up_leaves_nothing_running(private_checkout):
    """PostgreSQL starts, then FerretDB's port turns out to be taken: `up` says which port and
    what to do, exits non-zero, and stops the PostgreSQL it had started."""
    checkout, environment, devstack = private_checkout
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(environment["DEVSTACK_MONGO_PORT"])))
        taken.listen()
        failed = devstack("up")
        assert failed.returncode == 1
        assert f"port {environment['DEVSTACK_MONGO_PORT']} for ferretdb is taken" in failed.stderr
    assert "postgres ready" in failed.stdout  # it had started, and was stopped again
    assert _state(checkout) == {}
    leftover = subprocess.run(["pgrep", "-f", str(pg_home(StackConfig(state_dir=checkout / ".devstack")))],
                              capture_output=True, text=True)
    assert leftover.stdout.strip() == "", leftover.stdout
