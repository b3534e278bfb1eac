from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import RecruiterTokens, ServiceSettings


class RatingSettings(RecruiterTokens, ServiceSettings):
    """Rating's settings: `RATING_*` variables, plus the shared `KAFKA_*` and `MONGODB_*`."""

    model_config = SettingsConfigDict(env_prefix="RATING_", extra="ignore")
    service_name: str = "rating"
    flag_on_message_sent: bool = Field(True, description="a sent message sets the follow-up flag")
    http_host: str = Field("127.0.0.1", description="where the read API listens")
    http_port: int = Field(8080, description="the read API's port")
