#!/usr/bin/env bash
# Attach StackOverflow2010 in the running SQL Server container, after `astro dev start` and
# download_stackoverflow2010.sh. Safe to re-run: the SQL skips a database that is already attached.
set -euo pipefail

SERVICE="stackoverflow-mssql"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BACKUPS="$HERE/../../mssql/backups"
FILES=(/var/opt/mssql/backup/StackOverflow2010.mdf /var/opt/mssql/backup/StackOverflow2010_log.ldf)

if [[ ! -f "$BACKUPS/StackOverflow2010.mdf" ]]; then
  echo "No StackOverflow2010.mdf in mssql/backups: run scripts/mssql/download_stackoverflow2010.sh first" >&2
  exit 1
fi

# `astro dev` keeps its Compose file in memory and names the project itself, so `docker compose exec`
# has no project to find from this folder; the service label Compose puts on the container finds it.
container="${MSSQL_CONTAINER:-$(docker ps --quiet --filter "label=com.docker.compose.service=$SERVICE")}"
if [[ -z "$container" || "$container" == *$'\n'* ]]; then
  echo "Expected one running $SERVICE container (start it with 'astro dev start'), found: ${container:-none}." >&2
  echo "Set MSSQL_CONTAINER to the container's name or id to choose one." >&2
  exit 1
fi

for _ in $(seq 30); do
  [[ "$(docker inspect --format '{{.State.Health.Status}}' "$container")" == healthy ]] && break
  sleep 5
done

# SQL Server runs as the non-root user mssql; bind-mounted files belong to the host user.
docker exec --user root "$container" chown mssql "${FILES[@]}" ||
  echo "warning: could not chown the database files; attaching anyway" >&2

# The password is read from the container's environment, so it is written down in one place only.
docker exec "$container" sh -c \
  'exec /opt/mssql-tools18/bin/sqlcmd -C -b -S localhost -U sa -P "$MSSQL_SA_PASSWORD" -Q "$1"' \
  sh "$(cat "$HERE/attach_stackoverflow2010.sql")"
echo "StackOverflow2010 is attached (connection id stackoverflow_source in airflow_settings.yaml)."
