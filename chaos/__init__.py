"""The chaos campaign: every service twice on a private stack, a mixed workload, seeded faults,
then the invariants of the delivery promise checked on what came out (`python -m chaos`)."""
