"""`python -m services.webhooks`: run the webhooks service (its API, /health, /ready, /metrics at
`WEBHOOKS_HTTP_HOST`:`WEBHOOKS_HTTP_PORT`) until SIGINT or SIGTERM."""

from services.webhooks.app import create_service
from services.webhooks.settings import WebhooksSettings
from shared.service import run_http_service

if __name__ == "__main__":
    run_http_service(WebhooksSettings, create_service)
