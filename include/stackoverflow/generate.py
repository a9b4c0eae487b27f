"""Generate a StackOverflow2010-shaped PostgreSQL source at any scale, deterministically.

    .venv/bin/python -m include.stackoverflow.generate --scale 0.01 --seed 42 --url postgresql://...

Scale 1.0 gives the real StackOverflow2010 row counts (19,310,703 rows); the lookup tables are
always complete. Values follow the real data's shape: sparse and skewed ids, user -1
(Community), NULL rates per column, empty strings distinct from NULL, non-ASCII and non-BMP
text, CRLF, trailing spaces, backslashes, text at its column's declared maximum length,
``datetime`` milliseconds on SQL Server's 1/300 s grid, votes dated at midnight, and references
to rows that do not exist (the real data has no referential integrity).

Rows are generated in chunks of ``CHUNK_ROWS``; each chunk has its own random stream, seeded by
(seed, table, chunk), so the content depends only on scale and seed, not on how many worker
processes ran or in which order. Chunks stream into ``COPY ... FROM STDIN`` in parallel; primary
keys are built once per table after the load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache

from include.stackoverflow import corpus
from include.stackoverflow.database import (
    connect,
    copy_rows,
    create_tables,
    finish_table,
    load_lookup_tables,
    row_counts,
)
from include.stackoverflow.schema import LOOKUP_TABLES, MAX, ROW_COUNTS, TABLES, TABLES_BY_NAME

CHUNK_ROWS = 250_000  # part of the content's definition: changing it changes every value

# First and last instants of StackOverflow2010's data.
EPOCH = dt.datetime(2008, 7, 31, 21, 42, 52)
SPAN_SECONDS = int((dt.datetime(2010, 12, 31, 23, 59, 59) - EPOCH).total_seconds())
_DAY_STRINGS = [(EPOCH.date() + dt.timedelta(days=d)).isoformat() for d in range(3 * 366)]
_EPOCH_SECOND_OF_DAY = EPOCH.hour * 3600 + EPOCH.minute * 60 + EPOCH.second

# Share of each table's rows in the dense part of its id range, and the strides (average gap
# between consecutive ids) in the dense and sparse parts: real ids are sparse where rows were
# deleted, and unevenly so, which is what a partition planner has to cope with.
DENSE_SHARE = 0.6
ID_STRIDES = {
    "Users": (1, 2),
    "Posts": (2, 5),
    "Comments": (1, 3),
    "Badges": (1, 1),
    "Votes": (1, 1),
    "PostLinks": (8, 20),
}


@dataclass(frozen=True)
class IdSpace:
    """Maps row numbers 0..n-1 to strictly increasing sparse ids, and to ids that do not exist."""

    rows: int
    dense_stride: int
    sparse_stride: int

    @property
    def _dense_rows(self) -> int:
        return int(self.rows * DENSE_SHARE)

    def _slot(self, i: int) -> tuple[int, int]:
        k = self._dense_rows
        if i < k:
            return i * self.dense_stride, self.dense_stride
        return k * self.dense_stride + (i - k) * self.sparse_stride, self.sparse_stride

    def id(self, i: int) -> int:
        base, stride = self._slot(i)
        return base + 1 + _mix(i) % stride

    def missing_id(self, i: int) -> int:
        """An id that no row has: a hole in row i's slot, or past the end when there are no holes."""
        base, stride = self._slot(i)
        if stride > 1:
            return base + 1 + (_mix(i) + 1) % stride
        return self.id(self.rows - 1) + 1 + _mix(i) % 1000 if self.rows else 1 + i


def _mix(i: int) -> int:
    """A cheap, well-spread integer hash (Knuth's multiplicative constant)."""
    return ((i * 2654435761) & 0xFFFFFFFF) >> 7


