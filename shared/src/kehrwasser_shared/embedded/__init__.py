"""Embedded infrastructure for one machine: a nats-server process and an SMTP sink (for `up` and tests)."""
