"""The bench's pure parts: a step's verdict, the summary per workload, py-spy's samples folded."""

from __future__ import annotations

import pytest

from bench.bench_shop import parse_settings
from bench.compare import BenchResult, BenchSettings, _summarise, report, settle
from bench.profiling import fold, layer_of
from bench.steps import StepResult


def step(app="shop", rate=400, run=1, p95=10.0, errors=0, dropped=0, requests=3200,
         workload="orders", cores=None) -> StepResult:  # fmt: skip
    cores = cores or {"app": 1.0, "db": 0.3, "k6": 0.3, "others": 0.1}
    return StepResult(app=app, workload=workload, rate=rate, run=run, seconds=8.0,
                      requests=requests, achieved=requests / 8, p95_ms=p95, p99_ms=p95,
                      errors=errors, dropped=dropped, cores=cores,
                      cpu_ms={"app": 2.0, "db": 1.0, "k6": 0.5})  # fmt: skip


@pytest.mark.parametrize(
    "kwargs,held",
    [
        ({}, True),
        ({"p95": 50.0}, True),
        ({"p95": 50.1}, False),
        ({"errors": 1}, False),
        ({"dropped": 32}, True),  # 1 % of what was offered
        ({"dropped": 40}, False),
        ({"requests": 0}, False),
        ({"workload": "popular", "p95": 20.5}, False),
    ],
)
def test_a_step_is_held_only_within_every_limit(kwargs, held):
    assert step(**kwargs).held is held


def test_k6_is_blamed_when_it_nears_a_core_or_drops_while_the_apps_idle():
    assert step(cores={"app": 1.0, "db": 0.3, "k6": 0.9, "others": 0.0}).k6_limited
    idle = {"app": 0.3, "db": 0.1, "k6": 0.5, "others": 0.1}
    assert step(dropped=400, cores=idle).k6_limited
    # Dropping while neighbours took the CPU is not k6's limit; it is a disturbed step.
    starved = {**idle, "others": 1.2}
    assert not step(dropped=400, cores=starved).k6_limited
    assert step(cores=starved).disturbed
    assert not step().k6_limited
    # The host's steal (another VM on the same cores) disturbs a step as neighbours do.
    stolen = {**idle, "steal": 0.9}
    assert step(cores=stolen).disturbed and not step(dropped=400, cores=stolen).k6_limited
    assert "host steal 0.9 cores" in step(cores=stolen).line()


def test_summary_takes_the_rate_held_in_every_pass_and_compares_cost_where_both_held():
    steps = [
        step("peer", 200, 1), step("shop", 200, 1), step("peer", 400, 1, p95=80),
        step("shop", 400, 1), step("shop", 800, 1),
        step("shop", 200, 2), step("peer", 200, 2), step("shop", 400, 2),
        step("peer", 400, 2), step("shop", 800, 2, errors=3),
    ]  # fmt: skip
    result = _summarise("orders", steps, passes=2)
    assert result.apps["peer"].held_per_pass == (200, 400)
    assert result.apps["shop"].held_per_pass == (800, 400)
    assert result.apps["peer"].held == 200
    assert result.apps["shop"].held == 400
    assert result.ratio == 2.0
    assert (result.cost_rate, result.cost_held) == (200, True)
    assert result.cpu_ms["shop"] == {"app": 2.0, "db": 1.0, "k6": 0.5}
    assert result.cost_ratio == 1.0


def test_summary_has_no_ratio_when_the_peer_held_nothing():
    steps = [step("peer", 1000, p95=90, workload="popular"), step("shop", 1000, workload="popular")]
    result = _summarise("popular", steps, passes=1)
    assert result.ratio is None
    assert (result.cost_rate, result.cost_held) == (1000, False)
    # The shop held 1000/s where the peer held nothing from 1000/s: more than 1x, no more said.
    assert result.ratio_above == 1.0
    steps = [step("peer", 250, p95=90, workload="popular"), step("shop", 250, workload="popular"),
             step("shop", 3000, workload="popular")]  # fmt: skip
    summary = _summarise("popular", steps, passes=1)
    assert summary.ratio_above == 12.0
    lines = report(BenchResult(BenchSettings(passes=1), tuple(steps), (summary,), 1.0))
    assert "  ratio shop/peer: more than 12.00x (the peer held no rate in some pass, not even" \
           " 250/s)" in lines  # fmt: skip
    both_failed = [step("peer", 250, p95=90, workload="popular"),
                   step("shop", 250, p95=90, workload="popular")]  # fmt: skip
    assert _summarise("popular", both_failed, passes=1).ratio_above is None


