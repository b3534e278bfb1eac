import json
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import RecruiterTokens, ServiceSettings

DEFAULT_SCHEDULE = (5, 300, 1_800, 7_200, 18_000, 36_000, 36_000, 43_200, 43_200, 43_200, 43_200)
"""Seconds before each retry (each ±20 % jitter): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then
every 12 h: about 3 days in all, then dead-lettered."""


LEASE_MARGIN_S = 30.0
"""How much longer than an attempt's deadline a lease lasts: its database writes, a slow loop."""


class WebhooksSettings(RecruiterTokens, ServiceSettings):
    """The webhooks service's settings: `WEBHOOKS_*`, plus the shared `KAFKA_*` and `MONGODB_*`."""

    model_config = SettingsConfigDict(env_prefix="WEBHOOKS_", extra="ignore")
    service_name: str = "webhooks"
    http_port: int = Field(8084, description="the endpoints API, /health, /ready, /metrics")
    secret_key: SecretStr | None = Field(None, description="encrypts the endpoints' signing secrets at rest "
                                                           "(required; any long random string)")
    allow_http: bool = Field(False, description="accept http:// endpoint URLs (local use only)")
    allow_loopback: bool = Field(False, description="accept endpoints on loopback addresses (local use only)")
    allow_private: bool = Field(False, description="accept endpoints on private, link-local or reserved addresses")
    retry_schedule_s: list[float] = Field(list(DEFAULT_SCHEDULE), description="seconds before each retry, a JSON list")
    timeout_s: float = Field(10.0, gt=0, description="longest wait for an endpoint's answer")
    disable_after_days: float = Field(5.0, gt=0, description="an endpoint failing for this long is disabled")
    rotation_hours: float = Field(24.0, ge=0, description="an old secret keeps signing beside the new one this long")
    concurrency: int = Field(32, ge=1, description="deliveries in flight at once (per replica)")
    poll_s: float = Field(0.5, gt=0, description="how often due retries are looked for")
    lease_s: float = Field(60.0, gt=0, description="a delivery taken by a replica that died is taken again after this "
                                                   "(at least WEBHOOKS_TIMEOUT_S + 30: longer than any attempt)")
    max_endpoints: int = Field(20, ge=1, description="endpoints one recruiter may register")
    linkedin_feedback_url: str | None = Field(None, description="LinkedIn's job application feedback API: "
                                                                "APPLICATION_VIEWED / APPLICATION_REJECTED go there")
    linkedin_token: SecretStr | None = Field(None, description="its bearer token")
    linkedin_integration_context: str | None = Field(None, description="urn:li:organization:… where one was given")
    indeed_disposition_url: str | None = Field(None, description="where Indeed takes disposition data")
    indeed_token: SecretStr | None = Field(None, description="its bearer token")
    operator_endpoints: str = Field("", description='endpoints for every event, a JSON list: [{"url": "…", '
                                                    '"events": ["…"], "secret": "whsec_…"}]')

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> "WebhooksSettings":
        # An attempt ends within timeout_s (one deadline for connect, send and answer); the lease
        # must outlast it and its writes, or a second replica takes the same delivery meanwhile.
        if self.lease_s < self.timeout_s + LEASE_MARGIN_S:
            raise ValueError(f"WEBHOOKS_LEASE_S ({self.lease_s:g}) must be at least WEBHOOKS_TIMEOUT_S "
                             f"({self.timeout_s:g}) + {LEASE_MARGIN_S:g}: a lease shorter than an attempt lets "
                             "another replica send the same delivery at the same time")
        return self

    def dispositions(self) -> list[dict[str, Any]]:
        """The boards to tell what became of their applications: board, URL, token."""
        found = []
        for board, url, token in (("linkedin", self.linkedin_feedback_url, self.linkedin_token),
                                  ("indeed", self.indeed_disposition_url, self.indeed_token)):
            if url:
                found.append({"board": board, "url": url, "token": token.get_secret_value() if token else ""})
        return found

    def operators(self) -> list[dict[str, Any]]:
        if not self.operator_endpoints.strip():
            return []
        try:
            found = json.loads(self.operator_endpoints)
        except json.JSONDecodeError as exc:
            raise ValueError(f"WEBHOOKS_OPERATOR_ENDPOINTS is not JSON ({exc.msg})") from None
        if not isinstance(found, list) or not all(isinstance(e, dict) and e.get("url") and e.get("secret")
                                                  for e in found):
            raise ValueError('WEBHOOKS_OPERATOR_ENDPOINTS must be a list of {"url", "events", "secret"}')
        return found
