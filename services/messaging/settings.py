from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import RecruiterTokens, ServiceSettings, SmtpSettings


class MessagingSettings(RecruiterTokens, ServiceSettings):
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
    inbound_domain: str | None = Field(None, description="the domain of the reply and bounce addresses "
                                       "(reply+<token>@, bounce+<token>@; its MX points at the inbound listener). "
                                       "Unset: mails carry the recruiter's Reply-To and nothing comes back")
    inbound_smtp_host: str = Field("127.0.0.1", description="where the inbound SMTP listener (replies, bounces) listens")
    inbound_smtp_port: int = Field(2526, description="its port")
    inbound_max_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="the largest inbound mail accepted")
    inbound_max_connections: int = Field(100, ge=1, description="inbound SMTP connections at once (more get 421)")
    inbound_webhook_secret: SecretStr | None = Field(None, description="authenticates a mail provider's inbound "
                                                     "webhook (POST /inbound/mail): bearer token, basic-auth password "
                                                     "or Mailgun signing key")
    inbound_forward: bool = Field(True, description="hand each reply on to the recruiter's own address as well")
