"""`python -m services.sequences`: run the sequences service (its API, /health, /ready and
/metrics at `SEQUENCES_HTTP_HOST`:`SEQUENCES_HTTP_PORT`) until SIGINT or SIGTERM."""

from services.sequences.app import create_service
from services.sequences.settings import SequencesSettings
from shared.service import run_http_service

if __name__ == "__main__":
    run_http_service(SequencesSettings, create_service)
