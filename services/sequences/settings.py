from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import RecruiterTokens, ServiceSettings


class SequencesSettings(RecruiterTokens, ServiceSettings):
    """The sequences service's settings: `SEQUENCES_*` variables, plus `KAFKA_*` and `MONGODB_*`."""

    model_config = SettingsConfigDict(env_prefix="SEQUENCES_", extra="ignore")
    service_name: str = "sequences"
    http_port: int = Field(8085, description="the sequences API")
    tick_s: float = Field(30.0, ge=0, description="how often what is due is evaluated on its own; 0: only on "
                                                  "sequences.run")
    out_of_office_days: float = Field(14.0, gt=0, description="an out-of-office answer without a return date "
                                                              "pauses this many days")
    run_batch: int = Field(1_000, ge=1, description="due enrollments read at a time by an evaluation (it reads them all, a page at a time)")
    republish_after_s: float = Field(30.0, gt=0, description="a step recorded but not confirmed published this "
                                                             "long ago is published again (the same command)")
