"""PostgreSQL catalog reading: one schema's tables as SourceTables, and a key's distribution.

The queries live in ``sql/*.sql`` beside this module (one per file, names as bound parameters).
"""

from __future__ import annotations

from pathlib import Path

from pg8000.native import Connection

from include.replication.models import ForeignKey, Index, SourceColumn, SourceTable
from include.replication.partitions import KeyDistribution, histogram_points
from include.replication.postgres.dialect import qualified, quote

CATALOG_SQL = {p.stem: p.read_text() for p in (Path(__file__).parent / "sql").glob("*.sql")}

QUANTILE_POINTS = 200  # points of the exact distribution when the key has no statistics


def fetch_tables(conn: Connection, schema: str) -> list[SourceTable]:
    """Read every base table of ``schema``: columns, primary key, foreign keys, indexes."""
    columns: dict[str, list[SourceColumn]] = {}
    for table, name, data_type, nullable, length, precision, scale, identity in conn.run(
        CATALOG_SQL["list_columns"], schema=schema
    ):
        columns.setdefault(table, []).append(
            SourceColumn(name, data_type, nullable, length, precision, scale, identity)
        )
    keys = {table: tuple(cols) for table, cols in conn.run(CATALOG_SQL["list_primary_keys"], schema=schema)}
    foreign: dict[str, list[ForeignKey]] = {}
    for table, name, cols, ref_schema, ref_table, ref_cols in conn.run(CATALOG_SQL["list_foreign_keys"], schema=schema):
        foreign.setdefault(table, []).append(ForeignKey(name, tuple(cols), ref_schema, ref_table, tuple(ref_cols)))
    indexes: dict[str, list[Index]] = {}
    for table, name, cols, unique, expression in conn.run(CATALOG_SQL["list_indexes"], schema=schema):
        if not expression:  # expression/partial indexes are not re-created (reported by the DDL step)
            indexes.setdefault(table, []).append(Index(name, tuple(cols), unique))
    return [
        SourceTable(
            schema=schema,
            name=table,
            columns=tuple(columns.get(table, ())),
            primary_key=keys.get(table, ()),
            foreign_keys=tuple(foreign.get(table, ())),
            indexes=tuple(indexes.get(table, ())),
            approx_rows=approx,
        )
        for table, approx in conn.run(CATALOG_SQL["list_tables"], schema=schema)
    ]


def key_distribution(conn: Connection, table: SourceTable, key: str) -> KeyDistribution:
    """The key's distribution from pg_stats; exact quantiles when the key has no statistics."""
    found = conn.run(CATALOG_SQL["key_histogram"], schema=table.schema, table=table.name, key=key)
    bounds, estimate = found[0] if found else (None, 0)
    if bounds and estimate > 0:
        points = histogram_points([int(b) for b in bounds.strip("{}").split(",")], estimate)
        return KeyDistribution(estimate, points, "statistics histogram (pg_stats)")
    # Never analyzed (the source role may not be allowed to): one ordered pass over the key.
    k = quote(key)
    rows = conn.run(
        f"SELECT {k}, rn FROM (SELECT {k}, row_number() OVER (ORDER BY {k}) AS rn, count(*) OVER () AS total "
        f"FROM {qualified(table)}) q "
        f"WHERE rn % greatest(total / {QUANTILE_POINTS}, 1) = 0 OR rn = 1 OR rn = total ORDER BY rn"
    )
    total = rows[-1][1] if rows else 0
    points = [(int(key_value), float(rn)) for key_value, rn in rows]
    return KeyDistribution(total, points, "exact quantiles: the key has no statistics (never analyzed)")
