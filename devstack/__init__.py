"""The local stack: Apache Kafka (KRaft), FerretDB 2 over PostgreSQL 15 with DocumentDB, and an
SMTP sink on loopback, installed from Maven Central, Debian's packages, pinned sources and the Go
module proxy, started and stopped by us."""
