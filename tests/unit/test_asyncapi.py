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
