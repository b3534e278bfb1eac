"""`python -m services.intake`: run the intake service (and its /health, /ready, /metrics at
`INTAKE_HTTP_HOST`:`INTAKE_HTTP_PORT`) until SIGINT or SIGTERM."""

from services.intake.app import create_service
from services.intake.settings import IntakeSettings
from shared.service import run_http_service

if __name__ == "__main__":
    run_http_service(IntakeSettings, create_service)
