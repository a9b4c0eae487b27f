"""``make airflow``: a real Airflow 3 on this machine, without Docker, ready to press Trigger.

What ``make airflow`` starts (``.venv/bin/python -m localdev.airflow start``):

1. the project's throwaway PostgreSQL 16 (``localdev.postgres``, server ``airflow``) holding three
   databases: ``stackoverflow_source`` (generated unless it already has the nine tables),
   ``stackoverflow_target`` and ``airflow_meta``, Airflow's metadata database. PostgreSQL rather
   than SQLite because LocalExecutor runs tasks in parallel processes, which SQLite cannot serve;
2. ``airflow db migrate`` and the pools ``postgres_copy_sessions`` and ``source_read_sessions`` (4 slots each, as in
   ``airflow_settings.yaml`` for Astro users);
3. ``airflow api-server`` (REST API and UI on 127.0.0.1), ``airflow scheduler`` (LocalExecutor,
   parallelism fit to the machine) and ``airflow dag-processor``, each in its own process group,
   logging to a file in the Airflow home (``.airflow/local``). The two connections the DAGs use
   are ``AIRFLOW_CONN_*`` environment variables pointing at the throwaway server.

It then stays in the foreground until Ctrl-C, and stops everything it started - what users of
``astro dev start`` or ``airflow standalone`` expect from a local run, and no forgotten servers.
``--detach`` leaves everything running in the background instead; ``make airflow-stop``
(``.venv/bin/python -m localdev.airflow stop``) stops Airflow and the PostgreSQL server in either case.

Every user is admin and no login is asked for (SimpleAuthManager with ``simple_auth_manager_all_admins``):
acceptable only because the API server listens on 127.0.0.1 and the data is throwaway.

The functions below are what the CLI calls and what ``tests/integration/test_real_scheduler.py``
calls: ``start``/``stop`` for the processes, and ``trigger``/``wait_for_run``/``task_states``/``xcom``
for the REST API v2, which is what the UI's Trigger button uses.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from localdev import postgres
from localdev.airflow_api import ApiError, call, dag_exists, task_states, trigger, wait_for_run, xcom  # noqa: F401 - re-exported

PROJECT_DIR = Path(__file__).resolve().parent.parent
DAGS_DIR = PROJECT_DIR / "dags"
DEFAULT_HOME = PROJECT_DIR / ".airflow" / "local"
SERVER_NAME = "airflow"
SOURCE_DATABASE = "stackoverflow_source"
TARGET_DATABASE = "stackoverflow_target"
METADATA_DATABASE = "airflow_meta"
DAG_IDS = ("replicate_stackoverflow_to_postgres_parallel", "replicate_stackoverflow_to_postgres_bulk_parallel")
COPY_POOL = ("postgres_copy_sessions", 4, "Caps concurrent COPY sessions into the PostgreSQL target")
SOURCE_POOL = ("source_read_sessions", 4, "Caps concurrent sessions reading the source")
PREFERRED_PORT = 8080  # the port Airflow users type by habit; any free port if it is taken
STATE_FILE = "processes.json"
SOURCE_TABLES_WITH_KEYS_SQL = (
    "SELECT c.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND k.contype = 'p'"
)
SOURCE_MARKER_SQL = "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"

# Stopped first to last: the scheduler first, so its running tasks can still report to the API server.
COMPONENTS = ("scheduler", "dag-processor", "api-server")
START_TIMEOUT_S = 180  # db migrate on an empty database plus three cold starts, on a slow laptop
STOP_TIMEOUT_S = 30  # per component, between SIGTERM and SIGKILL
POLL_S = 1.0

_children: dict[int, subprocess.Popen] = {}  # processes this Python process started, to reap them


@dataclass(frozen=True)
class LocalAirflow:
    """A running local Airflow: where its API is, its process ids (= process group ids) and logs."""

    home: Path
    api_url: str
    pids: dict[str, int]
    logs: dict[str, Path]


def parallelism() -> int:
    """Task slots for LocalExecutor: the tasks wait on databases more than on CPU, so 2 per core."""
    return max(4, 2 * (os.cpu_count() or 1))


def available_dag_ids() -> list[str]:
    """The project's DAG ids whose file is in ``dags/`` (each file is named after its DAG)."""
    return [dag_id for dag_id in DAG_IDS if (DAGS_DIR / f"{dag_id}.py").exists()]


