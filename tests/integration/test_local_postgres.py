"""The throwaway PostgreSQL's binaries under root, when the account that runs the server cannot reach them.

As root the server runs as ``nobody``; a wheel installed where ``nobody`` cannot go (a virtual
environment under ``/root``) is copied to the temp folder first. The wheel's ``initdb`` finds
libpq through an RPATH relative to itself, so the copy must bring the wheel's libraries along.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from localdev import postgres
from tests.conftest import missing_dev_dependency


@pytest.fixture
def wheel_bin_dir() -> Path:
    """The installed wheel's PostgreSQL 16 bin folder."""
    if not postgres._as_root():
        pytest.skip("only root hands the server to nobody; otherwise nothing is copied")
    if os.environ.get("PG_BIN_DIR"):
        pytest.skip("PG_BIN_DIR is set: the wheel is not in use")
    try:
        return postgres.find_bin_dir()
    except RuntimeError as exc:
        missing_dev_dependency(str(exc))


def test_copied_binaries_run_as_nobody(wheel_bin_dir: Path, tmp_path: Path) -> None:
    """An install nobody cannot reach is copied with its libraries, and its initdb runs as nobody."""
    install = wheel_bin_dir.parent
    site = install.parent.parent
    private = tmp_path / "private"  # stands for /root/...: 0700, owned by root
    private.mkdir(mode=0o700)
    for folder in (install, site / f"{postgres.WHEEL_PACKAGE}.libs"):
        shutil.copytree(folder, private / folder.relative_to(site), symlinks=True)

    copied = postgres._runnable_bin_dir(private / install.relative_to(site) / "bin")
    copy_root = copied.parents[2]
    try:
        assert private not in copied.parents
        result = subprocess.run(
            [str(copied / "initdb"), "--version"],
            user=postgres.NOBODY_UID,
            group=postgres.NOBODY_UID,
            extra_groups=[],
            cwd=tempfile.gettempdir(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("initdb (PostgreSQL) 16.")
    finally:
        shutil.rmtree(copy_root, ignore_errors=True)
