"""The verification contract (``verify.py``) in PostgreSQL SQL, for a PostgreSQL source and the target alike.

The canonical text of a row, its bucketed checksums and row hashes. ``PostgresChecksums`` runs
those queries over a pg8000 connection; ``PostgresSource`` and ``PostgresTarget`` both inherit it,
so both sides of a PostgreSQL-to-PostgreSQL copy hash with the same SQL.

When both sides are PostgreSQL and hold the same column types, they can agree on a cheaper row
hash than the canonical text's MD5: PostgreSQL's own extended hash of the row (``ROW_HASH``,
ADR 0012). It costs 2.3-6.5 times less per table (``bench/row_hash.py``) and is as strict
where it matters; see ``native_row_hash``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pg8000.native import Connection

from include.replication.models import KeyRange, KeySet, SourceTable, TableName, TargetColumn
from include.replication.postgres.dialect import POSTGRES, TYPE_MODIFIERS, qualified, quote
from include.replication.settings import NulPolicy
from include.replication.verify import CANONICAL, BucketSum

ROW_HASH = "postgres-row-hash"
LOW_56_BITS = 2**56 - 1  # row hashes summed per bucket as non-negative 56-bit integers, as in the canonical form
TEXT_TYPES = frozenset({"text", "character varying", "character"})
FLOAT_SEND = {"real": "float4send", "double precision": "float8send"}  # bits: -0.0 and NaN payloads kept apart
# Types whose extended hash function is equal exactly when the values are equal (floats by their bits).
ROW_HASH_TYPES = TEXT_TYPES | FLOAT_SEND.keys() | {
    "smallint", "integer", "bigint", "numeric", "boolean", "date", "time without time zone",
    "timestamp without time zone", "timestamp with time zone", "bytea", "uuid", "jsonb",
}  # fmt: skip
# One value of each of those types: two servers whose hashes agree on it hash the same way.
ROW_HASH_PROBE = (
    "SELECT hash_record_extended(ROW(-1::int2, 2::int4, -3::int8, 12.340::numeric, 'é ß'::text COLLATE \"C\", "
    "'ab '::varchar COLLATE \"C\", 'ab'::char(3) COLLATE \"C\", true, DATE '2000-01-02', TIME '01:02:03.5', "
    "TIMESTAMP '2000-01-02 03:04:05.678901', TIMESTAMPTZ '2000-01-02 03:04:05.6+00', '\\x00ff'::bytea, "
    "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{\"a\": [1]}'::jsonb, float8send(-0.5), NULL::int4), 42)::text"
)


def canonical_text(column: str, data_type: str) -> str:
    """SQL for the canonical text of one value of ``data_type`` (the contract in ``verify.py``)."""
    col = quote(column)
    base = TYPE_MODIFIERS.sub("", data_type).strip()
    if base == "boolean":
        return f"CASE WHEN {col} THEN 't' ELSE 'f' END"
    if base in ("real", "double precision"):
        return f"encode(float8send({col}::float8), 'hex')"
    if base in ("timestamp without time zone", "timestamp"):
        return f"to_char({col}, 'YYYY-MM-DD HH24:MI:SS.US')"
    if base in ("timestamp with time zone", "timestamptz"):
        return f"to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'"
    if base in ("time without time zone", "time"):
        return f"to_char(DATE '2000-01-01' + {col}, 'HH24:MI:SS.US')"
    if base == "date":
        return f"to_char({col}, 'YYYY-MM-DD')"
    if base == "bytea":
        return f"encode({col}, 'hex')"
    return f"{col}::text"


def canonical_row(columns: Sequence[TargetColumn]) -> str:
    """SQL for a row's canonical text: per column ``N;`` or ``V<octets>:<text>;``."""
    parts = []
    for column in columns:
        text = canonical_text(column.name, column.data_type)
        parts.append(
            f"CASE WHEN {quote(column.name)} IS NULL THEN 'N;' "
            f"ELSE 'V' || octet_length({text}) || ':' || {text} || ';' END"
        )
    return " || ".join(parts) if parts else "''"


def native_row_hash(columns: Sequence[TargetColumn], key: str) -> str:
    """SQL for ``ROW_HASH``: ``hash_record_extended`` of the row's columns, seeded with the row's key.

    PostgreSQL combines the columns' hashes linearly, so two rows trading a value would keep
    their sum; seeding each row's hash with its own key makes the two hashes unrelated. A NULL
    hashes to 0, as ``0.0`` does, so each nullable column also contributes ``IS NULL``. Text
    hashes under ``COLLATE "C"`` (its bytes, whatever the column's collation); floats hash their
    bits.
    """
    parts = []
    for column in columns:
        col = quote(column.name)
        base = TYPE_MODIFIERS.sub("", column.data_type).strip()
        parts.append(f"{FLOAT_SEND[base]}({col})" if base in FLOAT_SEND else
                     f'{col} COLLATE "C"' if base in TEXT_TYPES else col)  # fmt: skip
        if column.nullable:
            parts.append(f"{col} IS NULL")
    return f"hash_record_extended(ROW({', '.join(parts)}), {quote(key)}::int8)"


def row_hash(columns: Sequence[TargetColumn], key: str | None, form: str) -> str:
    """SQL for one row's hash in ``form``, as a non-negative 56-bit integer."""
    if form == CANONICAL:
        return f"('x' || substr(md5({canonical_row(columns)}), 1, 14))::bit(56)::bigint"
    return f"({native_row_hash(columns, native_key(form, key))} & {LOW_56_BITS})"


