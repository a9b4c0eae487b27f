"""The verification contract (``verify.py``) on a SQL Server source: in T-SQL, or finished by the client.

Each value's canonical text comes from its type's row in ``types.py`` and equals what
PostgreSQL prints for the mapped target type. Two ways to compute it, chosen by the server's
``Capabilities`` (ADR 0005):

- **On the server** (SQL Server 2019 and later): the whole row text, its MD5 and the 56-bit sums
  per bucket in one T-SQL query. Text is hashed as UTF-8, as PostgreSQL's ``md5(text)`` does in a
  UTF-8 database: an nvarchar cast to varchar under a ``_UTF8`` collation holds the UTF-8 bytes,
  so HASHBYTES and DATALENGTH see the same octets; hex comes from CONVERT style 2.
- **Finished by the client** (SQL Server 2016/2017: no UTF-8 collation; Babelfish: no UTF-8
  collation, no hex style): the server computes every value's canonical text in T-SQL, as above,
  except for what it cannot write: text comes as nvarchar (the client strips NUL per the policy
  and char(n)'s padding), bytes and float bits as binary (the client writes the hex). The client
  then builds the row text, hashes its UTF-8 with MD5 and sums per bucket. This reads every row
  once more through the driver, but never through the copy's own encoder.

Floating-point columns (real, float) are hashed by their bits: the value widened to float,
``CONVERT(binary(8), ...)`` (big-endian IEEE 754, as PostgreSQL's ``float8send``), in hex.
Decimal text cannot be matched: T-SQL's CONVERT styles give 16 or 17 digits and PostgreSQL's
15-digit rounding differs from re-rounding them for a fraction of a percent of values.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from include.replication.models import KeyRange, KeySet, SourceColumn, SourceTable, TargetColumn
from include.replication.mssql.capabilities import Capabilities, probe
from include.replication.mssql.dialect import TSQL, execute, fetch_all, fetch_batch, qualified, quote
from include.replication.mssql.types import Canonical, type_of
from include.replication.settings import NulPolicy
from include.replication.verify import CANONICAL, BucketSum

log = logging.getLogger(__name__)

UTF8_COLLATION = "Latin1_General_100_BIN2_UTF8"  # binary: REPLACE finds NCHAR(0), which Windows collations ignore

# The first 7 bytes of the MD5 as a big-endian, non-negative 56-bit integer.
ROW_HASH_56 = "CONVERT(bigint, 0x00 + SUBSTRING(HASHBYTES('MD5', r.row_text), 1, 7))"


# --- hashed on the server ---------------------------------------------------------------------


def _utf8(value: str, *, strip_nul: bool, rtrim: bool) -> str:
    text = f"CONVERT(nvarchar(max), {value}) COLLATE {UTF8_COLLATION}"
    if strip_nul:  # the load stripped U+0000 from this value: hash what was promised
        text = f"REPLACE({text}, NCHAR(0), N'')"
    if rtrim:  # after the NUL strip, as PostgreSQL pads the stripped value and ::text trims it
        text = f"RTRIM({text})"
    return f"CAST({text} AS varchar(max))"


def canonical_text(column: SourceColumn, quoted: str, *, strip_nul: bool) -> str:
    """T-SQL for the canonical text of one non-NULL value of ``column`` (``quoted``: its qualified name)."""
    rule = type_of(column)
    value = rule.read.format(col=quoted)
    if rule.canonical in (Canonical.TEXT, Canonical.PADDED_TEXT):
        return _utf8(value, strip_nul=strip_nul, rtrim=rule.canonical is Canonical.PADDED_TEXT)
    if rule.canonical is Canonical.HEX:
        return f"LOWER(CONVERT(varchar(max), CONVERT(varbinary(max), {quoted}), 2))"
    if rule.canonical is Canonical.FLOAT_BITS:
        return f"LOWER(CONVERT(varchar(16), CONVERT(binary(8), CONVERT(float, {quoted})), 2))"
    return rule.canonical.format(col=quoted, value=value)


def hashed_source(table: SourceTable, columns: Sequence[TargetColumn], *, nul_policy: NulPolicy) -> str:
    """FROM clause: ``table`` as ``t``, each row's canonical text as ``r.row_text``."""
    source = f"{qualified(table)} AS t"
    hashed = table.columns_for(columns)
    if not hashed:
        return f"{source} CROSS APPLY (SELECT CONVERT(varchar(max), '') AS row_text) AS r"
    texts, parts = [], []
    for i, column in enumerate(hashed):
        quoted = "t." + quote(column.name)
        texts.append(f"{canonical_text(column, quoted, strip_nul=nul_policy == NulPolicy.STRIP)} AS [v{i}]")
        # NULL is tested on the column itself, not on its text: never depends on CONCAT_NULL_YIELDS_NULL
        parts.append(
            f"CASE WHEN {quoted} IS NULL THEN 'N;' "
            f"ELSE 'V' + CONVERT(varchar(20), DATALENGTH(v.[v{i}])) + ':' + v.[v{i}] + ';' END"
        )
    return (
        f"{source} CROSS APPLY (SELECT {', '.join(texts)}) AS v "
        f"CROSS APPLY (SELECT CONVERT(varchar(max), '') + {' + '.join(parts)} AS row_text) AS r"
    )


