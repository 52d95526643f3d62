"""Persistence plumbing: async engines for SQLite and PostgreSQL, Alembic migrations."""