def native_key(form: str, key: str | None) -> str:
    """``key``, checked to be usable for the ``ROW_HASH`` form ``form``."""
    if not form.startswith(ROW_HASH) or key is None:
        raise ValueError(f"PostgreSQL computes the canonical form and {ROW_HASH} by an integer key, not {form!r}")
    return key


def bucket_checksums_sql(
    table: TableName,
    columns: Sequence[TargetColumn],
    *,
    key: str | None,
    width: int,
    key_range: KeyRange | KeySet | None = None,
    form: str = CANONICAL,
) -> tuple[str, dict[str, int]]:
    """The per-bucket row count and 56-bit hash sum query, and its parameters."""
    where, params = POSTGRES.range_filter(key_range)
    bucket = POSTGRES.bucket(quote(key), width) if key else "0"
    sql = (
        f"SELECT {bucket} AS bucket, count(*), sum({row_hash(columns, key, form)})::text "
        f"FROM {qualified(table)}{where} GROUP BY 1"
    )
    return sql, params


class PostgresChecksums:
    """The verification queries over ``self.conn`` (a pg8000 native connection); PostgreSQL text never holds NUL."""

    conn: Connection
    _row_hash_form: str | None = None  # probed on first use: the form's name, or "" where the server has none

    def hash_forms(self, table: TableName, columns: Sequence[TargetColumn]) -> tuple[str, ...]:
        """``ROW_HASH`` (named with this server's answer to the probe), when every column's type allows it; the canonical form.

        On a source (``table`` a ``SourceTable``) the row hash also needs each column's own type
        to be the copy's: it hashes the stored values, not their canonical text.
        """
        if not columns or any(TYPE_MODIFIERS.sub("", c.data_type).strip() not in ROW_HASH_TYPES for c in columns):
            return (CANONICAL,)
        if isinstance(table, SourceTable):
            own = {c.name: c.data_type for c in table.columns}
            if any(own.get(c.name) != c.data_type for c in columns):
                return (CANONICAL,)
        if self._row_hash_form is None:
            self._row_hash_form = self._probe_row_hash()
        return (self._row_hash_form, CANONICAL) if self._row_hash_form else (CANONICAL,)

    def _probe_row_hash(self) -> str:
        """``ROW_HASH/<the probe row's hash>``; "" before PostgreSQL 14, which has no ``hash_record_extended``.

        Asked first, not tried: a failed statement would end the snapshot's transaction.
        """
        (known,) = self.conn.run(
            "SELECT to_regprocedure('pg_catalog.hash_record_extended(record, bigint)') IS NOT NULL"
        )[0]
        return f"{ROW_HASH}/{self.conn.run(ROW_HASH_PROBE)[0][0]}" if known else ""

    def count_rows(self, table: TableName, key_range: KeyRange | None = None) -> int:
        """``count(*)`` of the table, or of a key range."""
        where, params = POSTGRES.range_filter(key_range)
        return self.conn.run(f"SELECT count(*) FROM {qualified(table)}{where}", **params)[0][0]

    def key_bounds(self, table: TableName, key: str) -> tuple[int | None, int | None]:
        """``(min(key), max(key))``, both None for an empty table."""
        k = quote(key)
        low, high = self.conn.run(f"SELECT min({k}), max({k}) FROM {qualified(table)}")[0]
        return low, high

    def bucket_checksums(
        self,
        table: TableName,
        columns: Sequence[TargetColumn],
        *,
        key: str | None,
        width: int,
        nul_policy: NulPolicy,
        key_range: KeyRange | KeySet | None = None,
        form: str = CANONICAL,
    ) -> dict[int, BucketSum]:
        """Per bucket floor(key / width) (one bucket 0 without a key): row count and sum of 56-bit row hashes."""
        sql, params = bucket_checksums_sql(table, columns, key=key, width=width, key_range=key_range, form=form)
        return {bucket: BucketSum(rows, int(total)) for bucket, rows, total in self._grouped_by_hashing(sql, params)}

    def _grouped_by_hashing(self, sql: str, params: dict[str, Any]) -> list[list[Any]]:
        """Run a bucket query with sorting off, so that it groups in a hash table.

        The planner counts as many buckets as keys (the bucket expression is of the key alone), so
        it would sort the rows, wide text and all, before hashing them: Posts at scale 1 sorted
        3.2 GB on disk and took 7.8 s instead of 3.1 s. There are only hundreds of buckets. The
        setting is put back after the query; a failed query leaves it to the transaction's
        rollback, or, outside a transaction, to the session's end (sorting is only discouraged).
        """
        before, _ = self.conn.run("SELECT current_setting('enable_sort'), set_config('enable_sort', 'off', false)")[0]
        rows = self.conn.run(sql, **params)
        self.conn.run("SELECT set_config('enable_sort', :before, false)", before=before)
        return rows

    def row_hashes(
        self,
        table: TableName,
        columns: Sequence[TargetColumn],
        *,
        key_range: KeyRange | KeySet,
        nul_policy: NulPolicy,
        form: str = CANONICAL,
    ) -> dict[Any, str]:
        """``{key: row hash}`` for the keys in ``key_range`` (md5 hex in the canonical form): to name the rows that differ."""
        where, params = POSTGRES.range_filter(key_range)
        key = key_range.column
        if form == CANONICAL:
            digest = f"md5({canonical_row(columns)})"
        else:
            digest = f"{native_row_hash(columns, native_key(form, key))}::text"
        sql = f"SELECT {quote(key)}, {digest} FROM {qualified(table)}{where}"
        return dict(self.conn.run(sql, **params))
