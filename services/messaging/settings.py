from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, SmtpSettings


class MessagingSettings(ServiceSettings):
    """Messaging's settings: `MESSAGING_*`, plus the shared `KAFKA_*`, `MONGODB_*`, `SMTP_*`."""

    model_config = SettingsConfigDict(env_prefix="MESSAGING_", extra="ignore")
    service_name: str = "messaging"
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    templates_dir: Path | None = Field(None, description="a folder whose templates replace the built-in ones")
    smtp_connections: int = Field(4, ge=1, le=32, description="SMTP connections kept open and reused")
    smtp_max_attempts: int = Field(5, ge=1, description="tries for a transient failure before backing off longer")
    daily_digest: bool = Field(True, description="mail each recruiter a digest of each follow-up reminder")
    http_host: str = Field("127.0.0.1", description="where the preview and unsubscribe endpoints listen")
    http_port: int = Field(8082, description="their port")
    public_url: str = Field("http://127.0.0.1:8082", description="the address prospects reach this service at "
                            "(unsubscribe links in every mail)")
    unsubscribe_secret: SecretStr | None = Field(None, description="HMAC key of the unsubscribe links (required)")
    jwt_secret: SecretStr | None = Field(None, description="HS256 secret of recruiters' tokens (template preview)")
    jwks_url: str | None = Field(None, description="an identity provider's JWKS URL (template preview)")
