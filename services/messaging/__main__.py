"""`python -m services.messaging`: the messaging service (Kafka side, preview and unsubscribe over
HTTP) until SIGINT or SIGTERM."""

from services.messaging.app import create_service
from services.messaging.settings import MessagingSettings
from shared.service import run_http_service

if __name__ == "__main__":
    run_http_service(MessagingSettings, create_service)