def bucket_checksums_sql(
    table: SourceTable,
    columns: Sequence[TargetColumn],
    *,
    key: str | None,
    width: int,
    nul_policy: NulPolicy,
    key_range: KeyRange | KeySet | None = None,
) -> tuple[str, dict[str, int]]:
    """SQL and parameters: per bucket, row count and the decimal(38,0) sum of 56-bit row hashes."""
    where, params = TSQL.range_filter(key_range, alias="t.")
    bucket = TSQL.bucket("t." + quote(key), width) if key is not None else "0"
    sql = (
        "SELECT q.bucket, COUNT_BIG(*), SUM(CONVERT(decimal(38,0), q.row_hash)) FROM ("
        f"SELECT {bucket} AS bucket, {ROW_HASH_56} AS row_hash "
        f"FROM {hashed_source(table, columns, nul_policy=nul_policy)}{where}"
        ") AS q GROUP BY q.bucket"
    )
    return sql, params


def row_hashes_sql(
    table: SourceTable, columns: Sequence[TargetColumn], *, key_range: KeyRange | KeySet, nul_policy: NulPolicy
) -> tuple[str, dict[str, int]]:
    """SQL and parameters: each key in ``key_range`` with its row's MD5 (binary; the caller writes the hex)."""
    where, params = TSQL.range_filter(key_range, alias="t.")
    sql = (
        f"SELECT t.{quote(key_range.column)}, HASHBYTES('MD5', r.row_text) "
        f"FROM {hashed_source(table, columns, nul_policy=nul_policy)}{where}"
    )
    return sql, params


# --- finished by the client -------------------------------------------------------------------


def canonical_value(column: SourceColumn, quoted: str) -> str:
    """T-SQL for what the server contributes to a value's canonical text when the client finishes it; NULL for NULL.

    NULL is tested on the column (never through CONCAT_NULL_YIELDS_NULL, off by default for
    DB-Library clients such as pymssql) and typed: Babelfish types ``CASE WHEN ... THEN NULL ELSE
    <nvarchar> END`` as varchar and turns every character outside Latin-1 into '?'.
    """
    rule = type_of(column)
    value = rule.read.format(col=quoted)
    if rule.canonical in (Canonical.TEXT, Canonical.PADDED_TEXT):
        kind, expression = "nvarchar(max)", f"CONVERT(nvarchar(max), {value})"
    elif rule.canonical is Canonical.HEX:
        kind, expression = "varbinary(max)", f"CONVERT(varbinary(max), {quoted})"
    elif rule.canonical is Canonical.FLOAT_BITS:
        kind, expression = "varbinary(max)", f"CONVERT(binary(8), CONVERT(float, {quoted}))"
    else:
        kind, expression = "varchar(max)", rule.canonical.format(col=quoted, value=value)
    return f"CASE WHEN {quoted} IS NULL THEN CAST(NULL AS {kind}) ELSE {expression} END"


def canonical_values_sql(
    table: SourceTable, columns: Sequence[TargetColumn], *, key: str | None, key_range: KeyRange | KeySet | None = None
) -> tuple[str, dict[str, int]]:
    """SQL and parameters: per row its key (0 without one) and each column's canonical value, NULL for NULL."""
    where, params = TSQL.range_filter(key_range, alias="t.")
    values = [canonical_value(column, "t." + quote(column.name)) for column in table.columns_for(columns)]
    selected = ", ".join(["t." + quote(key) if key else "0", *values])
    return f"SELECT {selected} FROM {qualified(table)} AS t{where}", params


Finish = Callable[[Any], str]


def _finisher(kind: str | Canonical, nul_policy: NulPolicy) -> Finish:
    strip = nul_policy == NulPolicy.STRIP
    if kind is Canonical.TEXT:
        return (lambda v: v.replace("\x00", "")) if strip else str
    if kind is Canonical.PADDED_TEXT:  # the NUL strip first: PostgreSQL pads the stripped value
        return (lambda v: v.replace("\x00", "").rstrip(" ")) if strip else (lambda v: v.rstrip(" "))
    if kind in (Canonical.HEX, Canonical.FLOAT_BITS):
        return bytes.hex
    return str


def finishers(table: SourceTable, columns: Sequence[TargetColumn], nul_policy: NulPolicy) -> list[Finish]:
    """Per column, the Python that turns the server's canonical value into the canonical text."""
    return [_finisher(type_of(c).canonical, nul_policy) for c in table.columns_for(columns)]


def row_digest(values: Sequence[Any], finish: Sequence[Finish]) -> bytes:
    """The MD5 of one row's canonical text (``N;`` or ``V<octets>:<text>;`` per column), UTF-8."""
    parts = []
    for value, done in zip(values, finish, strict=True):
        if value is None:
            parts.append(b"N;")
        else:
            text = done(value).encode("utf-8")
            parts.append(b"V%d:%s;" % (len(text), text))
    return hashlib.md5(b"".join(parts)).digest()


