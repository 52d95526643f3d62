#!/usr/bin/env bash
# Runs once, when the PostgreSQL volume is empty: one role and one database per service, each role owning only
# its own database, with the password deploy/compose/init-secrets.sh generated (mounted as a compose secret).
set -euo pipefail

for service in members alliances ledger notify; do
  password=$(cat "/run/secrets/${service}_db_password")
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set=service="$service" --set=password="$password" <<'SQL'
CREATE ROLE :"service" LOGIN PASSWORD :'password';
CREATE DATABASE :"service" OWNER :"service";
REVOKE ALL ON DATABASE :"service" FROM PUBLIC;
SQL
done
