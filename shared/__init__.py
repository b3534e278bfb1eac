"""What every Prospectflow service uses: the contract, settings, Kafka and MongoDB wiring,
dead letters, retries and logging. No service logic lives here."""

__version__ = "0.1.0"
"""Prospectflow's version, in this one place: pyproject.toml, every service's OpenAPI and
AsyncAPI document, and `prospectflow --version` read it here."""
