"""``make demo``: throwaway PostgreSQL, a generated source, the streaming DAG, and the proof.

1. starts the project's PostgreSQL 16 (``localdev.postgres``, server ``demo``);
2. builds ``stackoverflow_source`` with the generator (scale 0.01 by default: 193k rows);
3. runs ``airflow dags test replicate_stackoverflow_to_postgres_parallel`` with the connections
   given as ``AIRFLOW_CONN_*`` environment variables pointing at that server;
4. prints the DAG's run summary (rows, MB, seconds and seconds per step, per table and in total),
   taken from its ``summarize`` task's log;
5. prints the verification table, recomputed here independently of the DAG's own check:
   per table, source rows, target rows and whether the per-key-range checksums match.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from include.replication.models import TableName
from include.replication.postgres.source import PostgresSource
from include.replication.postgres.target import PostgresTarget
from include.replication.report import verification_table
from include.replication.settings import NulPolicy, VerifyMode
from include.replication.verify import verify_table
from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from localdev import postgres

PROJECT_DIR = Path(__file__).resolve().parent.parent
SERVER_NAME = "demo"
SOURCE_DATABASE = "stackoverflow_source"
TARGET_DATABASE = "stackoverflow_target"
DAG_ID = "replicate_stackoverflow_to_postgres_parallel"


def airflow_environment(source_url: str, target_url: str, home: Path) -> dict[str, str]:
    """Environment for the Airflow CLI: a project-local home, the DAGs folder, the two connections."""
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": str(PROJECT_DIR),
        "AIRFLOW_CONN_STACKOVERFLOW_SOURCE": source_url,
        "AIRFLOW_CONN_STACKOVERFLOW_POSTGRES_TARGET": target_url,
    }


def run_dags_test(dag_id: str, env: dict[str, str], log_file: Path, conf: dict) -> float:
    """``airflow dags test`` one DAG; the full log goes to ``log_file``. Returns seconds."""
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    started = time.monotonic()
    with log_file.open("w") as log:
        result = subprocess.run(
            [*airflow, "dags", "test", dag_id, "--conf", json.dumps(conf)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    seconds = time.monotonic() - started
    if result.returncode != 0 or "state=success" not in log_file.read_text():
        raise SystemExit(f"the DAG run failed: see {log_file}")
    return seconds


# A log record starts with its ISO timestamp; a multi-line message's other lines do not. The
# message's last line ends with the logger's name and the record's fields (`` [logger] loc=…``).
_RECORD_START = re.compile(r"^\d{4}-\d\d-\d\dT")
_RECORD_FIELDS = re.compile(r"\s+\[[\w.]+\](\s+\w+=\S+)*\s*$")


def run_summary(log: str) -> str | None:
    """The ``Run summary:`` table the DAG's ``summarize`` task logged, None when the log has none."""
    lines = log.splitlines()
    for number, line in enumerate(lines):
        if line.rstrip().endswith("Run summary:"):
            table = []
            for following in lines[number + 1 :]:
                if not following.strip() or _RECORD_START.match(following):
                    break
                table.append(following)
            if table:
                table[-1] = _RECORD_FIELDS.sub("", table[-1])
            return "\n".join(table) or None
    return None


def verify_copy(source_url: str, target_url: str) -> list:
    """Verify every source table against the target with checksums, independently of the DAG."""
    source, target = PostgresSource(connect(source_url)), PostgresTarget(connect(target_url))
    try:
        return [
            verify_table(
                mode=VerifyMode.CHECKSUMS, source=source, source_table=table,
                target=target, target_table=TableName("public", table.name),
                columns=source.map_columns(table), nul_policy=NulPolicy.STRIP,
            )
            for table in source.fetch_tables("public")
        ]  # fmt: skip
    finally:
        source.close()
        target.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="leave the server running afterwards")
    args = parser.parse_args(argv)

    server = postgres.start(SERVER_NAME)
    print(f"PostgreSQL 16 (throwaway) on 127.0.0.1:{server.port}, data in {server.data_dir}")
    try:
        source_url = postgres.create_database(server, SOURCE_DATABASE)
        target_url = postgres.create_database(server, TARGET_DATABASE)
        started = time.monotonic()
        counts = generate(source_url, scale=args.scale, seed=args.seed)
        print(
            f"Source {SOURCE_DATABASE!r}: {sum(counts.values()):,} rows generated (scale {args.scale}, seed {args.seed}) in {time.monotonic() - started:.1f} s"
        )

        home = PROJECT_DIR / ".airflow" / "demo"
        home.mkdir(parents=True, exist_ok=True)
        log_file = home / "dags_test.log"
        print(f"Running {DAG_ID} (airflow dags test, verify=checksums); log: {log_file.relative_to(PROJECT_DIR)}")
        env = airflow_environment(source_url, target_url, home)
        seconds = run_dags_test(DAG_ID, env, log_file, {"verify": "checksums"})
        print(f"DAG run succeeded in {seconds:.1f} s\n")
        summary = run_summary(log_file.read_text())
        print(f"Run summary (the DAG's summarize task):\n{summary}\n" if summary else "No run summary in the log.\n")
        print("Verification, recomputed here against both databases:")

        results = verify_copy(source_url, target_url)
        print(verification_table(results))
        ok = all(r.ok and r.checksum_match for r in results)
        print(f"\n{'Every table matches its source.' if ok else 'DIFFERENCES FOUND (see above).'}")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(
                f"\nServer left running. URLs: .venv/bin/python -m localdev.postgres url --name {SERVER_NAME} --database {TARGET_DATABASE}; stop: make pg-stop"
            )
        else:
            postgres.stop(SERVER_NAME)
            print("Throwaway server stopped (make demo KEEP=1 leaves it running).")


if __name__ == "__main__":
    sys.exit(main())