def bucket_sums(
    rows: Iterable[Sequence[Any]], finish: Sequence[Finish], *, width: int, keyed: bool
) -> dict[int, BucketSum]:
    """Per bucket ``floor(key / width)`` (bucket 0 when not ``keyed``): rows and the sum of 56-bit row hashes."""
    counts: dict[int, int] = {}
    sums: dict[int, int] = {}
    for key, *values in rows:
        bucket = int(key) // width if keyed else 0  # Python's // is the contract's floor division
        counts[bucket] = counts.get(bucket, 0) + 1
        sums[bucket] = sums.get(bucket, 0) + int.from_bytes(row_digest(values, finish)[:7], "big")
    return {bucket: BucketSum(counts[bucket], sums[bucket]) for bucket in counts}


def only_canonical(form: str) -> None:
    """Refuse a hash form other than the canonical one: the only one ``hash_forms`` offers."""
    if form != CANONICAL:
        raise ValueError(f"SQL Server computes only the {CANONICAL} row hash form, not {form!r}")


class SqlServerChecksums:
    """The verification queries over ``self.conn`` (pymssql): on the server, or finished here where it cannot.

    ``SqlServerSource`` and ``SqlServerTarget`` both inherit it, so both sides of a SQL Server to
    SQL Server copy hash with the same T-SQL. ``table`` is a ``SourceTable``: the canonical text
    depends on each column's SQL Server type.
    """

    conn: Any
    _capabilities: Capabilities | None = None

    @property
    def capabilities(self) -> Capabilities:
        """What this server can do (probed on first use, once per connection)."""
        if self._capabilities is None:
            self._capabilities = probe(self.conn)
            if self._capabilities.describe():
                log.info("%s; adapting (see mssql/capabilities.py)", self._capabilities.describe())
        return self._capabilities

    def hash_forms(self, table: SourceTable, columns: Sequence[TargetColumn]) -> tuple[str, ...]:
        """Only the canonical form: T-SQL has no row hash that another engine computes alike."""
        return (CANONICAL,)

    def count_rows(self, table: SourceTable, key_range: KeyRange | KeySet | None = None) -> int:
        """``COUNT_BIG(*)`` of the table, or of a key range."""
        where, params = TSQL.range_filter(key_range)
        return int(fetch_all(self.conn, f"SELECT COUNT_BIG(*) FROM {qualified(table)}{where}", params)[0][0])

    def key_bounds(self, table: SourceTable, key: str) -> tuple[int | None, int | None]:
        """``(MIN(key), MAX(key))``, both None for an empty table."""
        k = quote(key)
        low, high = fetch_all(self.conn, f"SELECT MIN({k}), MAX({k}) FROM {qualified(table)}")[0]
        return low, high

    def bucket_checksums(
        self,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        *,
        key: str | None,
        width: int,
        nul_policy: NulPolicy,
        key_range: KeyRange | KeySet | None = None,
        form: str = CANONICAL,
    ) -> dict[int, BucketSum]:
        """Per bucket floor(key / width) (one bucket 0 without a key): row count and sum of 56-bit row hashes."""
        only_canonical(form)
        if self.capabilities.hashes_on_server:
            sql, params = bucket_checksums_sql(
                table, columns, key=key, width=width, nul_policy=nul_policy, key_range=key_range
            )
            rows = fetch_all(self.conn, sql, params)
            return {int(bucket): BucketSum(int(count), int(total)) for bucket, count, total in rows}
        finish = finishers(table, columns, nul_policy)
        sql, params = canonical_values_sql(table, columns, key=key, key_range=key_range)
        return bucket_sums(self._rows(table, sql, params), finish, width=width, keyed=key is not None)

    def row_hashes(
        self,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        *,
        key_range: KeyRange | KeySet,
        nul_policy: NulPolicy,
        form: str = CANONICAL,
    ) -> dict[Any, str]:
        """``{key: md5 hex}`` for the keys in ``key_range``: to name the rows that differ."""
        only_canonical(form)
        if self.capabilities.hashes_on_server:
            sql, params = row_hashes_sql(table, columns, key_range=key_range, nul_policy=nul_policy)
            return {k: bytes(digest).hex() for k, digest in fetch_all(self.conn, sql, params)}
        finish = finishers(table, columns, nul_policy)
        sql, params = canonical_values_sql(table, columns, key=key_range.column, key_range=key_range)
        return {k: row_digest(values, finish).hex() for k, *values in self._rows(table, sql, params)}

    def _rows(self, table: SourceTable, sql: str, params: dict[str, int]) -> Iterator[tuple[Any, ...]]:
        """The rows of one SELECT, fetched in batches (memory stays one batch)."""
        cursor = self.conn.cursor()
        try:
            execute(cursor, sql, params)
            while rows := fetch_batch(cursor, table, "the start of the range"):
                yield from rows
        finally:
            cursor.close()
