"""The A/B's shops on real servers: a build's shop starts from its tree against the harness's
MariaDB and Redis, as the service table runs it, with the environment planted for it alone
(AB_HEAD_ENV=SHOP_DEBUG_DELAY_MS=...), and is stopped with its process group; the base tree
comes from a git worktree that is removed afterwards."""

from __future__ import annotations

import subprocess
import time

import psutil
import pytest
import requests

from lab.gate.shops import ShopStartError, shops
from lab.gate.worktree import checkout, git, resolve
from stack.processes import group_alive
from stack.settings import REPO
from tests.integration.conftest import seeded_database

pytestmark = pytest.mark.integration

DELAY_MS = 300


@pytest.fixture
def stack_env(mariadb, redis_server, tmp_path):
    """The environment of a stack whose MariaDB and Redis are the harness's, with the shop's
    schema seeded small."""
    seeded_database(mariadb, "shop", users=20, products=10)
    yield {
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "LOCAL_MARIADB_PORT": str(mariadb.port),
        "LOCAL_REDIS_PORT": str(redis_server.port),
        "LOCAL_STATE_DIR": str(tmp_path / "stack"),
        "LOCAL_SHOP_WORKERS": "1",
        "LOCAL_SHOP_THREADS": "4",
    }
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE shop")


def timed_get(url: str) -> tuple[int, float]:
    started = time.monotonic()
    status = requests.get(url, timeout=10).status_code
    return status, time.monotonic() - started


def test_the_planted_delay_reaches_the_head_shop_only(stack_env, tmp_path):
    trees = {"base": REPO, "head": REPO}
    extra = {"head": {"SHOP_DEBUG_DELAY_MS": str(DELAY_MS)}}
    with shops(trees, stack_env, extra, tmp_path / "work", tmp_path) as running:
        base, head = running["base"], running["head"]
        assert base.url != head.url
        for _ in range(3):  # warm both (pools, the popular cache)
            timed_get(f"{base.url}/api/products/popular")
            timed_get(f"{head.url}/api/products/popular")
        status, slow = timed_get(f"{head.url}/api/products/popular")
        assert status == 200 and slow >= DELAY_MS / 1000
        status, fast = timed_get(f"{base.url}/api/products/popular")
        assert status == 200 and fast < slow
        assert f"SHOP_DEBUG_DELAY_MS={DELAY_MS}" in (tmp_path / "shop-head.log").read_text()
        assert "SHOP_DEBUG_DELAY_MS" not in (tmp_path / "shop-base.log").read_text()
        assert head.cpu_seconds() > 0
        pids = [base.proc.pid, head.proc.pid]
    # Stopped with their process groups once the body is done.
    assert not any(group_alive(pid) for pid in pids)


def test_a_shop_that_exits_at_start_is_one_line_naming_its_log_and_leaves_nothing(
    stack_env, tmp_path
):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    extra = {"head": {"SHOP_LOG_LEVEL": "loud"}}
    with pytest.raises(ShopStartError) as caught, shops({"head": REPO}, stack_env, extra,
                                                        tmp_path / "work", tmp_path):  # fmt: skip
        pytest.fail("a shop that cannot start was yielded")
    log = tmp_path / "shop-head.log"
    assert str(caught.value) == f"the head shop: the process exited first; its log: {log}"
    assert "SHOP_LOG_LEVEL='loud'" in log.read_text()
    after = {p.pid for p in psutil.Process().children(recursive=True) if p.status() != "zombie"}
    assert after <= before, "the shop that failed left processes running"


def test_the_base_tree_is_a_worktree_removed_afterwards(tmp_path):
    where = tmp_path / "base"
    with checkout(resolve("HEAD"), where) as tree:
        assert (tree / "shop" / "serve.py").exists()
        assert str(where) in git("worktree", "list")
    assert str(where) not in git("worktree", "list")
    assert not where.exists() or not any(where.iterdir())
    subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], check=False)
