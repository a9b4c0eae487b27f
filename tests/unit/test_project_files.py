"""The Astro / Docker project files agree with each other (checked without Docker or SQL Server)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from tests.conftest import dev_package

ROOT = Path(__file__).resolve().parents[2]

# The DAGs will take these ids from constants; until then they are spelled out here.
SOURCE_CONN_ID = "stackoverflow_source"
TARGET_CONN_ID = "stackoverflow_postgres_target"
MSSQL_TARGET_CONN_ID = "stackoverflow_target"  # replicate_stackoverflow_to_target's SQL Server
COPY_POOL = "postgres_copy_sessions"
SOURCE_POOL = "source_read_sessions"

MSSQL_SERVICE = "stackoverflow-mssql"
POSTGRES_SERVICE = "stackoverflow-postgres"
MSSQL_TARGET_SERVICE = "stackoverflow-mssql-target"
ASTRO_NETWORK = "airflow"  # the network Astro's generated Compose file puts its own services on
ASTRO_METADATA_DB_PORT = 5432
BACKUP_MOUNT = "/var/opt/mssql/backup"
ATTACH_SQL = "scripts/mssql/attach_stackoverflow2010.sql"
SHELL_SCRIPTS = [
    "scripts/mssql/download_stackoverflow2010.sh",
    "scripts/mssql/attach_stackoverflow2010.sh",
    "scripts/mssql/create_target_database.sh",
]
YAML_FILES = [".astro/config.yaml", "airflow_settings.yaml", "docker-compose.override.yml"]
DOCKERIGNORED = [".git", ".venv", ".venv-image", ".pgdata", ".airflow", ".staging", "**/__pycache__", "mssql/backups"]


class ConnectionService(NamedTuple):
    """An Airflow connection and the Compose service it points at."""

    conn_id: str
    service: str
    container_port: int
    password_var: str  # the service's environment variable that sets the password


CONNECTION_SERVICES = [
    pytest.param(ConnectionService(SOURCE_CONN_ID, MSSQL_SERVICE, 1433, "MSSQL_SA_PASSWORD"), id="source-mssql"),
    pytest.param(ConnectionService(TARGET_CONN_ID, POSTGRES_SERVICE, 5432, "POSTGRES_PASSWORD"), id="target-postgres"),
    pytest.param(
        ConnectionService(MSSQL_TARGET_CONN_ID, MSSQL_TARGET_SERVICE, 1433, "MSSQL_SA_PASSWORD"), id="target-mssql"
    ),
]


def project_file(name: str) -> Path:
    """Path of a project file; skip outside a source checkout (the Astro image leaves some files out)."""
    path = ROOT / name
    if not path.exists() and not (ROOT / ".git").exists():
        pytest.skip(f"{name} is not here: not a source checkout (.dockerignore keeps it out of the image)")
    return path


def load_yaml(name: str) -> Any:
    """Parse one YAML project file."""
    return yaml.safe_load(project_file(name).read_text(encoding="utf-8"))


def requirement_lines() -> list[str]:
    """Non-blank, non-comment lines of requirements.txt."""
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def host_ports(service: dict[str, Any]) -> dict[int, int]:
    """Map container port to published host port, from Compose short syntax ``[ip:]host:container``."""
    published = {}
    for mapping in service.get("ports", []):
        *_, host, container = str(mapping).split(":")
        published[int(container)] = int(host)
    return published


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker-compose.override.yml, parsed."""
    return load_yaml("docker-compose.override.yml")


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services of docker-compose.override.yml by name."""
    return compose["services"]


@pytest.fixture(scope="module")
def connections() -> dict[str, dict[str, Any]]:
    """Connections of airflow_settings.yaml by conn_id."""
    settings = load_yaml("airflow_settings.yaml")
    return {conn["conn_id"]: conn for conn in settings["airflow"]["connections"]}


@pytest.fixture(scope="module")
def attach_sql() -> str:
    """Text of the T-SQL that attaches StackOverflow2010."""
    return project_file(ATTACH_SQL).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["Dockerfile", "requirements.txt", "packages.txt", ".astro/config.yaml"])
def test_astro_project_file_exists(name: str) -> None:
    """The files an Astro Runtime build copies (its ONBUILD steps fail without them) are present."""
    assert (ROOT / name).is_file()


def test_dockerfile_builds_on_astro_runtime_3() -> None:
    """The Dockerfile starts from an Astro Runtime 3.x (Airflow 3) image."""
    lines = [line.strip() for line in project_file("Dockerfile").read_text(encoding="utf-8").splitlines()]
    first = next(line for line in lines if line and not line.startswith("#"))
    assert re.fullmatch(r"FROM astrocrpublic\.azurecr\.io/runtime:3\.\d+-\d+", first), first


@pytest.mark.parametrize("name", YAML_FILES)
def test_yaml_file_parses(name: str) -> None:
    """Each YAML project file parses to a mapping."""
    assert isinstance(load_yaml(name), dict)


def test_astro_project_name() -> None:
    """.astro/config.yaml names the project as the Astro CLI writes it."""
    assert load_yaml(".astro/config.yaml") == {"project": {"name": "stackoverflow-replication-pipeline"}}


def test_compose_adds_source_and_target(services: dict[str, dict[str, Any]]) -> None:
    """The override file defines the SQL Server source, the PostgreSQL target and the SQL Server target."""
    assert {MSSQL_SERVICE, POSTGRES_SERVICE, MSSQL_TARGET_SERVICE} <= services.keys()


@pytest.mark.parametrize("name", [MSSQL_SERVICE, POSTGRES_SERVICE, MSSQL_TARGET_SERVICE])
def test_service_joins_astro_network(services: dict[str, dict[str, Any]], name: str) -> None:
    """A service not on Astro's network would land on Compose's `default` one, out of Airflow's reach."""
    assert ASTRO_NETWORK in services[name]["networks"]