def airflow_environment(
    *, home: Path, source_url: str, target_url: str, metadata_url: str, port: int, log_server_port: int
) -> dict[str, str]:
    """Environment for every Airflow process: its own home, PostgreSQL metadata, the two connections."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("AIRFLOW_HOME", "AIRFLOW_CONFIG")}
    slots = str(parallelism())
    return {
        **inherited,
        "AIRFLOW_HOME": str(home),
        "PYTHONPATH": str(PROJECT_DIR),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": slots,
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": slots,
        # Local and schedule=None: a new DAG is ready to trigger without a trip to the pause toggle.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _sqlalchemy_url(metadata_url),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        # Task processes report to the Execution API; its default assumes localhost:8080.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        # The scheduler serves task logs on this port (default 8793): free, so two instances can run.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_server_port),
        # How long a task's supervisor may wait between looks at its task process. At the default 5 s,
        # some finished tasks kept their executor slot up to 5 s longer (scheduler log, bench at scale
        # 1), and Posts started 3 s after the other large tables. It is also the most often a running
        # task heartbeats: once a second, to the local API server.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        # New and edited DAG files show up within seconds rather than minutes.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
        "AIRFLOW_CONN_STACKOVERFLOW_SOURCE": source_url,
        "AIRFLOW_CONN_STACKOVERFLOW_POSTGRES_TARGET": target_url,
    }


def start(
    *,
    home: Path,
    source_url: str,
    target_url: str,
    metadata_url: str,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float = START_TIMEOUT_S,
) -> LocalAirflow:
    """Migrate the metadata database, start the three components and wait until the DAGs are parsed."""
    home.mkdir(parents=True, exist_ok=True)
    if running(home):
        raise RuntimeError(f"Airflow already runs from {home}: stop it first (make airflow-stop)")
    stop(home)  # leftovers of a killed run
    port = port or postgres._free_port()
    env = airflow_environment(
        home=home,
        source_url=source_url,
        target_url=target_url,
        metadata_url=metadata_url,
        port=port,
        log_server_port=postgres._free_port(),
    ) | (extra_env or {})
    _airflow_cli(["db", "migrate"], env, home / "db-migrate.log")
    for pool in (COPY_POOL, SOURCE_POOL):
        _airflow_cli(["pools", "set", *map(str, pool)], env, home / f"pool-{pool[0]}.log")

    commands = {
        "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(port)],
        "scheduler": ["scheduler"],
        "dag-processor": ["dag-processor"],
    }
    logs = {name: home / f"{name}.log" for name in commands}
    pids = {name: _launch(args, env, logs[name]) for name, args in commands.items()}
    airflow = LocalAirflow(home=home, api_url=f"http://127.0.0.1:{port}", pids=pids, logs=logs)
    _state_file(home).write_text(
        json.dumps({"api_url": airflow.api_url, "pids": pids, "logs": {k: str(v) for k, v in logs.items()}})
    )
    try:
        deadline = time.monotonic() + timeout
        wait_until_healthy(airflow, timeout=deadline - time.monotonic())
        wait_for_dags(airflow, available_dag_ids(), timeout=max(deadline - time.monotonic(), 1))
    except BaseException:
        stop(home)
        raise
    return airflow


def running(home: Path) -> LocalAirflow | None:
    """The Airflow started from ``home`` if any of its processes is still alive."""
    state_file = _state_file(home)
    if not state_file.exists():
        return None
    state = json.loads(state_file.read_text())
    airflow = LocalAirflow(
        home=home,
        api_url=state["api_url"],
        pids=state["pids"],
        logs={k: Path(v) for k, v in state["logs"].items()},
    )
    return airflow if any(_alive(pid) for pid in airflow.pids.values()) else None


def stop(home: Path, *, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop the Airflow started from ``home``: SIGTERM each process group, SIGKILL after ``timeout``.

    Returns False if nothing was running. Safe to call twice, and from another process.
    """
    state_file = _state_file(home)
    if not state_file.exists():
        return False
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**state, "stopping": True}))  # a foreground `make airflow` then knows
    stopped = False
    for name in COMPONENTS:
        pgid = state["pids"].get(name)
        # A live leader must still be Airflow (pids are reused); a dead one may have left forked workers.
        if pgid and _group_alive(pgid) and (not _alive(pgid) or _is_airflow(pgid)):
            _stop_group(pgid, timeout)
            stopped = True
    state_file.unlink(missing_ok=True)  # last: an interrupted stop can be run again
    return stopped


