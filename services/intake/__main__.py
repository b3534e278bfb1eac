"""`python -m services.intake`: run the intake service until SIGINT or SIGTERM."""

from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared.service import run_service

if __name__ == "__main__":
    run_service(IntakeSettings, create_app)
