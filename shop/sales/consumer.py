"""The consumer's loop: drain batches while there are any, sleep while there are none, count."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import pymysql
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from shop.db import classify, error_code
from shop.sales.metrics import ConsumerMetrics
from shop.sales.queue import ER_NO_SUCH_TABLE, drain_batch
from shop.settings import Settings

log = logging.getLogger("shop.sales")


@dataclass(frozen=True)
class ConsumeResult:
    """What one `consume` did until it was stopped."""

    batches: int
    rows: int
    errors: int


def consume(
    engine: Engine, settings: Settings, metrics: ConsumerMetrics, stop: threading.Event
) -> ConsumeResult:
    """Drain until `stop` is set: batch after batch while rows wait, then one poll interval of
    sleep per empty look. A database error (a deadlock with another consumer, a restart) is
    counted and the batch tried again after a poll interval: its rows are still queued."""
    batches = rows = errors = 0
    said_missing = False
    while not stop.is_set():
        try:
            batch = drain_batch(engine, settings.sales_batch_size)
        except (DBAPIError, pymysql.err.MySQLError) as exc:
            if error_code(exc) == ER_NO_SUCH_TABLE:
                # Started before the schema (the stack seeds after starting its processes):
                # nothing can be queued yet, so nothing is failing.
                if not said_missing:
                    log.warning("sales: no sales_queue table yet (flask --app shop init-db)")
                    said_missing = True
                stop.wait(settings.sales_poll_seconds)
                continue
            errors += 1
            kind = classify(exc)
            metrics.errors.labels("drain", kind).inc()
            log.warning("sales: drain failed (%s), retrying: %s", kind, getattr(exc, "orig", exc))
            stop.wait(settings.sales_poll_seconds)
            continue
        if batch.rows:
            batches, rows = batches + 1, rows + batch.rows
            metrics.batches.inc()
            metrics.rows.inc(batch.rows)
        else:
            stop.wait(settings.sales_poll_seconds)
    return ConsumeResult(batches, rows, errors)
