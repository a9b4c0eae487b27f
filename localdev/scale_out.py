"""``make scale-out``: the bulk DAG on CeleryExecutor, two workers that share no folder, staging on S3.

What Astro's hosted deployments do across machines, shown on one machine with the real parts:

1. ``redis-server`` (Debian's package) on 127.0.0.1, a free port, nothing persisted: the Celery broker;
2. moto's S3 server (``.venv/bin/python -m moto.server``) on 127.0.0.1 with one bucket: the staging area, which
   every worker reaches over HTTP as it would reach S3;
3. Airflow's api-server, scheduler and dag-processor started as ``make airflow`` starts them
   (``localdev.airflow.start``), with ``CeleryExecutor``;
4. two ``airflow celery worker`` processes, each in its own folder with its own ``AIRFLOW_HOME``
   and its own copy of ``dags/`` and ``include/`` (as each machine has the image's copy): nothing
   a worker writes locally - staged files, task logs - is visible to the other.

The bulk DAG is then triggered over the REST API with ``staging_url=s3://...``; its partitions are
extracted and loaded by whichever worker Celery hands them to. ``tests/integration/test_scale_out.py``
runs the same thing and checks every table against the source; ``main`` (the make target) prints
what each worker ran.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Generator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from localdev import airflow as local_airflow
from localdev import postgres

PROJECT_DIR = local_airflow.PROJECT_DIR
BULK_DAG_ID = "replicate_stackoverflow_to_postgres_bulk_parallel"
WORKERS = ("worker-a", "worker-b")
WORKER_CONCURRENCY = 2  # task slots per worker: 4 in all, on a 2-core machine
SHIPPED = ("dags", "include")  # what each worker gets its own copy of (an image holds the same)
BUCKET = "replication-staging"
S3_CONN_ID = "scale_out_s3"  # an Airflow connection to the local S3 API; staging_url names it
SERVER_NAME = "scale-out"  # the throwaway PostgreSQL of `make scale-out`
START_TIMEOUT_S = 120  # one service (redis, moto, a worker) from launch to ready, on a busy machine
RUN_TIMEOUT_S = 600
DEFAULT_PARTITION_ROWS = 20_000  # scale 0.01: 16 partitions (Votes 6), enough to keep both workers busy
STOP_TIMEOUT_S = 30


@dataclass(frozen=True)
class Worker:
    """One ``airflow celery worker``: its folder (cwd), Airflow home, process (a group leader) and log."""

    name: str
    folder: Path
    home: Path
    process: subprocess.Popen
    log: Path


@dataclass(frozen=True)
class ScaleOut:
    """A running scale-out: the Airflow it drives, its workers, the broker and the S3 API."""

    airflow: local_airflow.LocalAirflow
    workers: tuple[Worker, ...]
    broker_url: str
    s3_endpoint: str
    s3_log: Path

    @property
    def staging_url(self) -> str:
        """Where the bulk DAG stages partitions: the bucket, through the connection that knows the endpoint."""
        return f"s3://{S3_CONN_ID}@{BUCKET}/staging"


def redis_server() -> str | None:
    """The ``redis-server`` binary on PATH (Debian: ``apt-get install redis-server``), if any."""
    return shutil.which("redis-server")


@contextmanager
def running(
    folder: Path, *, source_url: str, target_url: str, metadata_url: str, extra_env: dict[str, str] | None = None
) -> Generator[ScaleOut, None, None]:
    """Start broker, S3 API, Airflow with CeleryExecutor and two workers under ``folder``; stop them after."""
    with ExitStack() as stack:
        broker_port, s3_port = _free_port(), _free_port()
        redis_binary = redis_server()
        if not redis_binary:
            raise RuntimeError("redis-server is not installed: apt-get install redis-server")
        redis_folder = folder / "redis"
        broker = [redis_binary, "--port", str(broker_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = stack.enter_context(_service(broker, redis_folder))
        _wait_until(lambda: _redis_ping(broker_port), process, redis_folder / "service.log")
        s3_endpoint = f"http://127.0.0.1:{s3_port}"
        s3_log = folder / "s3" / "service.log"
        s3_server = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)]
        process = stack.enter_context(_service(s3_server, folder / "s3"))
        _wait_until(lambda: _http_ok(f"{s3_endpoint}/moto-api/"), process, s3_log)
        _create_bucket(s3_endpoint, BUCKET)

        shared_env = {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{broker_port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + local_airflow._sqlalchemy_url(metadata_url),
            # one task at a time per slot: a worker does not hoard queued partitions the other could run
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            # every machine of a deployment shares these two secrets (tokens of task and log requests)
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
            f"AIRFLOW_CONN_{S3_CONN_ID.upper()}": json.dumps(
                {
                    "conn_type": "aws",
                    "login": "scale-out",  # moto accepts any key pair
                    "password": "scale-out",
                    "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
                }
            ),
            **(extra_env or {}),
        }
        # The workers boot (half a minute each on a busy laptop) while Airflow migrates and starts.
        api_port = _free_port()
        workers = []
        for name in WORKERS:
            env = (
                local_airflow.airflow_environment(
                    home=folder / name / "home",
                    source_url=source_url,
                    target_url=target_url,
                    metadata_url=metadata_url,
                    port=api_port,
                    log_server_port=_free_port(),
                )
                | shared_env
            )
            workers.append(stack.enter_context(_worker(name, folder / name, env)))
        home = folder / "scheduler"
        airflow = local_airflow.start(
            home=home,
            source_url=source_url,
            target_url=target_url,
            metadata_url=metadata_url,
            port=api_port,
            extra_env=shared_env,
        )
        stack.callback(local_airflow.stop, home)
        for worker in workers:
            _wait_until(lambda w=worker: _worker_ready(w), worker.process, worker.log)
        yield ScaleOut(
            airflow=airflow,
            workers=tuple(workers),
            broker_url=shared_env["AIRFLOW__CELERY__BROKER_URL"],
            s3_endpoint=s3_endpoint,
            s3_log=s3_log,
        )


@contextmanager
def _worker(name: str, folder: Path, env: dict[str, str]) -> Generator[Worker, None, None]:
    """An ``airflow celery worker`` in ``folder``, with its own copy of the project's DAGs and code."""
    project = folder / "project"
    for part in SHIPPED:
        shutil.copytree(PROJECT_DIR / part, project / part, ignore=shutil.ignore_patterns("__pycache__"))
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    env = env | {"PYTHONPATH": str(project), "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags")}
    command = [sys.executable, "-m", "airflow", "celery", "worker"]
    command += ["--concurrency", str(WORKER_CONCURRENCY), "--celery-hostname", f"{name}@%h"]
    log = folder / "worker.log"
    with _service(command, folder, env=env, log=log) as process:
        yield Worker(name=name, folder=folder, home=home, process=process, log=log)


