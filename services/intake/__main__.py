"""`python -m services.intake`: run the intake service until SIGINT or SIGTERM."""

import asyncio

from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared.logs import setup_logging


def main() -> None:
    settings = IntakeSettings()
    setup_logging(settings.service_name, settings.log_level)
    asyncio.run(create_app(settings).run())


if __name__ == "__main__":
    main()