# py-spy record --format raw: frames root first, ';'-separated, then the sample count.
RAW = """\
<module> (gunicorn:8);run (gunicorn/arbiter.py:1);handle (gunicorn/workers/gthread.py:532);\
wsgi_app (flask/app.py:1);place_order (shop/api.py:60);execute (sqlalchemy/engine/base.py:1);\
_execute_command (pymysql/connections.py:1);_write_bytes (pymysql/connections.py:854) 7
<module> (gunicorn:8);run (gunicorn/arbiter.py:1);handle (gunicorn/workers/gthread.py:532);\
wsgi_app (flask/app.py:1);place_order (shop/api.py:60);dumps (json/__init__.py:231) 2
<module> (gunicorn:8);run (gunicorn/arbiter.py:1);EpollSelector.select (selectors.py:468) 5
<module> (gunicorn:8);run (gunicorn/arbiter.py:1);parse (gunicorn/http/message.py:1) 3
_bootstrap (threading.py:1);_worker (concurrent/futures/thread.py:81) 9
"""


def test_samples_fold_into_layers_by_their_innermost_known_frame():
    layers, leaves = fold(RAW)
    assert layers == {
        "driver (pymysql)": 7,
        "JSON": 2,
        "HTTP server (Python side)": 3,
        "(waiting: left out)": 14,
    }
    assert leaves["_write_bytes (pymysql/connections.py:854)"] == 7


def test_a_stack_of_stdlib_frames_only_is_other():
    assert layer_of(["_bootstrap (threading.py:1)", "run (threading.py:2)"]).startswith("other")


def test_bench_cli_refuses_unknown_workloads_in_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        parse_settings(["--workloads", "orders,checkout"])
    assert exc.value.code == 2
    assert "--workloads" in capsys.readouterr().err
    assert parse_settings(["--order-rates", "100,200", "--passes", "3"]).order_rates == (100, 200)


def test_instruction_counts_come_from_callgrinds_totals_line(tmp_path):
    from bench.instructions import CaseCount, _totals, environ

    out = tmp_path / "callgrind.out"
    out.write_text(
        "# callgrind format\nversion: 1\ncmd: python\nevents: Ir\nfn=x\n1 5\ntotals: 123456\n"
    )
    assert _totals(out) == 123456
    out.write_text("events: Ir\nsummary: 99\n")
    assert _totals(out) == 99
    out.write_text("events: Ir\n")
    with pytest.raises(RuntimeError, match="no totals"):
        _totals(out)
    assert CaseCount("order", 80, 400_000).per_request == 5_000
    env = environ("POST", "/api/orders", "", b"{}")
    assert (env["CONTENT_LENGTH"], env["wsgi.input"].read()) == ("2", b"{}")


def test_a_disturbed_miss_is_run_again_and_the_last_try_counts():
    stolen = {"app": 1.0, "db": 0.3, "k6": 0.3, "others": 0.0, "steal": 1.1}
    missed, held = step(p95=90, cores=stolen), step()
    tries, said = iter([step(p95=95, cores=stolen), held]), []
    assert settle(missed, lambda: next(tries), 2, said.append) is held
    assert len(said) == 2 and all("disturbed: run again" in line for line in said)
    # Still disturbed after the reruns: the last miss stands; an undisturbed miss is not rerun.
    again = iter([step(p95=91, cores=stolen), step(p95=92, cores=stolen)])
    assert settle(missed, lambda: next(again), 2, said.append).p95_ms == 92
    quiet_miss = step(p95=90)
    assert settle(quiet_miss, lambda: held, 2, said.append) is quiet_miss
    assert settle(held, lambda: quiet_miss, 2, said.append) is held


def test_the_jvm_is_warmed_until_its_jit_goes_quiet_or_the_budget_ends():
    from bench.compare import QUIET_COMPILE_MS, WARM_SLICE_SECONDS, warm_jvm

    offered, compiled = [], iter([0, 9000, 12000, 12100, 99999])
    warmth = warm_jvm(lambda w, s: offered.append((w, s)), lambda: next(compiled),
                      ("orders", "popular"), budget=600)  # fmt: skip
    # Rounds of both workloads until one compiled less than QUIET_COMPILE_MS (100 < 500).
    assert offered == [("orders", WARM_SLICE_SECONDS), ("popular", WARM_SLICE_SECONDS)] * 3
    assert warmth.quiet and warmth.compile_ms == 12100 and warmth.last_round_ms < QUIET_COMPILE_MS
    busy = iter(range(0, 10**9, 10**6))
    warmth = warm_jvm(lambda w, s: None, lambda: next(busy), ("orders",), budget=25)
    assert not warmth.quiet  # the budget ended it: said so, not hidden
