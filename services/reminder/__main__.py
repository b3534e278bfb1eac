"""`python -m services.reminder`: run the reminder service (and its /health, /ready, /metrics at
`REMINDER_HTTP_HOST`:`REMINDER_HTTP_PORT`) until SIGINT or SIGTERM."""

from services.reminder.app import create_service
from services.reminder.settings import ReminderSettings
from shared.service import run_http_service

if __name__ == "__main__":
    run_http_service(ReminderSettings, create_service)