@pytest.mark.parametrize(
    ("name", "probe"),
    [
        pytest.param(MSSQL_SERVICE, "/opt/mssql-tools18/bin/sqlcmd", id="mssql-sqlcmd"),
        pytest.param(MSSQL_TARGET_SERVICE, "/opt/mssql-tools18/bin/sqlcmd", id="mssql-target-sqlcmd"),
        pytest.param(POSTGRES_SERVICE, "pg_isready", id="postgres-pg_isready"),
    ],
)
def test_service_has_healthcheck(services: dict[str, dict[str, Any]], name: str, probe: str) -> None:
    """Each database has a healthcheck that asks the server itself."""
    assert probe in " ".join(services[name]["healthcheck"]["test"])


@pytest.mark.parametrize("name", [MSSQL_SERVICE, MSSQL_TARGET_SERVICE])
def test_mssql_runs_as_amd64(services: dict[str, dict[str, Any]], name: str) -> None:
    """SQL Server images exist for amd64 only, so the platform is pinned for Apple-silicon hosts."""
    assert services[name]["platform"] == "linux/amd64"


def test_the_two_sql_servers_publish_different_host_ports(services: dict[str, dict[str, Any]]) -> None:
    assert host_ports(services[MSSQL_SERVICE])[1433] != host_ports(services[MSSQL_TARGET_SERVICE])[1433]


def test_postgres_target_avoids_astro_metadata_port(services: dict[str, dict[str, Any]]) -> None:
    """The target is published on a host port other than 5432, which Astro's metadata database takes."""
    published = host_ports(services[POSTGRES_SERVICE])
    assert published, "the target should be reachable from the host"
    assert ASTRO_METADATA_DB_PORT not in published.values()


@pytest.mark.parametrize("name", [MSSQL_SERVICE, POSTGRES_SERVICE, MSSQL_TARGET_SERVICE])
def test_service_data_lives_in_declared_volume(compose: dict[str, Any], name: str) -> None:
    """Database files live in a named volume declared at the top level, so they survive restarts."""
    declared = compose.get("volumes") or {}
    sources = [str(volume).split(":")[0] for volume in compose["services"][name]["volumes"]]
    named = [source for source in sources if not source.startswith((".", "/", "~"))]
    assert named, f"{name} has no named volume"
    assert set(named) <= declared.keys()


def test_mssql_mounts_backup_folder(services: dict[str, dict[str, Any]]) -> None:
    """mssql/backups, where the download script extracts the .mdf/.ldf, is mounted where the attach SQL reads."""
    assert f"./mssql/backups:{BACKUP_MOUNT}" in services[MSSQL_SERVICE]["volumes"]
    assert project_file("mssql/backups/.gitkeep").is_file()


def test_connection_ids_and_types(connections: dict[str, dict[str, Any]]) -> None:
    """airflow_settings.yaml defines exactly the source (mssql) and the two targets (postgres, mssql)."""
    assert {conn_id: conn["conn_type"] for conn_id, conn in connections.items()} == {
        SOURCE_CONN_ID: "mssql",
        TARGET_CONN_ID: "postgres",
        MSSQL_TARGET_CONN_ID: "mssql",
    }


@pytest.mark.parametrize("case", CONNECTION_SERVICES)
def test_connection_host_is_compose_service(connections: dict[str, dict[str, Any]], case: ConnectionService) -> None:
    """Airflow reaches each database by its Compose service name on the shared network."""
    assert connections[case.conn_id]["conn_host"] == case.service


@pytest.mark.parametrize("case", CONNECTION_SERVICES)
def test_connection_port_is_container_port(
    services: dict[str, dict[str, Any]], connections: dict[str, dict[str, Any]], case: ConnectionService
) -> None:
    """Inside the network the connection uses the container port, not the host port published for people."""
    assert connections[case.conn_id]["conn_port"] == case.container_port
    assert case.container_port in host_ports(services[case.service])