def _stopping(home: Path) -> bool:
    """True once ``stop`` has begun (or finished) for ``home``, from whichever process."""
    state_file = _state_file(home)
    return not state_file.exists() or json.loads(state_file.read_text()).get("stopping", False)


def wait_until_healthy(airflow: LocalAirflow, *, timeout: float) -> None:
    """Wait until ``/api/v2/monitor/health`` reports the metadata DB, scheduler and DAG processor healthy."""
    deadline = time.monotonic() + timeout
    health: Any = None
    while True:
        _check_processes(airflow)
        try:
            health = call(airflow.api_url, "GET", "/api/v2/monitor/health", auth=False)
            if all(health[part]["status"] == "healthy" for part in ("metadatabase", "scheduler", "dag_processor")):
                return
        except (OSError, ApiError):
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise TimeoutError(f"Airflow not healthy after {timeout:.0f} s: {health}; logs in {airflow.home}")
        time.sleep(POLL_S)


def wait_for_dags(airflow: LocalAirflow, dag_ids: Iterable[str], *, timeout: float) -> None:
    """Wait until the DAG processor has parsed ``dag_ids``; fail early, with the reason, on import errors."""
    deadline = time.monotonic() + timeout
    missing = list(dag_ids)
    while missing:
        _check_processes(airflow)
        missing = [dag_id for dag_id in missing if not dag_exists(airflow.api_url, dag_id)]
        errors = [
            error
            for error in call(airflow.api_url, "GET", "/api/v2/importErrors")["import_errors"]
            if any(error["filename"].endswith(f"/{dag_id}.py") for dag_id in missing)
        ]
        if errors:
            raise RuntimeError(
                "DAG import errors:\n" + "\n".join(f"{e['filename']}:\n{e['stack_trace']}" for e in errors)
            )
        if missing and time.monotonic() > deadline:
            raise TimeoutError(f"DAGs not parsed after {timeout:.0f} s: {missing}; see {airflow.logs['dag-processor']}")
        if missing:
            time.sleep(POLL_S)


def _sqlalchemy_url(url: str) -> str:
    """``postgresql://`` (what ``localdev.postgres`` hands out) → the psycopg2 SQLAlchemy URL Airflow wants."""
    scheme, rest = url.split("://", 1)
    return f"{scheme if '+' in scheme else 'postgresql+psycopg2'}://{rest}"


def _airflow_cli(args: list[str], env: dict[str, str], log_file: Path) -> None:
    with log_file.open("w") as log:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=env, cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT
        )
    if result.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed ({result.returncode}):\n{_tail(log_file)}")


def _launch(args: list[str], env: dict[str, str], log_file: Path) -> int:
    """Start ``airflow <args>`` in its own session: Ctrl-C in the terminal reaches only the launcher."""
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env=env,
            cwd=PROJECT_DIR,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _children[process.pid] = process
    return process.pid