@dataclass(frozen=True)
class Plan:
    """What to generate: rows per table and each table's id space."""

    scale: float
    seed: int
    rows: dict[str, int]

    @classmethod
    def for_scale(cls, scale: float, seed: int) -> Plan:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        rows = {
            name: count if name in LOOKUP_TABLES else max(1, round(count * scale)) for name, count in ROW_COUNTS.items()
        }
        return cls(scale=scale, seed=seed, rows=rows)

    def ids(self, table: str) -> IdSpace:
        dense, sparse = ID_STRIDES[table]
        rows = self.rows[table] - (1 if table == "Users" else 0)  # Users' row 0 is Id -1
        return IdSpace(rows, dense, sparse)

    def user_id(self, rng: random.Random) -> int:
        space = self.ids("Users")
        return space.id(rng.randrange(space.rows)) if space.rows else -1

    def post_id(self, rng: random.Random, *, missing_rate: float = 0.0) -> int:
        space = self.ids("Posts")
        i = rng.randrange(space.rows)
        return space.missing_id(i) if rng.random() < missing_rate else space.id(i)

    def chunks(self, table: str) -> int:
        return -(-self.rows[table] // CHUNK_ROWS)


@cache
def _corpus(seed: int) -> str:
    return corpus.build_corpus(seed)


def _timestamp(second: int, tick: int) -> str:
    """Format EPOCH + second with milliseconds on SQL Server datetime's 1/300 s grid (.000/.003/.007)."""
    day, second_of_day = divmod(second + _EPOCH_SECOND_OF_DAY, 86_400)
    hour, rest = divmod(second_of_day, 3600)
    minute, sec = divmod(rest, 60)
    millis = (tick * 1000 + 150) // 300
    return f"{_DAY_STRINGS[day]} {hour:02d}:{minute:02d}:{sec:02d}.{millis:03d}"


def _created(i: int, rows: int, rng: random.Random) -> int:
    """Seconds after EPOCH: rows are created in id order, with some jitter."""
    base = SPAN_SECONDS * i // max(rows, 1)
    return min(SPAN_SECONDS, base + rng.randrange(3600))


def _later(second: int, rng: random.Random) -> int:
    return min(SPAN_SECONDS, second + int(rng.expovariate(1 / 2_000_000)))


def _text(rng: random.Random, text: str, length: int) -> str:
    start = rng.randrange(len(text) - length) if length < len(text) else 0
    return text[start : start + length]


def _count(rng: random.Random, alpha: float, *, scale: float = 1, cap: int = 50_000_000) -> int:
    """A heavy-tailed non-negative count (scores, views, reputation), capped well inside int32."""
    return min(cap, int(scale * rng.paretovariate(alpha)) - 1)


def _pareto_length(rng: random.Random, *, scale: float, alpha: float, cap: int) -> int:
    return min(cap, int(scale * rng.paretovariate(alpha)))


# --- one row generator per table: (plan, first row, last row + 1, rng) -> tuples in column order ---


def _users(plan: Plan, start: int, stop: int, rng: random.Random) -> Iterator[tuple]:
    text = _corpus(plan.seed)
    space = plan.ids("Users")
    rows = plan.rows["Users"]
    for i in range(start, stop):
        if i == 0:  # the Community user, owner of wiki posts and automated actions
            yield (
                -1,
                "<p>Hi, I'm not really a person.</p>",
                None,
                _timestamp(0, 0),
                "Community",
                0,
                None,
                _timestamp(0, 0),
                "on the server farm",
                1,
                0,
                0,
                "http://meta.stackexchange.com/",
                -1,
            )
            continue
        created = _created(i, rows, rng)
        roll = rng.random()
        about = (
            None
            if roll < 0.55
            else ""
            if roll < 0.60
            else _text(rng, text, _pareto_length(rng, scale=120, alpha=1.6, cap=6000))
        )
        reputation = _count(rng, 1.1) + 1
        roll = rng.random()
        website = (
            None
            if roll < 0.65
            else ""
            if roll < 0.75
            else f"http://{corpus.display_name(rng).lower().strip()}.example.com"
        )
        yield (
            space.id(i - 1),
            about,
            None if rng.random() < 0.8 else rng.randint(13, 80),
            _timestamp(created, rng.randrange(300)),
            corpus.display_name(rng),
            _count(rng, 2.5),
            None if rng.random() < 0.95 else f"{rng.getrandbits(128):032x}",
            _timestamp(_later(created, rng), rng.randrange(300)),
            None if rng.random() < 0.6 else rng.choice(corpus.LOCATIONS),
            reputation,
            _count(rng, 1.5),
            _count(rng, 1.2),
            website,
            None if rng.random() < 0.02 else 1_000_000 + i,
        )


def _posts(plan: Plan, start: int, stop: int, rng: random.Random) -> Iterator[tuple]:
    text = _corpus(plan.seed)
    space = plan.ids("Posts")
    rows = plan.rows["Posts"]
    for i in range(start, stop):
        created = _created(i, rows, rng)
        roll = rng.random()
        post_type = 1 if roll < 0.30 else 2 if roll < 0.98 else rng.randint(3, 8)
        question = post_type == 1
        body_length = _pareto_length(rng, scale=420, alpha=1.7, cap=30_000)
        body = "" if rng.random() < 0.001 else "<p>" + _text(rng, text, body_length)
        edited = rng.random() < 0.35
        editor_name = corpus.display_name(rng) if edited and rng.random() < 0.03 else None
        owner_roll = rng.random()
        tags = "".join(f"<{t}>" for t in rng.sample(corpus.TAGS, rng.randint(1, 5))) if question else None
        yield (
            space.id(i),
            plan.post_id(rng, missing_rate=0.05) if question and rng.random() < 0.5 else None,
            rng.randint(0, 12) if question else None,
            body,
            _timestamp(_later(created, rng), rng.randrange(300)) if question and rng.random() < 0.03 else None,
            None if rng.random() < 0.01 else _count(rng, 1.8),
            _timestamp(_later(created, rng), rng.randrange(300)) if rng.random() < 0.01 else None,
            _timestamp(created, rng.randrange(300)),
            _count(rng, 1.3) if question and rng.random() < 0.3 else None,
            _timestamp(_later(created, rng), rng.randrange(300)),
            _timestamp(_later(created, rng), rng.randrange(300)) if edited else None,
            editor_name,
            plan.user_id(rng) if edited and editor_name is None else None,
            None if owner_roll < 0.01 else -1 if owner_roll < 0.015 else plan.user_id(rng),
            plan.post_id(rng, missing_rate=0.01) if post_type == 2 else None,
            post_type,
            _count(rng, 1.4) - (rng.random() < 0.1) * rng.randint(1, 5),
            tags,
            _title(rng, text) if question else None,
            _count(rng, 0.9, scale=20) if question else 0,
        )


def _title(rng: random.Random, text: str) -> str:
    if rng.random() < 0.001:
        return _text(rng, text, 250)  # at the declared maximum
    title = _text(rng, text, rng.randint(15, 120)).replace("\r", " ").replace("\n", " ").strip() or "Untitled"
    return title + ("?" if rng.random() < 0.6 else "") + (" " if rng.random() < 0.005 else "")


def _comments(plan: Plan, start: int, stop: int, rng: random.Random) -> Iterator[tuple]:
    text = _corpus(plan.seed)
    space = plan.ids("Comments")
    rows = plan.rows["Comments"]
    for i in range(start, stop):
        length = 700 if rng.random() < 0.002 else _pareto_length(rng, scale=60, alpha=1.5, cap=700)
        yield (
            space.id(i),
            _timestamp(_created(i, rows, rng), rng.randrange(300)),
            plan.post_id(rng, missing_rate=0.02),
            None if rng.random() < 0.005 else (0 if rng.random() < 0.8 else _count(rng, 1.3) + 1),
            _text(rng, text, length),
            None if rng.random() < 0.02 else plan.user_id(rng),
        )


def _badges(plan: Plan, start: int, stop: int, rng: random.Random) -> Iterator[tuple]:
    space = plan.ids("Badges")
    rows = plan.rows["Badges"]
    for i in range(start, stop):
        yield (
            space.id(i),
            rng.choice(corpus.BADGE_NAMES),
            plan.user_id(rng),
            _timestamp(_created(i, rows, rng), rng.randrange(300)),
        )


# VoteTypeId and its share of votes (UpMod dominates; Id 14 does not exist).
_VOTE_TYPES = (2, 1, 3, 5, 10, 6, 8, 9, 12, 4, 7, 11, 13, 15, 16)
_VOTE_WEIGHTS = (70, 9, 7, 8, 2, 1.2, 0.4, 0.3, 0.4, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05)


def _votes(plan: Plan, start: int, stop: int, rng: random.Random) -> Iterator[tuple]:
    space = plan.ids("Votes")
    rows = plan.rows["Votes"]
    vote_types = rng.choices(_VOTE_TYPES, _VOTE_WEIGHTS, k=stop - start)
    for i, vote_type in zip(range(start, stop), vote_types, strict=True):
        bounty = vote_type in (8, 9)
        # votes carry dates only: round down to midnight
        midnight = (_created(i, rows, rng) + _EPOCH_SECOND_OF_DAY) // 86_400 * 86_400 - _EPOCH_SECOND_OF_DAY
        yield (
            space.id(i),
            plan.post_id(rng, missing_rate=0.03),
            plan.user_id(rng) if vote_type in (5, 8) else None,
            rng.choice((50, 100, 150, 200, 250, 300, 500)) if bounty else None,
            vote_type,
            _timestamp(midnight, 0),
        )


def _post_links(plan: Plan, start: int, stop: int, rng: random.Random) -> Iterator[tuple]:
    space = plan.ids("PostLinks")
    rows = plan.rows["PostLinks"]
    for i in range(start, stop):
        yield (
            space.id(i),
            _timestamp(_created(i, rows, rng), rng.randrange(300)),
            plan.post_id(rng),
            plan.post_id(rng, missing_rate=0.05),
            1 if rng.random() < 0.85 else 3,
        )


ROW_GENERATORS: dict[str, Callable[[Plan, int, int, random.Random], Iterator[tuple]]] = {
    "Users": _users,
    "Posts": _posts,
    "Comments": _comments,
    "Badges": _badges,
    "Votes": _votes,
    "PostLinks": _post_links,
}


def generate_rows(plan: Plan, table: str, chunk: int) -> Iterator[tuple]:
    """Yield the rows of one chunk of ``table`` (the unit of determinism and of parallelism).

    Text fits its column on SQL Server as on PostgreSQL: ``nvarchar(n)`` counts UTF-16 code
    units, so a character outside the BMP takes two of the ``n`` (``fit_utf16``).
    """
    start = chunk * CHUNK_ROWS
    stop = min(plan.rows[table], start + CHUNK_ROWS)
    rng = random.Random(f"{plan.seed}:{table}:{chunk}")
    rows = ROW_GENERATORS[table](plan, start, stop, rng)
    bounded = [
        (i, c.length)
        for i, c in enumerate(TABLES_BY_NAME[table].columns)
        if c.sql_type == "nvarchar" and c.length is not None and c.length != MAX
    ]
    return (_fitted(row, bounded) for row in rows) if bounded else rows


def fit_utf16(value: str, units: int) -> str:
    """``value`` cut to at most ``units`` UTF-16 code units (characters beyond U+FFFF count two)."""
    if len(value) * 2 <= units:  # fits even if every character took two
        return value
    used = 0
    for position, character in enumerate(value):
        used += 2 if ord(character) > 0xFFFF else 1
        if used > units:
            return value[:position]
    return value


def _fitted(row: tuple, bounded: list[tuple[int, int]]) -> tuple:
    values = list(row)
    for i, units in bounded:
        if isinstance(values[i], str):
            values[i] = fit_utf16(values[i], units)
    return tuple(values)


def _load_chunk(url: str, schema: str, plan: Plan, table: str, chunk: int) -> tuple[str, int]:
    conn = connect(url)
    try:
        return table, copy_rows(conn, TABLES_BY_NAME[table], generate_rows(plan, table, chunk), schema=schema)
    finally:
        conn.close()


def _finish(url: str, schema: str, table: str) -> str:
    conn = connect(url)
    try:
        finish_table(conn, TABLES_BY_NAME[table], schema=schema)
    finally:
        conn.close()
    return table


def generate(
    url: str, *, scale: float, seed: int, schema: str = "public", workers: int | None = None
) -> dict[str, int]:
    """Recreate the nine tables in ``schema`` at ``url`` and fill them; return rows per table."""
    plan = Plan.for_scale(scale, seed)
    conn = connect(url)
    try:
        create_tables(conn, TABLES, schema=schema)
        load_lookup_tables(conn, [TABLES_BY_NAME[name] for name in LOOKUP_TABLES], schema=schema)
    finally:
        conn.close()
    jobs = [(t, c) for t in sorted(ROW_GENERATORS, key=lambda t: -plan.rows[t]) for c in range(plan.chunks(t))]
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        list(pool.map(_load_chunk, *zip(*[(url, schema, plan, t, c) for t, c in jobs], strict=True)))
        list(pool.map(_finish, [url] * len(ROW_GENERATORS), [schema] * len(ROW_GENERATORS), list(ROW_GENERATORS)))
    conn = connect(url)
    try:
        return row_counts(conn, TABLES, schema=schema)
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=".venv/bin/python -m include.stackoverflow.generate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--scale", type=float, default=0.01, help="1.0 = real StackOverflow2010 row counts")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--url", required=True, help="postgresql://user:password@host:port/database")
    parser.add_argument("--schema", default="public")
    parser.add_argument("--workers", type=int, default=None, help="parallel load processes (default: CPU count)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    counts = generate(args.url, scale=args.scale, seed=args.seed, schema=args.schema, workers=args.workers)
    seconds = time.monotonic() - started
    print(f"{'table':<12}{'rows':>14}")
    for name in sorted(counts):
        print(f"{name:<12}{counts[name]:>14,}")
    print(f"{'total':<12}{sum(counts.values()):>14,}")
    print(f"generated scale {args.scale} seed {args.seed} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
