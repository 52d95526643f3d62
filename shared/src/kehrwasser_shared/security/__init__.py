"""Identities and permissions of the network on NATS (see docs/security.md)."""
