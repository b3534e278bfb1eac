from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import RecruiterTokens, ServiceSettings


class InsightsSettings(RecruiterTokens, ServiceSettings):
    """The insights service's settings: `INSIGHTS_*` variables, plus `KAFKA_*` and `MONGODB_*`."""

    model_config = SettingsConfigDict(env_prefix="INSIGHTS_", extra="ignore")
    service_name: str = "insights"
    http_port: int = Field(8086, description="the insights API")
    batch_max_records: int = Field(2_000, ge=1, description="most records handled in one batch (counting is "
                                                            "cheaper by the batch)")
    stale_s: float = Field(60.0, gt=0, description="a batch left counted part-way this long ago is finished by "
                                                   "the next one that meets its prospects (its writer is gone)")
    sweep_s: float = Field(300.0, ge=0, description="how often each replica clears what done batches left and "
                                                    "finishes those left part-way that no batch met since (0: never)")
