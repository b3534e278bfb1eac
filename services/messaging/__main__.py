"""`python -m services.messaging`: run the messaging service until SIGINT or SIGTERM."""

import asyncio
import sys

from services.messaging.app import create_app
from services.messaging.rendering import TemplateConfigurationError
from services.messaging.settings import MessagingSettings
from shared.logs import setup_logging


def main() -> None:
    settings = MessagingSettings()
    setup_logging(settings.service_name, settings.log_level)
    try:
        app = create_app(settings)
    except TemplateConfigurationError as exc:
        sys.exit(f"messaging: {exc}")
    asyncio.run(app.run())


if __name__ == "__main__":
    main()
