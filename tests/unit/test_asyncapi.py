"""Each service documents its channels and payloads as AsyncAPI, generated from the code."""

import json

import pytest

from shared.topics import CONSUMED_BY


@pytest.mark.parametrize("service", sorted(CONSUMED_BY))  # the dashboard is a client of the contract, not a consumer group
def test_asyncapi_document_generates(service, monkeypatch):
    monkeypatch.setenv("MESSAGING_UNSUBSCRIBE_SECRET", "a-test-secret")
    monkeypatch.setenv("WEBHOOKS_SECRET_KEY", "a-test-key-long-enough")
    module = __import__(f"services.{service}.app", fromlist=["create_app"])
    settings_module = __import__(f"services.{service}.settings", fromlist=["x"])
    settings_cls = getattr(settings_module, f"{service.title()}Settings")
    app = module.create_app(settings_cls())
    document = json.loads(app.schema.to_specification().to_json())
    assert document["asyncapi"].startswith("3.")
    assert document["channels"], "no channels documented"
    schemas = document["components"]["schemas"]
    assert any("data" in s.get("properties", {}) for s in schemas.values()), "payloads lack the CloudEvent data"


def test_the_checked_in_asyncapi_document_is_what_the_code_generates():
    """docs/asyncapi.json is the contract recruiter apps read: a topic, type or field changed in
    the code without regenerating it (`make asyncapi`) fails here."""
    from prospectflow import asyncapi

    checked_in = json.loads(asyncapi.CHECKED_IN.read_text())
    generated = asyncapi.document()
    assert checked_in == generated, "docs/asyncapi.json differs from the code: run `make asyncapi` and commit it"
    channels = {c["address"] for c in generated["channels"].values()}
    assert set(CONSUMED_BY_TOPICS) <= channels, sorted(set(CONSUMED_BY_TOPICS) - channels)


CONSUMED_BY_TOPICS = sorted({topic for topics in CONSUMED_BY.values() for topic in topics})
