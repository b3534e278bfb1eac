from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Intake's settings: `INTAKE_*` variables, plus the shared `KAFKA_*` and `MONGODB_*`."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")
    service_name: str = "intake"
    http_port: int = Field(8081, description="/health, /ready and /metrics")
