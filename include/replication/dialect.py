"""What every engine's SQL spelling shares: key-range filters and key buckets, built on one quote function.

Each engine subclasses ``SqlDialect`` with its quoting and its placeholder syntax
(``postgres/dialect.py``, ``mssql/dialect.py``); everything here is written once for both.
No value is ever formatted into SQL text: bounds are bound parameters, or, where a statement
takes none (PostgreSQL's COPY), rendered from Python ints and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from include.replication.models import KeyRange, KeySet, TableName

if TYPE_CHECKING:
    from include.replication.foreign_keys import Reference


class SqlDialect:
    """How one engine spells identifiers, parameters and the integer arithmetic of key buckets."""

    def quote(self, name: str) -> str:
        """Quote one identifier: the only way a name reaches SQL text."""
        raise NotImplementedError

    def placeholder(self, name: str) -> str:
        """The driver's spelling of the bound parameter ``name``."""
        raise NotImplementedError

    def as_bigint(self, expression: str) -> str:
        """``expression`` as a 64-bit integer (key buckets must not overflow a 32-bit key type)."""
        return expression

    def qualified(self, table: TableName) -> str:
        """``schema.name``, both quoted."""
        return f"{self.quote(table.schema)}.{self.quote(table.name)}"

    def range_filter(
        self, key_range: KeyRange | KeySet | None, *, alias: str = "", literal: bool = False
    ) -> tuple[str, dict[str, int]]:
        """`` WHERE key >= low AND key < high`` for the bounds given, and their parameters.

        ``literal`` renders the bounds as integer literals, for statements that take no
        parameters; they come from ``int()``, never from text. A ``KeySet`` is always rendered
        as literals (``IN`` for single keys, ``BETWEEN`` for runs): too many for parameters.
        """
        if key_range is None:
            return "", {}
        if isinstance(key_range, KeySet):
            return self.key_set_filter(key_range, alias=alias), {}
        key = alias + self.quote(key_range.column)
        clauses, params = [], {}
        for name, operator, bound in (("low", ">=", key_range.low), ("high", "<", key_range.high)):
            if bound is None:
                continue
            if literal:
                clauses.append(f"{key} {operator} {int(bound)}")
            else:
                clauses.append(f"{key} {operator} {self.placeholder(name)}")
                params[name] = int(bound)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def key_set_filter(self, keys: KeySet, *, alias: str = "") -> str:
        """`` WHERE key IN (...) OR key BETWEEN a AND b ...`` for a ``KeySet`` (``1 = 0`` when empty)."""
        key = alias + self.quote(keys.column)
        singles = [str(int(low)) for low, high in keys.runs if high - low == 1]
        clauses = [f"{key} IN ({', '.join(singles)})"] if singles else []
        clauses += [f"{key} BETWEEN {int(low)} AND {int(high) - 1}" for low, high in keys.runs if high - low > 1]
        return " WHERE " + (" OR ".join(clauses) if clauses else "1 = 0")

    def bucket(self, key: str, width: int) -> str:
        """``floor(key / width)`` in integer arithmetic, the same on every engine (``key`` is SQL)."""
        # width as bigint too: T-SQL reads a bare literal above 2,147,483,647 as decimal, and
        # bigint / decimal is not integer division (sparse bigint keys give such widths)
        k, w = self.as_bigint(key), self.as_bigint(str(int(width)))
        # (-1 - k) rather than (-k - 1): -k overflows for the smallest integer of the type
        return f"CASE WHEN {k} >= 0 THEN {k} / {w} ELSE -((-1 - {k}) / {w}) - 1 END"

    def dangling_rows(self, reference: Reference, key: Sequence[str]) -> tuple[str, str, str]:
        """The rows whose non-NULL columns reference no row (MATCH SIMPLE): ``FROM ... WHERE ...`` over them as
        ``c``, the columns a sample shows (``key``, then the referencing columns) and the sample's ``ORDER BY``."""
        q = self.quote
        pairs = zip(reference.columns, reference.referenced_columns, strict=True)
        matched = " AND ".join(f"p.{q(r)} = c.{q(c)}" for c, r in pairs)
        where = (
            " AND ".join(f"c.{q(c)} IS NOT NULL" for c in reference.columns)
            + f" AND NOT EXISTS (SELECT 1 FROM {self.qualified(reference.referenced)} AS p WHERE {matched})"
        )
        shown = ", ".join(f"c.{q(c)}" for c in (*key, *reference.columns))
        order = ", ".join(f"c.{q(c)}" for c in key)
        return f"FROM {self.qualified(reference.table)} AS c WHERE {where}", shown, order
