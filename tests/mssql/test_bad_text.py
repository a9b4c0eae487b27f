"""Text PostgreSQL cannot store, read from a real SQL Server: NUL characters and unpaired UTF-16 surrogates.

Runs only with a real SQL Server (``REPLICATION_TEST_MSSQL_URL``, see README.md here); skipped otherwise.

PRODUCT §7: NUL is stripped and counted per column (``nul_policy="strip"``, the checksums then
compare the stripped text) or fails the load (``"fail"``), naming table, column and key; an
invalid surrogate must give a clear error or a counted decision, never a silent change. The
encoder (``encoding.RowEncoder``) names table, column and key when a Python string holds a lone
surrogate; whether pymssql over FreeTDS ever hands one over is what the second test finds out.

A server whose text cannot hold U+0000, or whose nvarchar cannot hold a lone surrogate (Babelfish:
both, found by the session's probes), has nothing to copy here: those tests skip naming the probe.
"""

from __future__ import annotations

import re
from typing import Any

import pymssql
import pytest

from include.replication.copy.encoder import BadValueError
from include.replication.models import TableName
from include.replication.mssql.dialect import qualified
from include.replication.postgres.dialect import quote as pg_quote
from tests.integration.replication_helpers import table_names
from tests.mssql.mssql_helpers import (
    LONE_SURROGATE_UTF16LE,
    SC_COLLATION,
    MssqlServer,
    copy_table,
    execute,
    pg_rows,
    query,
    skip_for,
    source_table,
    unique_name,
)


def nul_table(conn: Any) -> str:
    """A table with U+0000 in an nvarchar(max) and a varchar column (made with NCHAR(0)/CHAR(0) on the server)."""
    name = unique_name("nul_text")
    table_sql = qualified(TableName("dbo", name))
    execute(
        conn,
        f"CREATE TABLE {table_sql} ([Id] int NOT NULL PRIMARY KEY, [Body] nvarchar(max) NULL, [Code] varchar(20) NULL)",
    )
    execute(
        conn,
        f"INSERT INTO {table_sql} VALUES (1, N'a' + NCHAR(0) + N'b' + NCHAR(0), 'x' + CHAR(0) + 'y'), "
        "(2, N'clean', 'ok'), (3, NULL, NULL), (4, NCHAR(0), '')",
    )
    # the premise: pymssql hands NUL over as U+0000 (a C-string driver could cut the value there)
    assert query(conn, f"SELECT [Body], [Code] FROM {table_sql} ORDER BY [Id]") == [
        ("a\x00b\x00", "x\x00y"), ("clean", "ok"), (None, None), ("\x00", "")
    ]  # fmt: skip
    return name


def test_nul_is_stripped_counted_and_verified(mssql_server: MssqlServer, mssql_conn: Any, fresh_database: str):
    """nul_policy=strip: each U+0000 is removed and counted against its column, and the checksums still match."""
    skip_for(mssql_server.traits.nul)
    name = nul_table(mssql_conn)
    report = copy_table(mssql_conn, source_table(mssql_conn, name), fresh_database, nul_policy="strip")
    assert report.stats.nul_stripped == {"Body": 3, "Code": 1}
    assert report.verification.ok, report.verification.describe()
    assert report.verification.checksum_match is True
    rows = pg_rows(fresh_database, f'SELECT "Id", "Body", "Code" FROM public.{pg_quote(name)} ORDER BY "Id"')
    assert rows == [(1, "ab", "xy"), (2, "clean", "ok"), (3, None, None), (4, "", "")]


def test_nul_fails_naming_table_column_and_key(mssql_server: MssqlServer, mssql_conn: Any, fresh_database: str):
    """nul_policy=fail: the load stops at the first U+0000 with BadValueError naming dbo.<table>.Body and Id=1; no table is left."""
    skip_for(mssql_server.traits.nul)
    name = nul_table(mssql_conn)
    with pytest.raises(BadValueError, match=rf"^dbo\.{name}\.Body: NUL character \(U\+0000\) at Id=1;"):
        copy_table(mssql_conn, source_table(mssql_conn, name), fresh_database, nul_policy="fail")
    assert table_names(fresh_database) == []


def test_lone_surrogate_fails_naming_table_column_and_key(
    mssql_server: MssqlServer, mssql_conn: Any, fresh_database: str
):
    """An nvarchar holding U+D800 alone (under a _SC collation) fails the load naming table, column and key.

    If pymssql/FreeTDS replaces the code unit before the project sees it, the test is an xfail that
    records what the driver returned and what the copy then did, rather than a guess. A server
    without the _SC collation (a probe found) stores the column under the database's collation,
    which keeps UTF-16 code units as they are too.
    """
    skip_for(mssql_server.traits.lone_surrogate)
    name = unique_name("surrogate")
    table_sql = qualified(TableName("dbo", name))
    collate = "" if mssql_server.traits.sc_collation else f" COLLATE {SC_COLLATION}"
    execute(
        mssql_conn,
        f"CREATE TABLE {table_sql} ([Id] int NOT NULL PRIMARY KEY, [Body] nvarchar(40){collate} NULL)",
    )
    # CAST from binary stores the UTF-16LE units as they are, whatever NCHAR() does with surrogates
    execute(
        mssql_conn, f"INSERT INTO {table_sql} VALUES (1, N'fine'), (2, CAST({LONE_SURROGATE_UTF16LE} AS nvarchar(3)))"
    )
    stored = query(mssql_conn, f"SELECT CONVERT(varbinary(20), [Body]) FROM {table_sql} WHERE [Id] = 2")[0][0]
    assert stored == bytes.fromhex(LONE_SURROGATE_UTF16LE[2:]), "the server did not store the lone surrogate"

    driver = f"pymssql {pymssql.__version__} over {pymssql.get_dbversion()}"
    raw: Any = None
    try:
        raw = query(mssql_conn, f"SELECT [Body] FROM {table_sql} WHERE [Id] = 2")[0][0]
        read = f"{driver} returned {raw!r} for the UTF-16 units 0041 D800 0042"
    except Exception as exc:  # recorded in the failure message below
        read = f"{driver} raised {type(exc).__name__} reading the UTF-16 units 0041 D800 0042: {exc}"

    try:
        report = copy_table(mssql_conn, source_table(mssql_conn, name), fresh_database)
    except BadValueError as exc:
        assert re.search(rf"^dbo\.{name}\.Body: text is not valid Unicode .* at Id=2$", str(exc)), str(exc)
        assert table_names(fresh_database) == []
        return
    except Exception as exc:  # recorded in the failure message below
        outcome = f"the copy failed with {type(exc).__name__}: {exc}"
    else:
        held = pg_rows(fresh_database, f'SELECT "Body" FROM public.{pg_quote(name)} WHERE "Id" = 2')[0][0]
        outcome = (
            f"the copy succeeded (verification {'ok' if report.verification.ok else 'FAILED'}) "
            f"and PostgreSQL holds {held!r}"
        )
    if isinstance(raw, str) and "\ud800" not in raw:
        pytest.xfail(
            f"{read}: the driver replaced the lone surrogate before the encoder saw it, so the documented "
            f"outcome (BadValueError naming dbo.{name}.Body and Id=2) cannot happen; {outcome}"
        )
    pytest.fail(f"expected BadValueError naming dbo.{name}.Body and Id=2; {read}; {outcome}")
