"""Least privilege and secrets: read-only source role, non-superuser target role, no password in logs or XCom."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit, urlunsplit

import pytest

from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from tests.integration.replication_helpers import run_dag, task_states

DAG_IDS = ["replicate_stackoverflow_to_postgres_parallel", "replicate_stackoverflow_to_postgres_bulk_parallel"]


def as_role(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}"))


@pytest.fixture
def restricted(pg_server_url, fresh_database, target_database):
    """A reader with SELECT only on the source, a loader that owns one target schema; both without superuser."""
    suffix = secrets.token_hex(3)
    reader, loader = f"so_reader_{suffix}", f"so_loader_{suffix}"
    reader_pw, loader_pw = "Rd-" + secrets.token_hex(8), "Ld-" + secrets.token_hex(8)
    generate(fresh_database, scale=0.001, seed=13)
    admin = connect(pg_server_url)
    admin.run(f"CREATE ROLE {reader} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{reader_pw}'")
    admin.run(f"CREATE ROLE {loader} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{loader_pw}'")
    source, target = connect(fresh_database), connect(target_database)
    source.run(f"GRANT USAGE ON SCHEMA public TO {reader}")
    source.run(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}")
    target.run(f"CREATE SCHEMA replica AUTHORIZATION {loader}")
    target.run("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    source.close()
    target.close()
    yield (
        as_role(fresh_database, reader, reader_pw),
        as_role(target_database, loader, loader_pw),
        [reader_pw, loader_pw],
        fresh_database,
        target_database,
    )
    for url in (fresh_database, target_database):
        conn = connect(url)
        conn.run(f"DROP OWNED BY {reader}, {loader}")
        conn.close()
    admin.run(f"DROP ROLE IF EXISTS {reader}")
    admin.run(f"DROP ROLE IF EXISTS {loader}")
    admin.close()


@pytest.mark.parametrize("dag_id", DAG_IDS, ids=["streaming", "bulk"])
def test_least_privilege_roles_and_no_secret_in_logs(airflow_db, restricted, dag_id, capfd, tmp_path):
    """Both DAGs run with a read-only source role and a non-superuser target role; neither password is printed."""
    source_url, target_url, passwords, _, admin_target = restricted
    conf = {"verify": "checksums", "target_schema": "replica"}
    if "bulk" in dag_id:
        conf |= {"partition_rows": 1_000, "staging_url": (tmp_path / "s").as_uri()}
    run = run_dag(dag_id, source_url, target_url, **conf)
    assert str(run.state) == "success", task_states(run)
    conn = connect(admin_target)
    tables = conn.run("SELECT count(*) FROM pg_tables WHERE schemaname = 'replica'")[0][0]
    conn.close()
    assert tables == 9
    out, err = capfd.readouterr()
    assert out or err, "the run's logs must have been captured for this check to mean anything"
    for password in passwords:
        assert password not in out and password not in err
        assert password not in xcom_values(run)


def xcom_values(dag_run) -> str:
    """Every XCom value the run stored, as one string."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        values = session.scalars(select(XComModel.value).where(XComModel.run_id == dag_run.run_id)).all()
        return "\n".join(str(v) for v in values)
