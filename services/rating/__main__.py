"""`python -m services.rating`: run the rating service until SIGINT or SIGTERM."""

import asyncio

from services.rating.app import create_app
from services.rating.settings import RatingSettings
from shared.logs import setup_logging


def main() -> None:
    settings = RatingSettings()
    setup_logging(settings.service_name, settings.log_level)
    asyncio.run(create_app(settings).run())


if __name__ == "__main__":
    main()