@pytest.mark.parametrize("case", CONNECTION_SERVICES)
def test_connection_password_matches_compose(
    services: dict[str, dict[str, Any]], connections: dict[str, dict[str, Any]], case: ConnectionService
) -> None:
    """The dev-only password in airflow_settings.yaml is the one the container is started with."""
    assert connections[case.conn_id]["conn_password"] == services[case.service]["environment"][case.password_var]


def test_target_login_and_database_match_compose(
    services: dict[str, dict[str, Any]], connections: dict[str, dict[str, Any]]
) -> None:
    """The target connection logs in as the user, to the database, that the container creates."""
    environment = services[POSTGRES_SERVICE]["environment"]
    target = connections[TARGET_CONN_ID]
    assert (target["conn_login"], target["conn_schema"]) == (environment["POSTGRES_USER"], environment["POSTGRES_DB"])


def test_source_database_is_the_attached_one(connections: dict[str, dict[str, Any]], attach_sql: str) -> None:
    """The source connection names the database that the attach script creates."""
    source = connections[SOURCE_CONN_ID]
    assert source["conn_login"] == "sa"
    assert f"CREATE DATABASE [{source['conn_schema']}]" in attach_sql


@pytest.mark.parametrize("name", [COPY_POOL, SOURCE_POOL])
def test_pools_exist(name: str) -> None:
    """The pools that cap target COPY sessions and source reads exist with a positive slot count."""
    pools = {pool["pool_name"]: pool for pool in load_yaml("airflow_settings.yaml")["airflow"]["pools"]}
    assert pools[name]["pool_slot"] > 0


@pytest.mark.parametrize("line", requirement_lines())
def test_requirement_is_pinned(line: str) -> None:
    """Every requirement is pinned with ==, so the image installs what the tests ran against."""
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._\-\[\],]*==[^\s=;]+", line), line


def test_requirements_leave_airflow_to_the_runtime() -> None:
    """Astro's build refuses an apache-airflow pin: the Runtime image fixes the Airflow version."""
    assert not any(re.match(r"apache-airflow\s*[=~<>]", line) for line in requirement_lines())


def test_attach_sql_parses_as_guarded_attach(attach_sql: str) -> None:
    """The attach T-SQL parses and only creates the database when DB_ID finds none."""
    sqlglot = dev_package("sqlglot")
    exp = sqlglot.exp
    statements = [statement for statement in sqlglot.parse(attach_sql, read="tsql") if statement is not None]
    assert len(statements) == 1
    guard = statements[0]
    assert isinstance(guard, exp.IfBlock)
    assert isinstance(guard.this, exp.Is) and isinstance(guard.this.expression, exp.Null)
    assert guard.this.this.sql(dialect="tsql").upper().startswith("DB_ID(")
    # sqlglot keeps CREATE DATABASE ... FOR ATTACH as an opaque command, so its text is checked instead.
    assert "FOR ATTACH" in guard.args["true"].sql(dialect="tsql").upper()


def test_attach_sql_reads_files_from_backup_mount(attach_sql: str) -> None:
    """The attach T-SQL reads the .mdf and .ldf from the folder Compose mounts the backups on."""
    assert re.findall(r"FILENAME\s*=\s*N?'([^']+)'", attach_sql) == [
        f"{BACKUP_MOUNT}/StackOverflow2010.mdf",
        f"{BACKUP_MOUNT}/StackOverflow2010_log.ldf",
    ]


@pytest.mark.parametrize("name", SHELL_SCRIPTS)
def test_shell_script_is_strict_and_parses(name: str) -> None:
    """Each setup script is executable, stops on the first error and is valid bash."""
    path = project_file(name)
    assert "set -euo pipefail" in path.read_text(encoding="utf-8")
    assert path.stat().st_mode & 0o111, f"{name} is not executable"
    subprocess.run(["bash", "-n", str(path)], check=True)


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        pytest.param("mssql/backups/StackOverflow2010.mdf", True, id="mdf-ignored"),
        pytest.param("mssql/backups/StackOverflow2010_log.ldf", True, id="ldf-ignored"),
        pytest.param("mssql/backups/.gitkeep", False, id="gitkeep-kept"),
    ],
)
def test_database_files_stay_out_of_git(path: str, ignored: bool) -> None:
    """Gigabytes of downloaded database files are ignored while the folder itself is kept."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(["git", "check-ignore", "--quiet", "--no-index", path], cwd=ROOT, check=False)
    assert (result.returncode == 0) == ignored


@pytest.mark.parametrize("entry", DOCKERIGNORED)
def test_dockerignore_keeps_local_state_out_of_image(entry: str) -> None:
    """The build context leaves out local state and the database files, which are gigabytes."""
    assert entry in project_file(".dockerignore").read_text(encoding="utf-8").splitlines()
