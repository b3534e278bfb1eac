"""Where the tool finds the system: the same environment the services read, plus its own."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt
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
        secret = os.environ.get("RATING_JWT_SECRET")
        if not secret:
            path = _devstack_dir() / "jwt-secret"
            if not path.exists():
                raise CliError("no token for the rating API: set PROSPECTFLOW_TOKEN, or RATING_JWT_SECRET "
                               f"to mint one (the local stack keeps its secret in {path}, made by `make run`)")
            secret = path.read_text().strip()
        now = datetime.now(timezone.utc)
        return jwt.encode({"sub": recruiter_id, "iat": now, "exp": now + timedelta(hours=1)}, secret, algorithm="HS256")