def _check_processes(airflow: LocalAirflow) -> None:
    for name, pid in airflow.pids.items():
        if not _alive(pid):
            raise RuntimeError(f"airflow {name} exited during start-up:\n{_tail(airflow.logs[name])}")


def _alive(pid: int) -> bool:
    if pid in _children:
        return _children[pid].poll() is None
    return any(int(p) == pid and not stat.startswith("Z") for p, _, stat, _ in _processes())


def _is_airflow(pid: int) -> bool:
    """Guard against a process id reused since the state file was written (e.g. after a reboot)."""
    return pid in _children or any(int(p) == pid and "airflow" in command for p, _, _, command in _processes())


def _group_alive(pgid: int) -> bool:
    if pgid in _children:
        _children[pgid].poll()  # reap our own child
    # Zombies do not count: an init that reaps slowly would otherwise make every stop time out.
    return any(int(g) == pgid and not stat.startswith("Z") for _, g, stat, _ in _processes())


def _processes() -> list[list[str]]:
    """``[pid, pgid, stat, command]`` of every process (``ps`` reads the same on Linux and macOS)."""
    listing = subprocess.run(
        ["ps", "-A", "-o", "pid=,pgid=,stat=,command="], capture_output=True, text=True, check=True
    )
    return [(line.split(None, 3) + [""] * 4)[:4] for line in listing.stdout.splitlines() if line.strip()]


def _stop_group(pgid: int, timeout: float) -> None:
    """SIGTERM the process group (the component and the processes it forked), SIGKILL what outlives ``timeout``."""
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _group_alive(pgid):
        if time.monotonic() > deadline:
            _signal_group(pgid, signal.SIGKILL)
            break
        time.sleep(0.5)
    if pgid in _children:
        _children.pop(pgid).wait(timeout=10)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _state_file(home: Path) -> Path:
    return home / STATE_FILE


def _tail(log_file: Path, lines: int = 40) -> str:
    if not log_file.exists():
        return f"(no log at {log_file})"
    return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])


def prepare_source(url: str, *, scale: float, seed: int, regenerate: bool = False) -> str:
    """Generate the source at ``url`` unless it already has the nine tables; say what it holds."""
    from pg8000.native import identifier, literal

    from include.stackoverflow.database import connect
    from include.stackoverflow.generate import generate
    from include.stackoverflow.schema import TABLES

    conn = connect(url)
    try:
        # generate() adds the primary keys last: nine of them mean a finished build (or a loaded dump)
        with_keys = {row[0] for row in conn.run(SOURCE_TABLES_WITH_KEYS_SQL)}
        built = conn.run(SOURCE_MARKER_SQL)[0][0] or "not built by make airflow"
        if not regenerate and {t.name for t in TABLES} <= with_keys:
            return f"kept ({built}); make airflow REGENERATE=1 rebuilds it at SCALE={scale}"
        began = time.monotonic()
        counts = generate(url, scale=scale, seed=seed)
        marker = f"generated at scale {scale}, seed {seed}"
        database = conn.run("SELECT current_database()")[0][0]
        conn.run(f"COMMENT ON DATABASE {identifier(database)} IS {literal(marker)}")  # takes no bind parameters
        return f"{sum(counts.values()):,} rows {marker}, in {time.monotonic() - began:.1f} s"
    finally:
        conn.close()


