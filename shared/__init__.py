"""What every Prospectflow service uses: the contract, settings, Kafka and MongoDB wiring,
dead letters, retries and logging. No service logic lives here."""
