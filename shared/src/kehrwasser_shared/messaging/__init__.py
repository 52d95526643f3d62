"""Reliable messaging: transactional outbox, idempotent inbox, durable consumers with dead letters."""
