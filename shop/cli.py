"""`flask --app shop ...` commands: init-db, seed, check-invariants."""

from __future__ import annotations

import time

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from shop.schema import metadata


def _engine():
    return current_app.extensions["shop"].engine


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create the schema (idempotent: existing tables are left alone)."""
    metadata.create_all(_engine(), checkfirst=True)
    click.echo(f"init-db: {len(metadata.tables)} tables present")


@click.command("seed")
@with_appcontext
@click.option("--users", type=click.IntRange(0, 10_000_000), default=10_000, show_default=True)
@click.option("--products", type=click.IntRange(0, 1_000_000), default=1_000, show_default=True)
@click.option(
    "--orders",
    type=click.IntRange(0, 10_000_000),
    default=0,
    show_default=True,
    help="orders spread over the last --days days (for the popular list)",
)
@click.option("--days", type=click.IntRange(1, 30), default=3, show_default=True)
@click.option(
    "--points",
    type=click.IntRange(0, 10**15),
    default=1_000_000_000,
    show_default=True,
    help="points each new user starts with",
)
@click.option(
    "--stock",
    type=click.IntRange(0, 2**31 - 1),
    default=1_000_000,
    show_default=True,
    help="stock each new product starts with",
)
def seed(users: int, products: int, orders: int, days: int, points: int, stock: int) -> None:
    """Create users 1..N and products 1..M that do not exist yet, then optional orders."""
    from shop.seed import seed_catalog, seed_orders

    started = time.monotonic()
    metadata.create_all(_engine(), checkfirst=True)
    created = seed_catalog(
        _engine(), users, products, points=points, stock=stock, progress=click.echo
    )
    click.echo(f"seed: {created['users']} users and {created['products']} products created")
    if orders:
        try:
            seed_orders(_engine(), orders, days=days, progress=click.echo)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"seed: {orders} orders over the last {days} days")
    click.echo(f"seed: done in {time.monotonic() - started:.1f}s")


@click.command("check-invariants")
@with_appcontext
def check_invariants_command() -> None:
    """Check the data invariants; exit 1 if any is violated."""
    from shop.invariants import check_invariants

    with _engine().connect() as conn:
        violations = check_invariants(conn)
    for name, count in violations.items():
        click.echo(f"{'ok  ' if count == 0 else 'FAIL'} {name}" + (f" ({count})" if count else ""))
    if any(violations.values()):
        raise SystemExit(1)


def register_cli(app: Flask) -> None:
    for command in (init_db, seed, check_invariants_command):
        app.cli.add_command(command)
