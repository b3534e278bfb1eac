from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class DashboardSettings(ServiceSettings):
    """The dashboard's settings: `DASHBOARD_*`, plus the shared `KAFKA_*`."""

    model_config = SettingsConfigDict(env_prefix="DASHBOARD_", extra="ignore")
    service_name: str = "dashboard"
    http_host: str = Field("127.0.0.1", description="where the dashboard listens")
    http_port: int = Field(8000, description="its port")
    rating_api_url: str = Field("http://127.0.0.1:8080", description="rating's read API")
    messaging_api_url: str = Field("http://127.0.0.1:8082", description="messaging's preview API")
    intake_api_url: str = Field("http://127.0.0.1:8081", description="intake's résumé downloads")
    webhooks_api_url: str = Field("http://127.0.0.1:8084", description="the webhooks service (Integrations page)")
    sequences_api_url: str = Field("http://127.0.0.1:8085", description="the sequences service (Sequences page)")
    insights_api_url: str = Field("http://127.0.0.1:8086", description="the insights service (Insights page, Home's figures)")
    jwt_secret: SecretStr | None = Field(None, description="HS256 secret shared with the identity provider and "
                                                           "rating (sign-in links and session tokens)")
    jwks_url: str | None = Field(None, description="an identity provider's JWKS URL (RS256/ES256 tokens)")
    session_hours: float = Field(8.0, gt=0, description="how long a session lasts (HS256 sessions)")
    cookie_secure: bool | None = Field(None, description="Secure cookie: default when served over https")
    command_timeout_s: float = Field(30.0, gt=0, description="longest wait for a command's result")
    api_timeout_s: float = Field(10.0, gt=0, description="longest wait for rating's or messaging's API")
