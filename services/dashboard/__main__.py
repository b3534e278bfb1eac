"""`python -m services.dashboard`: the Recruiter Dashboard until SIGINT or SIGTERM."""

from services.dashboard.app import create_service
from services.dashboard.settings import DashboardSettings
from shared.service import run_http_service

if __name__ == "__main__":
    run_http_service(DashboardSettings, create_service)
