from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import RecruiterTokens, ServiceSettings


class RatingSettings(RecruiterTokens, ServiceSettings):
    """Rating's settings: `RATING_*` variables, plus the shared `KAFKA_*` and `MONGODB_*`."""

    model_config = SettingsConfigDict(env_prefix="RATING_", extra="ignore")
    service_name: str = "rating"
    flag_on_message_sent: bool = Field(True, description="a sent message sets the follow-up flag")
    http_host: str = Field("127.0.0.1", description="where the read API listens")
    http_port: int = Field(8080, description="the read API's port")
    retention_closed_job_days: float = Field(
        365.0, gt=0, validation_alias=AliasChoices("RETENTION_CLOSED_JOB_DAYS", "RATING_RETENTION_CLOSED_JOB_DAYS"),
        description="prospects of a job closed this long ago are erased (`person.erase`, reason retention; a "
                    "person with none left, everywhere)")
    retention_tick_s: float = Field(3600.0, ge=0, description="how often that is looked at (0: never)")
