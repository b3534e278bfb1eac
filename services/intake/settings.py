import json

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import RecruiterTokens, ServiceSettings

GATEWAY_BOARDS = ("indeed", "linkedin", "ziprecruiter", "cloudevents")
RESERVED_BOARDS = ("indeed", "linkedin", "ziprecruiter", "internal", "referral")
"""Boards no CloudEvents sender may speak for: those with their own endpoint and signature, and
the ones Prospectflow itself writes."""


class IntakeSettings(RecruiterTokens, ServiceSettings):
    """Intake's settings: `INTAKE_*` variables, plus the shared `KAFKA_*` and `MONGODB_*`."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")
    service_name: str = "intake"
    http_port: int = Field(8081, description="the job-board gateway, résumé downloads, /health, /ready, /metrics")
    board_secrets: SecretStr | None = Field(
        None, description='the boards\' signing secrets, a JSON object: {"indeed": ["…"], "linkedin": ["…"], '
                          '"ziprecruiter": ["…"], "cloudevents": {"acme-board": ["whsec_…"]}}; several per board '
                          'while rotating. A CloudEvents board speaks only for the board its secret is named for '
                          '(`"cloudevents": ["whsec_…"]`: one sender, for any board but the reserved ones)')
    gateway_body_timeout_s: float = Field(10.0, gt=0, description="longest time a board may take to send its "
                                                                  "body (408 after it); no slot is held meanwhile")
    gateway_max_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="largest request body a board may post")
    resume_max_bytes: int = Field(10 * 1024 * 1024, ge=1, description="largest résumé file")
    gateway_concurrency: int = Field(64, ge=1, description="requests handled at once; more are answered 503")
    publish_timeout_s: float = Field(10.0, gt=0, description="longest wait for Kafka's acknowledgement before 503")

    def secrets(self) -> dict[str, list[str]]:
        """The secrets per board; ValueError saying what is wrong with INTAKE_BOARD_SECRETS."""
        if self.board_secrets is None or not self.board_secrets.get_secret_value().strip():
            return {}
        try:
            raw = json.loads(self.board_secrets.get_secret_value())
        except json.JSONDecodeError as exc:
            raise ValueError(f"INTAKE_BOARD_SECRETS is not JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(raw, dict):
            raise ValueError("INTAKE_BOARD_SECRETS must be a JSON object of board → list of secrets")
        secrets: dict[str, list[str]] = {}
        for board, values in raw.items():
            if board == "cloudevents" and isinstance(values, dict):
                for name, named in values.items():
                    if not isinstance(name, str) or not name or name in RESERVED_BOARDS:
                        raise ValueError(f"INTAKE_BOARD_SECRETS['cloudevents'] names {name!r}; a CloudEvents board "
                                         f"may not be called {', '.join(RESERVED_BOARDS)} or nothing")
                    secrets[f"cloudevents:{name}"] = _whsec_list(f"cloudevents.{name}", named)
                continue
            if board not in GATEWAY_BOARDS:
                raise ValueError(f"INTAKE_BOARD_SECRETS names {board!r}; the boards are {', '.join(GATEWAY_BOARDS)}")
            secrets[board] = _whsec_list(board, values) if board == "cloudevents" else _list(board, values)
        return secrets


def _list(board: str, values: object) -> list[str]:
    values = [values] if isinstance(values, str) else values
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"INTAKE_BOARD_SECRETS[{board!r}] must be a list of non-empty strings")
    return list(values)


def _whsec_list(board: str, values: object) -> list[str]:
    from standardwebhooks import Webhook

    checked = _list(board, values)
    for value in checked:
        try:
            Webhook(value)
        except Exception:  # noqa: BLE001 - the library raises several kinds
            raise ValueError(f"INTAKE_BOARD_SECRETS[{board!r}] holds a secret that is not "
                             "Standard Webhooks' whsec_ and base64") from None
    return checked
