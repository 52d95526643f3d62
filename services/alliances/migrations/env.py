from kehrwasser_alliances.adapters.tables import metadata
from kehrwasser_shared.persistence.alembic_env import run_migrations

run_migrations(metadata)
