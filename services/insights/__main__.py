"""`python -m services.insights`: run the insights service (its API, /health, /ready and
/metrics at `INSIGHTS_HTTP_HOST`:`INSIGHTS_HTTP_PORT`) until SIGINT or SIGTERM."""

from services.insights.app import create_service
from services.insights.settings import InsightsSettings
from shared.service import run_http_service

if __name__ == "__main__":
    run_http_service(InsightsSettings, create_service)
