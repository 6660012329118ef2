"""sales_queue -> product_sales_daily: draining batches exactly once, and the queue's state.

A batch is one transaction: lock the oldest waiting rows other consumers have not locked
(`FOR UPDATE SKIP LOCKED`), add them up per (day, product), upsert the aggregate, delete them,
commit. A consumer that dies before the commit leaves its rows in the queue and the aggregate
untouched (the server rolls both back); two consumers never take the same row.
READ COMMITTED: no gap or next-key locks, so a drain reaching the queue's end never blocks the
orders appending to it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from shop.db import error_code

_LOCK_OLDEST = text(
    "SELECT id, day, product_id, quantity FROM sales_queue "
    "ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"
)
_ADD_TO_DAILY = text(
    "INSERT INTO product_sales_daily (day, product_id, quantity) "
    "VALUES (:day, :product_id, :quantity) "
    "ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity)"
)
_DELETE = text("DELETE FROM sales_queue WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)
# The oldest row by id (the primary key: no scan); its age is the lag (created_at is UTC: the
# shop's sessions run at +00:00). COUNT(*) walks the
# queue, which is short whenever the consumer keeps up.
_STATE = text(
    "SELECT (SELECT COUNT(*) FROM sales_queue) AS depth, "
    "(SELECT TIMESTAMPDIFF(MICROSECOND, created_at, UTC_TIMESTAMP(6)) FROM sales_queue "
    "ORDER BY id LIMIT 1) AS age_us"
)
ER_NO_SUCH_TABLE = 1146


@dataclass(frozen=True)
class Batch:
    """One drained batch: rows taken off the queue and the aggregate rows they changed."""

    rows: int
    quantity: int
    days: tuple[date, ...]
    aggregate_rows: int


@dataclass(frozen=True)
class QueueState:
    depth: int  # rows waiting
    lag_seconds: float  # age of the oldest waiting row (0 when none waits)


def drain_batch(
    engine: Engine, size: int, before_commit: Callable[[Connection, Batch], None] | None = None
) -> Batch:
    """Move up to `size` of the oldest unlocked rows into product_sales_daily, in one
    transaction. `before_commit` runs inside it once the writes are done (a test's way to die
    at the worst moment)."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="READ COMMITTED")
        with conn.begin():
            rows = conn.execute(_LOCK_OLDEST, {"n": size}).all()
            if not rows:
                return Batch(0, 0, (), 0)
            sums: Counter = Counter()
            for row in rows:
                sums[(row.day, row.product_id)] += row.quantity
            # In key order: two consumers upserting the same products lock them in one order.
            upserts = [{"day": day, "product_id": product, "quantity": quantity}
                       for (day, product), quantity in sorted(sums.items())]  # fmt: skip
            conn.execute(_ADD_TO_DAILY, upserts)
            conn.execute(_DELETE, {"ids": [row.id for row in rows]})
            batch = Batch(
                rows=len(rows),
                quantity=sum(sums.values()),
                days=tuple(sorted({day for day, _ in sums})),
                aggregate_rows=len(upserts),
            )
            if before_commit is not None:
                before_commit(conn, batch)
    return batch


@dataclass(frozen=True)
class DrainResult:
    """What `drain` did: batches and rows moved, and whether the queue was empty at the end."""

    batches: int
    rows: int
    quantity: int
    seconds: float
    caught_up: bool


def drain(engine: Engine, size: int, max_batches: int | None = None) -> DrainResult:
    """Drain batches until the queue has nothing unlocked left (or `max_batches` ran)."""
    started = time.monotonic()
    batches = rows = quantity = 0
    while max_batches is None or batches < max_batches:
        batch = drain_batch(engine, size)
        if batch.rows == 0:
            return DrainResult(batches, rows, quantity, time.monotonic() - started, True)
        batches, rows, quantity = batches + 1, rows + batch.rows, quantity + batch.quantity
    return DrainResult(batches, rows, quantity, time.monotonic() - started, False)


def queue_state(conn: Connection) -> QueueState:
    row = conn.execute(_STATE).one()
    return QueueState(int(row.depth), max(0.0, (row.age_us or 0) / 1e6))


def read_queue_state(engine: Engine) -> QueueState | None:
    """The queue now; None when the schema has no sales_queue (a database from before it)."""
    try:
        with engine.connect() as conn:
            return queue_state(conn)
    except ProgrammingError as exc:
        if error_code(exc) == ER_NO_SUCH_TABLE:
            return None
        raise


def wait_until_drained(
    engine: Engine, timeout: float, poll: float = 0.25, clock: Callable[[], float] = time.monotonic
) -> tuple[QueueState | None, float]:
    """Poll the queue until it is empty or `timeout` seconds passed: (last state, seconds
    waited). A state of None: no queue in this schema (nothing to wait for)."""
    started = clock()
    while True:
        state = read_queue_state(engine)
        waited = clock() - started
        if state is None or state.depth == 0 or waited >= timeout:
            return state, waited
        time.sleep(poll)


def is_transient(exc: BaseException) -> bool:
    """A database error the consumer's loop survives (it retries the batch later)."""
    return isinstance(exc, DBAPIError) or error_code(exc) is not None
