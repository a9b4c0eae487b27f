"""What a running copy says about itself: progress lines while it reads, seconds per step, the summary's totals."""

from __future__ import annotations

from include.replication.load import Phases, Progress
from include.replication.models import SourceColumn, SourceTable
from include.replication.plan import TableJob
from include.replication.report import TableStats, summary_table
from include.replication.settings import ReplicationSettings

VOTES = SourceTable("dbo", "Votes", (SourceColumn("Id", "int", False),), ("Id",), approx_rows=4)


def test_progress_counts_rows_and_bytes_and_says_how_far():
    """Each COPY line ends in one raw newline; a line names rows, MB, rows/s and the share of the catalog's count."""
    said, received = [], []
    progress = Progress(TableJob(VOTES, (), ReplicationSettings()), said.append, every=0)
    sink = progress.watching(received.append)
    sink(b"1\ta\\nb\n2\tc\n")  # an escaped newline inside a field is not a row
    sink(b"3\td\n")
    assert (progress.rows, progress.bytes) == (3, 15) and received == [b"1\ta\\nb\n2\tc\n", b"3\td\n"]
    assert said[-1].startswith("dbo.Votes: 3 rows, 0.0 MB read in ")
    assert said[-1].endswith("rows/s), 75% of the ~4 rows the catalog counts")


def test_progress_is_quiet_between_its_intervals():
    said = []
    sink = Progress(TableJob(VOTES, (), ReplicationSettings()), said.append, every=3600).watching(lambda data: None)
    sink(b"1\n")
    assert said == []


def test_phases_add_up_by_name_in_order():
    phases = Phases()
    for name in ("copy", "primary key", "copy"):
        with phases(name):
            pass
    assert list(phases.seconds) == ["copy", "primary key"] and all(v >= 0 for v in phases.seconds.values())


def test_summary_has_a_step_column_each_and_a_totals_row():
    table = summary_table([
        TableStats("dbo.Posts", 10, 2 << 20, 4.0, 300, phases={"copy": 3.0, "verification": 1.0}),
        TableStats("dbo.Votes", 30, 1 << 20, 2.0, 250, phases={"copy": 1.5, "swap": 0.5}),
    ])  # fmt: skip
    header, posts, votes, total = table.splitlines()
    assert header.split()[-5:] == ["s", "verify", "s", "swap", "s"]
    assert total.split()[:8] == ["total", "(2", "tables)", "40", "3.0", "6.0", "7", "300"]
    assert total.split()[-5:] == ["4.5", "0.0", "0.0", "1.0", "0.5"]
