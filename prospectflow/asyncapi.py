"""The AsyncAPI 3 document of every topic and message, generated from the services' code (each
service's FastStream broker documents what it consumes and publishes; shared.contract gives
every payload's schema), checked into `docs/asyncapi.json` and compared by `make test`:

    python -m prospectflow.asyncapi           # print it
    python -m prospectflow.asyncapi --write   # write docs/asyncapi.json
    python -m prospectflow.asyncapi --check   # exit 1 if docs/asyncapi.json differs from the code
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any
from unittest import mock

from faststream.specification import AsyncAPI

from shared import __version__

CHECKED_IN = Path(__file__).resolve().parents[1] / "docs" / "asyncapi.json"
SERVICES = ("intake", "rating", "messaging", "reminder", "webhooks", "sequences", "insights")
DESCRIPTION = ("Every Kafka topic of Prospectflow and every message on it: CloudEvents 1.0 in structured JSON mode "
               "(`content-type: application/cloudevents+json`), the event `id` the idempotency key. Generated from "
               "the services' code; the prose is docs/contract.md.")


def document() -> dict[str, Any]:
    """The document, independent of this process's environment (no topic prefix, the default
    broker address, throwaway secrets: nothing of them appears in it)."""
    env = {"MESSAGING_UNSUBSCRIBE_SECRET": "documentation-only", "WEBHOOKS_SECRET_KEY": "documentation-only-key"}
    with mock.patch.dict(os.environ, env, clear=True):
        brokers = []
        for service in SERVICES:
            app_module = __import__(f"services.{service}.app", fromlist=["create_app"])
            settings_module = __import__(f"services.{service}.settings", fromlist=["x"])
            settings = getattr(settings_module, f"{service.title()}Settings")()
            brokers.append(app_module.create_app(settings).broker)
        spec = AsyncAPI(*brokers, title="Prospectflow", version=__version__, description=DESCRIPTION)
        with warnings.catch_warnings():  # rating and messaging both publish command.completed: one channel
            warnings.simplefilter("ignore", RuntimeWarning)
            generated: dict[str, Any] = json.loads(spec.to_specification().to_json())
    return generated


def text() -> str:
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    current = text()
    if "--write" in argv:
        CHECKED_IN.write_text(current)
        return 0
    if "--check" in argv:
        if not CHECKED_IN.exists() or CHECKED_IN.read_text() != current:
            print(f"{CHECKED_IN} does not match the code: run `make asyncapi` and commit it", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(current)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
