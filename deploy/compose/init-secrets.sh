#!/usr/bin/env bash
# Creates what the local stack signs in with, under deploy/compose/secrets/ (ignored by git, kept out of images
# by the root .dockerignore). Run it again at any time: it keeps what exists and adds what is missing.
#   - secrets/nats/: one nkey seed per service and client role, and the nats-server authorization include
#     (`kehrwasser security init`, docs/security.md);
#   - secrets/postgres/: a password for the superuser and each service's role, and each service's pgpass file;
#   - .env: the user the services run as, so that they can read their own seed and pgpass file (compose
#     bind-mounts file secrets with the host's owner and mode, 0600).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secrets="$here/secrets"
services=(members alliances ledger notify)

(cd "$here/../.." && uv run kehrwasser security init "$secrets/nats")

mkdir -p -m 0700 "$secrets/postgres"
for role in postgres "${services[@]}"; do
  password_file="$secrets/postgres/$role.password"
  # Readable by PostgreSQL's own user in its container; the directory above is the owner's only.
  [ -s "$password_file" ] || (umask 022 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >"$password_file")
done
for service in "${services[@]}"; do
  # asyncpg reads PGPASSFILE and ignores a file that its group or others may read.
  (umask 077 && printf 'postgres:5432:%s:%s:%s\n' "$service" "$service" \
    "$(cat "$secrets/postgres/$service.password")" >"$secrets/postgres/$service.pgpass")
done

uid=$(id -u)
gid=$(id -g)
if [ "$uid" = 0 ]; then
  # Never run the services as root: hand their files to the image's user instead.
  for service in "${services[@]}"; do
    chown 10001:10001 "$secrets/nats/$service.nk" "$secrets/postgres/$service.pgpass"
  done
  uid=10001
  gid=10001
fi
printf 'KEHRWASSER_UID=%s\nKEHRWASSER_GID=%s\n' "$uid" "$gid" >"$here/.env"
echo "secrets in $secrets; now: docker compose -f $here/compose.yaml up --build"
