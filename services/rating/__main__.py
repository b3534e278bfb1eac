"""`python -m services.rating`: the rating service (Kafka side and read API) until SIGINT or SIGTERM."""

import uvicorn

from services.rating.app import create_service
from services.rating.settings import RatingSettings
from shared.logs import setup_logging


def main() -> None:
    settings = RatingSettings()
    setup_logging(settings.service_name, settings.log_level)
    api = create_service(settings)
    uvicorn.run(api, host=settings.http_host, port=settings.http_port, log_config=None, access_log=True)


if __name__ == "__main__":
    main()
