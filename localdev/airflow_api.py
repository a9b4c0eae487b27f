"""The Airflow 3 REST API v2, as the UI's Trigger button uses it: token, trigger, wait, task states, XCom.

Checked against the installed Airflow 3.3.2: ``GET /auth/token`` hands out a JWT (201) only while
``[core] simple_auth_manager_all_admins`` is on; ``POST .../dagRuns`` needs ``logical_date``
present (null is fine); task instances come 100 per page.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

HTTP_TIMEOUT_S = 30
POLL_S = 1.0
TOKEN_REUSE_S = 300  # well inside a token's life: 86,400 s from GET /auth/token under make airflow (exp - iat)
_tokens: dict[str, tuple[float, str]] = {}


def trigger(api_url: str, dag_id: str, conf: dict[str, Any] | None = None) -> str:
    """Unpause ``dag_id`` and create a manual run with ``conf`` (what the UI's Trigger does); return its run id."""
    call(api_url, "PATCH", f"/api/v2/dags/{quote(dag_id)}", {"is_paused": False})
    run = call(api_url, "POST", f"/api/v2/dags/{quote(dag_id)}/dagRuns", {"logical_date": None, "conf": conf or {}})
    return run["dag_run_id"]


def wait_for_run(api_url: str, dag_id: str, run_id: str, *, timeout: float) -> str:
    """Poll the run until it finishes; return its final state (``success`` or ``failed``)."""
    deadline = time.monotonic() + timeout
    while True:
        state = call(api_url, "GET", _run_path(dag_id, run_id))["state"]
        if state in ("success", "failed"):
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{dag_id} {run_id} still {state} after {timeout:.0f} s: {task_states(api_url, dag_id, run_id)}"
            )
        time.sleep(POLL_S * 2)


def task_states(api_url: str, dag_id: str, run_id: str) -> dict[str, str | None]:
    """``{task_id[map_index]: state}`` of a run's task instances."""
    states: dict[str, str | None] = {}
    offset = 0
    while True:
        page = call(api_url, "GET", f"{_run_path(dag_id, run_id)}/taskInstances?limit=100&offset={offset}")
        for ti in page["task_instances"]:
            states[ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "")] = ti["state"]
        offset += len(page["task_instances"])
        if not page["task_instances"] or offset >= page["total_entries"]:
            return states


def xcom(api_url: str, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
    """The XCom ``key`` that ``task_id`` pushed in the run (JSON-decoded)."""
    entry = call(api_url, "GET", f"{_run_path(dag_id, run_id)}/taskInstances/{quote(task_id)}/xcomEntries/{quote(key)}")
    value = entry["value"]
    return json.loads(value) if isinstance(value, str) else value


class ApiError(RuntimeError):
    """An HTTP error answer of the Airflow REST API."""


def api_token(api_url: str) -> str:
    """A JWT for the REST API: ``GET /auth/token`` hands one out when every user is admin."""
    issued, token = _tokens.get(api_url, (0.0, ""))
    if time.monotonic() - issued > TOKEN_REUSE_S:
        token = call(api_url, "GET", "/auth/token", auth=False)["access_token"]
        _tokens[api_url] = (time.monotonic(), token)
    return token


def call(api_url: str, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
    """One REST call: JSON in and out, a bearer token unless ``auth=False``, HTTP errors as ApiError."""
    headers = {"Accept": "application/json"}
    if auth:
        headers["Authorization"] = f"Bearer {api_token(api_url)}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(api_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raise ApiError(f"{method} {path}: HTTP {exc.code}: {exc.read().decode(errors='replace')[:1000]}") from exc


def _run_path(dag_id: str, run_id: str) -> str:
    return f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}"


def dag_exists(api_url: str, dag_id: str) -> bool:
    try:
        call(api_url, "GET", f"/api/v2/dags/{quote(dag_id)}")
        return True
    except ApiError as exc:
        if "HTTP 404" in str(exc):
            return False
        raise
