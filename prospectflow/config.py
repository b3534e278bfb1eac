"""Where the tool finds the system: the same environment the services read, plus its own."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from prospectflow.errors import CliError
from shared.settings import KafkaSettings


def _devstack_dir() -> Path:
    from devstack.stack import StackConfig

    return StackConfig().state_dir


class CliSettings(BaseSettings):
    """PROSPECTFLOW_* for the tool itself; KAFKA_* as for every service."""

    model_config = SettingsConfigDict(env_prefix="PROSPECTFLOW_", extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    api_url: str = Field("http://127.0.0.1:8080", description="the rating service's read API")
    token: SecretStr | None = Field(None, description="a bearer token for the rating API")
    maildir: Path | None = Field(None, description="the local SMTP sink's maildir")
    timeout_s: float = Field(60.0, gt=0, description="longest wait for a command's result")
    dashboard_url: str = Field("http://127.0.0.1:8000", description="the Recruiter Dashboard, for sign-in links")
    intake_url: str = Field("http://127.0.0.1:8081", description="intake's job-board gateway")
    webhooks_url: str = Field("http://127.0.0.1:8084", description="the webhooks service's endpoints API")
    sequences_url: str = Field("http://127.0.0.1:8085", description="the sequences service's API")
    insights_url: str = Field("http://127.0.0.1:8086", description="the insights service's API")
    messaging_url: str = Field("http://127.0.0.1:8082", description="the messaging service (privacy export)")
    reminder_url: str = Field("http://127.0.0.1:8083", description="the reminder service (privacy export)")
    privacy_token: SecretStr | None = Field(None, description="an operator's bearer token whose scope includes "
                                                              "`privacy` (else one is minted, as `bearer_token`)")

    def service_urls(self) -> dict[str, str]:
        """Each service that holds personal data, and where its API answers."""
        return {"intake": self.intake_url, "rating": self.api_url, "messaging": self.messaging_url,
                "reminder": self.reminder_url, "webhooks": self.webhooks_url, "sequences": self.sequences_url,
                "insights": self.insights_url}

    def operator_token(self, operator: str) -> str:
        """PROSPECTFLOW_PRIVACY_TOKEN, else a five-minute token of `operator` with scope `privacy`,
        signed with the services' secret."""
        if self.privacy_token is not None:
            return self.privacy_token.get_secret_value()
        from shared.auth import mint

        return mint(self.jwt_secret(), operator, ttl_s=300, scope="privacy")

    def state_dir(self) -> Path:
        return _devstack_dir()

    def group_id(self, service: str) -> str:
        """A service's consumer group, read from the same variable the service reads."""
        return os.environ.get(f"{service.upper()}_GROUP_ID") or f"prospectflow-{service}"

    def mail_folder(self) -> Path:
        return self.maildir or _devstack_dir() / "smtp" / "maildir"

    def bearer_token(self, recruiter_id: str) -> str:
        """PROSPECTFLOW_TOKEN when given; otherwise a short-lived token for `recruiter_id`, signed
        with RATING_JWT_SECRET or the local stack's secret (what an operator of the stack holds)."""
        if self.token is not None:
            return self.token.get_secret_value()
        from shared.auth import mint

        return mint(self.jwt_secret(), recruiter_id, ttl_s=3600)

    def jwt_secret(self, variables: tuple[str, ...] = ("RATING_JWT_SECRET",)) -> str:
        """The HS256 secret the services share: from the environment, or the local stack's."""
        for variable in variables:
            if os.environ.get(variable):
                return os.environ[variable]
        path = _devstack_dir() / "jwt-secret"
        if not path.exists():
            raise CliError(f"no secret to sign a token with: set {' or '.join(variables)} (the local stack keeps "
                           f"its secret in {path}, made by `make run`), or PROSPECTFLOW_TOKEN")
        return path.read_text().strip()
