#!/usr/bin/env bash
# Create the target database of replicate_stackoverflow_to_target in the second SQL Server container,
# after `astro dev start`. Safe to re-run: an existing database is left as it is.
set -euo pipefail

SERVICE="stackoverflow-mssql-target"
DATABASE="${TARGET_DATABASE:-StackOverflowCopy}"  # conn_schema of stackoverflow_target in airflow_settings.yaml

# The service label Compose puts on the container finds it (`astro dev` names the project itself).
container="${MSSQL_TARGET_CONTAINER:-$(docker ps --quiet --filter "label=com.docker.compose.service=$SERVICE")}"
if [[ -z "$container" || "$container" == *$'\n'* ]]; then
  echo "Expected one running $SERVICE container (start it with 'astro dev start'), found: ${container:-none}." >&2
  echo "Set MSSQL_TARGET_CONTAINER to the container's name or id to choose one." >&2
  exit 1
fi

for _ in $(seq 30); do
  [[ "$(docker inspect --format '{{.State.Health.Status}}' "$container")" == healthy ]] && break
  sleep 5
done

# The password is read from the container's environment, so it is written down in one place only.
docker exec "$container" sh -c \
  'exec /opt/mssql-tools18/bin/sqlcmd -C -b -S localhost -U sa -P "$MSSQL_SA_PASSWORD" -Q "$1"' \
  sh "IF DB_ID(N'$DATABASE') IS NULL CREATE DATABASE [$DATABASE]"
echo "$DATABASE exists on $SERVICE (connection id stackoverflow_target in airflow_settings.yaml)."
