"""`python -m services.messaging`: run the messaging service until SIGINT or SIGTERM."""

from services.messaging.app import create_app
from services.messaging.settings import MessagingSettings
from shared.service import run_service

if __name__ == "__main__":
    run_service(MessagingSettings, create_app)
