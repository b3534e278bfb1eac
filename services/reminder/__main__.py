"""`python -m services.reminder`: run the reminder service until SIGINT or SIGTERM."""

from services.reminder.app import create_app
from services.reminder.settings import ReminderSettings
from shared.service import run_service

if __name__ == "__main__":
    run_service(ReminderSettings, create_app)