def _worker_ready(worker: Worker) -> bool:
    """Celery logs ``<name>@<host> ready.`` once the worker consumes from the broker."""
    log = _read(worker.log)
    return f"{worker.name}@" in log and " ready." in log


@contextmanager
def _service(
    command: list[str], folder: Path, *, env: dict[str, str] | None = None, log: Path | None = None
) -> Generator[subprocess.Popen, None, None]:
    """Run ``command`` in ``folder``, in its own process group, until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    log = log or folder / "service.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=folder,
            env=env or os.environ.copy(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        _stop(process)


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen, log: Path) -> None:
    """Wait until ``ready()``; fail with the log's tail if the process exits or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited ({process.returncode}) at start-up:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{' '.join(process.args[:5])} not ready after {START_TIMEOUT_S} s:\n{_tail(log)}")
        time.sleep(0.5)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group (Celery finishes its tasks first), SIGKILL what outlives the timeout."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


def _free_port() -> int:
    return postgres._free_port()


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def _create_bucket(endpoint: str, bucket: str) -> None:
    _s3(endpoint).create_bucket(Bucket=bucket)


def _s3(endpoint: str):
    """A boto3 client of the local S3 API (boto3 comes with the amazon provider)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="scale-out",
        aws_secret_access_key="scale-out",
        region_name="us-east-1",
    )


def staged_objects(scale_out: ScaleOut) -> list[str]:
    """The keys left in the staging bucket (the DAG removes a table's files once it verifies)."""
    listing = _s3(scale_out.s3_endpoint).list_objects_v2(Bucket=BUCKET)
    return [item["Key"] for item in listing.get("Contents", [])]


def staged_writes(scale_out: ScaleOut) -> int:
    """How many objects the workers PUT into the bucket, from the S3 server's request log."""
    return sum(f"PUT /{BUCKET}/" in line for line in _read(scale_out.s3_log).splitlines())


def tasks_by_worker(scale_out: ScaleOut, dag_id: str, run_id: str) -> dict[str, list[str]]:
    """``{worker: ["task_id[map_index]", ...]}``, one entry per try, from each worker's own task logs."""
    ran = {}
    for worker in scale_out.workers:
        tries = []
        for attempt in (worker.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}").rglob("attempt=*.log"):
            parts = {p.name.split("=", 1)[0]: p.name.split("=", 1)[1] for p in attempt.parents if "=" in p.name}
            tries.append(parts["task_id"] + (f"[{parts['map_index']}]" if "map_index" in parts else ""))
        ran[worker.name] = sorted(tries)
    return ran


def crossed_partitions(ran: dict[str, list[str]]) -> list[str]:
    """Partitions extracted by one worker and loaded by the other: only shared staging makes them work."""
    where = {task: worker for worker, tasks in ran.items() for task in tasks}
    return sorted(
        task.replace(".extract_partition", "")
        for task, worker in where.items()
        if ".extract_partition[" in task and where.get(task.replace("extract_", "load_"), worker) != worker
    )


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(_read(path).splitlines()[-lines:]) or f"(nothing in {path})"


def main(argv: list[str] | None = None) -> int:
    """Start everything on a fresh throwaway PostgreSQL, run the bulk DAG once, print what each worker did."""
    from include.replication.report import verification_table
    from include.stackoverflow.generate import generate
    from localdev.demo import verify_copy

    parser = argparse.ArgumentParser(prog=".venv/bin/python -m localdev.scale_out", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.01, help="generated source size (1.0 = StackOverflow2010)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--partition-rows", type=int, default=DEFAULT_PARTITION_ROWS, help="rows per partition (about)")
    parser.add_argument("--keep", action="store_true", help="keep the folder of logs and worker copies afterwards")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)

    began = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="scale-out-"))
    postgres.stop(SERVER_NAME)  # leftovers of an interrupted run
    postgres.remove(SERVER_NAME)
    server = postgres.start(SERVER_NAME)
    try:
        urls = {role: postgres.create_database(server, f"scale_out_{role}") for role in ("source", "target", "meta")}
        counts = generate(urls["source"], scale=args.scale, seed=args.seed)
        print(f"Source: {sum(counts.values()):,} rows generated at scale {args.scale} (seed {args.seed})")
        starting = time.monotonic()
        with running(folder, source_url=urls["source"], target_url=urls["target"], metadata_url=urls["meta"]) as out:
            print(f"Broker {out.broker_url}; S3 API {out.s3_endpoint}; Airflow {out.airflow.api_url} (CeleryExecutor); "
                  f"all up in {time.monotonic() - starting:.0f} s")  # fmt: skip
            for worker in out.workers:
                print(f"  {worker.name}: airflow celery worker in {worker.folder}")
            result = run_bulk_dag(out, partition_rows=args.partition_rows)
            print(f"Bulk DAG run: {result.state} in {result.seconds:.1f} s; {staged_writes(out)} partition files "
                  f"written to {out.staging_url}, {len(staged_objects(out))} left after the run")  # fmt: skip
            ran = tasks_by_worker(out, BULK_DAG_ID, result.run_id)
            for name, tries in ran.items():
                kinds = Counter(task.split("[")[0].rsplit(".", 1)[-1] for task in tries)
                listing = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
                print(f"  {name} ran {len(tries)} tasks: {listing}")
            print(f"  partitions extracted on one worker and loaded on the other: {len(crossed_partitions(ran))}")
        results = verify_copy(urls["source"], urls["target"])
        print("Verification here, independent of the DAG's:\n" + verification_table(results))
        print(f"Wall time {time.monotonic() - began:.0f} s" + (f"; logs in {folder}" if args.keep else ""))
        return 0 if result.state == "success" and all(r.ok for r in results) else 1
    finally:
        postgres.stop(SERVER_NAME)
        postgres.remove(SERVER_NAME)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class BulkRun:
    run_id: str
    state: str
    seconds: float


def run_bulk_dag(scale_out: ScaleOut, *, partition_rows: int, timeout: float = RUN_TIMEOUT_S) -> BulkRun:
    """Trigger the bulk DAG with S3 staging over the REST API and wait for it to finish."""
    api_url = scale_out.airflow.api_url
    started = time.monotonic()
    run_id = local_airflow.trigger(
        api_url,
        BULK_DAG_ID,
        {"staging_url": scale_out.staging_url, "partition_rows": partition_rows, "verify": "checksums"},
    )
    state = local_airflow.wait_for_run(api_url, BULK_DAG_ID, run_id, timeout=timeout)
    return BulkRun(run_id=run_id, state=state, seconds=round(time.monotonic() - started, 1))


if __name__ == "__main__":
    sys.exit(main())
