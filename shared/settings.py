"""Configuration from the environment (pydantic-settings).

Infrastructure is shared by every service and read from unprefixed variables
(`KAFKA_*`, `MONGODB_*`, `SMTP_*`); each service's own settings carry its prefix
(`INTAKE_*`, `RATING_*`, ...). Factories take these objects; tests build their own.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth import TokenVerifier


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = Field("127.0.0.1:9092", description="comma-separated host:port list")
    topic_prefix: str = Field("", description="prepended to every topic name of the contract")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    create_topics: bool = Field(True, description="create missing topics at start")
    partitions: int = Field(6, ge=1, description="partitions of topics this service creates")
    replication_factor: int = Field(1, ge=1)
    retention_days: float = Field(30.0, gt=0, description="how long the topics this service creates (the contract's "
                                                           "and their dead letters) keep records: personal data "
                                                           "in Kafka is gone this long after it was written")

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def servers(self) -> list[str]:
        """The brokers, one `host:port` each (FastStream takes a string as one single host)."""
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]


class MongoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MONGODB_", extra="ignore")

    uri: SecretStr = Field(SecretStr("mongodb://127.0.0.1:27017/"), description="full MongoDB URI")
    server_selection_timeout_ms: int = 5_000
    operation_timeout_ms: int = Field(30_000, description="an operation taking longer is retried")


class SmtpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMTP_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 1025
    username: str | None = None
    password: SecretStr | None = None
    security: Literal["none", "starttls", "tls"] = "none"
    sender: str = Field("prospectflow@localhost", description="the From address of every mail")
    timeout_s: float = 10.0


class ServiceSettings(BaseSettings):
    """What every service has; each service subclasses it with its own env prefix."""

    model_config = SettingsConfigDict(extra="ignore")
    service_name: str = "service"

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    mongodb: MongoSettings = Field(default_factory=MongoSettings)
    database: str = Field("", description="the service's MongoDB database; default its name")
    group_id: str = Field("", description="Kafka consumer group; default prospectflow-<service>")
    batch_max_records: int = Field(500, ge=1, description="most records handled in one batch")
    batch_timeout_ms: int = Field(100, ge=0, description="longest wait of one poll for a first record (a batch is what has come by then)")
    batch_linger_ms: int = Field(5, ge=0, le=1000, description="under steady traffic, how long a small batch waits "
                                 "for more before it is handled (0: never)")
    batch_steady_ms: int = Field(50, ge=1, le=10_000, description="traffic is steady when the previous batch came "
                                 "less than this before")
    fetch_max_bytes: int = Field(16 << 20, ge=1 << 16, description="most bytes one fetch from Kafka brings (what a "
                                                                 "backlog can hold in memory at once)")
    max_partition_fetch_bytes: int = Field(256 << 10, ge=1 << 14, description="most bytes one fetch brings of one "
                                                                            "partition")
    retry_max_backoff_s: float = Field(5.0, gt=0, description="cap of the backoff on outages")
    log_level: str = "INFO"
    http_host: str = Field("127.0.0.1", description="where /health, /ready and /metrics (and any API) listen")
    http_port: int = Field(0, ge=0, description="their port; each service has its own default")
    watch_interval_s: float = Field(5.0, gt=0, description="how often the consumer lag is measured and "
                                                           "a failed dependency is tried again")
    retention_days: float = Field(30, gt=0, description="idempotency records (outbox, published markers) are "
                                                        "pruned after this many days")

    def model_post_init(self, __context: object) -> None:
        if not self.database:
            self.database = self.service_name
        if not self.group_id:
            self.group_id = f"prospectflow-{self.service_name}"


class RecruiterTokens(BaseSettings):
    """Mixed into the settings of a service with a recruiters' API: how their bearer tokens are
    checked (`<SERVICE>_JWT_SECRET` or `<SERVICE>_JWKS_URL`, under the service's prefix)."""

    jwt_secret: SecretStr | None = Field(None, description="HS256 secret of the recruiters' bearer tokens")
    jwks_url: str | None = Field(None, description="an identity provider's JWKS URL (RS256/ES256 tokens)")

    def token_verifier(self) -> TokenVerifier | None:
        """The one bearer-token check of the service's API, or None when neither is set."""
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else None
        if not secret and not self.jwks_url:
            return None
        return TokenVerifier(secret=secret, jwks_url=self.jwks_url)
