"""The local stack: Apache Kafka (KRaft), FerretDB (SQLite) and an SMTP sink on loopback,
installed from Maven Central and the Go module proxy, started and stopped by us."""