def _display(url: str) -> str:
    """A database URL without its password, for printing."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}{parts.path}"


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no obstacle
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_all(*, scale: float, seed: int, regenerate: bool = False, home: Path = DEFAULT_HOME) -> LocalAirflow:
    """The CLI's start: throwaway PostgreSQL, source (generated if needed), target, then Airflow."""
    server = postgres.start(SERVER_NAME)
    print(f"PostgreSQL 16 (throwaway) on 127.0.0.1:{server.port}, data in {server.data_dir}")
    source_url = postgres.create_database(server, SOURCE_DATABASE)
    print(f"Source {SOURCE_DATABASE!r}: {prepare_source(source_url, scale=scale, seed=seed, regenerate=regenerate)}")
    target_url = postgres.create_database(server, TARGET_DATABASE)
    metadata_url = postgres.create_database(server, METADATA_DATABASE)
    port = PREFERRED_PORT if _port_free(PREFERRED_PORT) else None
    print(
        f"Starting Airflow (api-server, scheduler, dag-processor; LocalExecutor, parallelism {parallelism()}); "
        f"logs in {home.relative_to(PROJECT_DIR) if home.is_relative_to(PROJECT_DIR) else home}"
    )
    began = time.monotonic()
    airflow = start(home=home, source_url=source_url, target_url=target_url, metadata_url=metadata_url, port=port)
    print(f"Airflow is up in {time.monotonic() - began:.0f} s.\n")
    dag_lines = "\n".join(f"    {dag_id}" for dag_id in available_dag_ids())
    print(
        f"  UI and REST API:  {airflow.api_url}\n"
        "  Login:            none needed - every visitor is admin (local only: it listens on 127.0.0.1)\n"
        f"  DAGs (open one, press Trigger):\n{dag_lines}\n"
        f"  Connections:      stackoverflow_source -> {_display(source_url)}\n"
        f"                    stackoverflow_postgres_target -> {_display(target_url)}\n"
        f"  Target URL:       .venv/bin/python -m localdev.postgres url --name {SERVER_NAME} --database {TARGET_DATABASE}\n"
    )
    return airflow


def stop_all(home: Path = DEFAULT_HOME) -> None:
    """The CLI's stop: Airflow, then the throwaway PostgreSQL server."""
    print("Airflow stopped." if stop(home) else "Airflow was not running.")
    print("PostgreSQL stopped." if postgres.stop(SERVER_NAME) else "PostgreSQL was not running.")


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _ignore_interrupts() -> None:
    """While stopping: a second Ctrl-C (or make and timeout both passing on SIGTERM) must not orphan servers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m localdev.airflow", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--scale", type=float, default=0.01, help="generated source size (1.0 = StackOverflow2010)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--regenerate", action="store_true", help="rebuild the source even if it exists")
    parser.add_argument("--detach", action="store_true", help="leave everything running in the background")
    args = parser.parse_args(argv)
    if args.action == "stop":
        stop_all()
        return 0

    sys.stdout.reconfigure(line_buffering=True)  # progress shows up at once under `tee` or in a log file
    signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill` and `timeout` stop it the way Ctrl-C does
    try:
        airflow = start_all(scale=args.scale, seed=args.seed, regenerate=args.regenerate)
    except BaseException as exc:
        _ignore_interrupts()
        print(f"\n{'Interrupted' if isinstance(exc, KeyboardInterrupt) else 'Start-up failed'}; stopping.")
        stop_all()
        if isinstance(exc, KeyboardInterrupt):
            return 130
        raise
    if args.detach:
        print("  Stop:             make airflow-stop")
        return 0
    print("  Stop:             Ctrl-C here, or make airflow-stop from another terminal")
    try:
        while all(_alive(pid) for pid in airflow.pids.values()):
            time.sleep(POLL_S)
        if _stopping(airflow.home):  # make airflow-stop is at work: reap, do not race it
            while any(_alive(pid) for pid in airflow.pids.values()):
                time.sleep(POLL_S)
            print("\nStopped by make airflow-stop.")
            return 0
        dead = [name for name, pid in airflow.pids.items() if not _alive(pid)]
        print(f"\nairflow {', '.join(dead)} exited: see {', '.join(str(airflow.logs[name]) for name in dead)}")
        _ignore_interrupts()
        stop_all()
        return 1
    except KeyboardInterrupt:
        _ignore_interrupts()
        print("\nStopping (takes up to a minute)...")
        stop_all()
        return 0


if __name__ == "__main__":
    sys.exit(main())
