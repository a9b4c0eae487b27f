"""Batches of source rows to COPY bytes, applying the NUL policy and naming the row of any bad value."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from include.replication.copy.text_format import NulCharacterError, encode_row, encode_rows
from include.replication.settings import NulPolicy


class BadValueError(ValueError):
    """A source value that cannot be written to PostgreSQL as it is, with table, column and row key."""


class RowEncoder:
    """Encodes batches of tuples (in ``columns`` order) for one table, counting what it changes."""

    def __init__(self, table: str, columns: Sequence[str], *, key: Sequence[str], nul_policy: NulPolicy) -> None:
        self.table = table
        self.columns = list(columns)
        self.key_positions = [self.columns.index(k) for k in key if k in self.columns]
        self.nul_policy = nul_policy
        self.rows = 0
        self.nul_stripped: Counter[str] = Counter()

    def encode(self, rows: Sequence[Sequence[object]]) -> bytes:
        """Return the COPY text of ``rows`` as UTF-8 bytes."""
        try:
            data = encode_rows(rows)
            # One look for NUL per batch, in the bytes (UTF-8 writes U+0000, and nothing else, as a
            # 0 byte): NUL is rare, so only a batch that holds one is encoded again row by row.
            if b"\x00" in data and self.nul_policy != NulPolicy.KEEP:
                data = "".join([self._encode_row(row) for row in rows]).encode("utf-8")
        except UnicodeEncodeError:
            raise self._unencodable(rows) from None
        self.rows += len(rows)
        return data

    def _encode_row(self, row: Sequence[object]) -> str:
        try:
            return encode_row(row)
        except NulCharacterError:
            return encode_row(self._without_nul(row))

    def row_key(self, row: Sequence[object]) -> str:
        """The row's primary-key value(s) for messages, or its position when there is no key."""
        if not self.key_positions:
            return f"row #{self.rows + 1} (no primary key)"
        return ", ".join(f"{self.columns[i]}={row[i]!r}" for i in self.key_positions)

    def _without_nul(self, row: Sequence[object]) -> tuple[object, ...]:
        cleaned = []
        for name, value in zip(self.columns, row, strict=True):
            if isinstance(value, str) and "\x00" in value:
                if self.nul_policy == NulPolicy.FAIL:
                    raise BadValueError(
                        f"{self.table}.{name}: NUL character (U+0000) at {self.row_key(row)}; PostgreSQL text "
                        "cannot store it (nul_policy='fail'; 'strip' removes it and counts it)"
                    )
                self.nul_stripped[name] += value.count("\x00")
                value = value.replace("\x00", "")
            cleaned.append(value)
        return tuple(cleaned)

    def _unencodable(self, rows: Sequence[Sequence[object]]) -> BadValueError:
        for row in rows:
            for name, value in zip(self.columns, row, strict=True):
                if isinstance(value, str):
                    try:
                        value.encode("utf-8")
                    except UnicodeEncodeError as exc:
                        return BadValueError(
                            f"{self.table}.{name}: text is not valid Unicode ({exc.reason} at character "
                            f"{exc.start}: {value[exc.start : exc.end]!r}) at {self.row_key(row)}"
                        )
        return BadValueError(f"{self.table}: a value could not be encoded as UTF-8")
