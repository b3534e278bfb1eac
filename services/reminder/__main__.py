"""`python -m services.reminder`: run the reminder service until SIGINT or SIGTERM."""

import asyncio

from services.reminder.app import create_app
from services.reminder.settings import ReminderSettings
from shared.logs import setup_logging


def main() -> None:
    settings = ReminderSettings()
    setup_logging(settings.service_name, settings.log_level)
    asyncio.run(create_app(settings).run())


if __name__ == "__main__":
    main()
