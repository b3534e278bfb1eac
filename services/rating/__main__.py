"""`python -m services.rating`: the rating service (Kafka side and read API) until SIGINT or SIGTERM."""

from services.rating.app import create_service
from services.rating.settings import RatingSettings
from shared.service import run_http_service

if __name__ == "__main__":
    run_http_service(RatingSettings, create_service)
