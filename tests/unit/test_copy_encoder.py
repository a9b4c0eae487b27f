"""Row batches to COPY bytes: the NUL policy and invalid Unicode name table, column and row key."""

from __future__ import annotations

import pytest

from include.replication.copy.encoder import BadValueError, RowEncoder
from include.replication.settings import NulPolicy


def encoder(policy: NulPolicy = NulPolicy.STRIP) -> RowEncoder:
    return RowEncoder("dbo.Posts", ["Id", "Title", "Body"], key=["Id"], nul_policy=policy)


def test_strip_removes_nul_and_counts_per_column():
    """nul_policy=strip removes U+0000 and counts every removal per column."""
    enc = encoder()
    data = enc.encode([(1, "a\x00b", "\x00\x00"), (2, "ok", None)])
    assert data == b"1\tab\t\n2\tok\t\\N\n"
    assert dict(enc.nul_stripped) == {"Title": 1, "Body": 2}
    assert enc.rows == 2


def test_fail_names_table_column_and_key():
    """nul_policy=fail stops with the table, the column and the row's key."""
    with pytest.raises(BadValueError, match=r"dbo\.Posts\.Body: NUL character \(U\+0000\) at Id=7"):
        encoder(NulPolicy.FAIL).encode([(7, "fine", "bad\x00")])


def test_lone_surrogate_names_table_column_and_key():
    """Text that is not valid Unicode (a lone UTF-16 surrogate) is named, not silently replaced."""
    with pytest.raises(BadValueError, match=r"dbo\.Posts\.Title: text is not valid Unicode .* at Id=3"):
        encoder().encode([(3, "half \ud800 pair", "")])


def test_strip_in_a_large_batch_touches_only_the_row_with_nul():
    """A NUL sends its batch down the row-by-row path; the other rows come out as the fast path makes them."""
    rows = [(i, f"row {i}\t", "\\" if i % 2 else None) for i in range(1, 1001)]
    clean = encoder().encode(rows)
    rows[500] = (501, "row\x00 501\t", "\x00")
    enc = encoder()
    data = enc.encode(rows)
    assert data == clean.replace(b"501\trow 501\\t\t\\\\\n", b"501\trow 501\\t\t\n")
    assert dict(enc.nul_stripped) == {"Title": 1, "Body": 1}
    assert enc.rows == 1000


def test_fail_finds_nul_anywhere_in_a_batch():
    with pytest.raises(BadValueError, match=r"dbo\.Posts\.Title: NUL character .* at Id=999"):
        encoder(NulPolicy.FAIL).encode([(i, "ok", "") for i in range(1, 999)] + [(999, "x\x00", "")])


def test_null_empty_and_escapes_in_a_batch():
    """NULL is \\N, '' an empty field, a literal backslash-N text is escaped: all three stay distinct."""
    data = encoder().encode([(1, None, ""), (2, "\\N", "a\r\nb")])
    assert data == b"1\t\\N\t\n2\t\\\\N\ta\\r\\nb\n"
