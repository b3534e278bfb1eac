from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import RecruiterTokens, ServiceSettings


class ReminderSettings(RecruiterTokens, ServiceSettings):
    """Reminder's settings: `REMINDER_*` variables, plus the shared `KAFKA_*` and `MONGODB_*`."""

    model_config = SettingsConfigDict(env_prefix="REMINDER_", extra="ignore")
    service_name: str = "reminder"
    http_port: int = Field(8083, description="/health, /ready and /metrics")
    tick_s: float = Field(60.0, ge=0, description="how often the schedule is evaluated on its own; 0: only on reminders.run")
