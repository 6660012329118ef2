"""The vocabulary: each signal's PromQL stands in one place (its generated rule, written from
the catalog), the generated rules are fresh and parse, the SLO comes from the target's file, a
query reads the app's metrics in every dialect, and the verdict's window queries carry the
runner's semantics for both tools."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from pathlib import Path

import promql_parser
import pytest
import yaml

from deploy import sources
from signals import build, dialects, load
from signals.catalog import catalog, groups
from signals.slo import REPO, slo_of
from targets import find_target, read_target

SLO = slo_of(find_target({}))
CATALOG = catalog(SLO)
GROUPS = groups(SLO)

SOURCE_SUFFIXES = (".py", ".yml", ".yaml", ".js", ".json")
GENERATED = set(build.build())
# The k8s overlays carry copies of the rule files in their generated ConfigMaps.
COPIES = set(sources.build())


def normalised(text: str) -> str:
    """Whitespace dropped and every range `[...]` emptied: a copy with another window (a
    dashboard's `$__rate_interval`) is still the same expression."""
    return re.sub(r"\[[^\]]*\]", "[]", re.sub(r"\s+", "", text))


def _strings(node) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


def _sources() -> dict:
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    texts = {}
    for name in tracked.split():
        path = REPO / name
        if not name.endswith(SOURCE_SUFFIXES) or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if name.endswith(".json"):  # expressions sit in JSON strings, quotes escaped
            with contextlib.suppress(ValueError):
                text = "\n".join(_strings(json.loads(text)))
        texts[path] = normalised(text)
    return texts


SOURCES = _sources()


@pytest.mark.parametrize("record", list(CATALOG))
def test_each_signal_expression_stands_in_exactly_one_source_file(record):
    expr = normalised(CATALOG[record].expr)
    holders = {path for path, text in SOURCES.items() if expr in text} - COPIES
    generated = holders & GENERATED
    written = holders - GENERATED
    assert len(generated) == 1, "its one generated rule"
    # Written out whole at most once, in signals/ (short literals); longer ones are built there.
    assert len(written) <= 1 and all(p.parent == REPO / "signals" for p in written), written


def test_generated_rules_are_fresh():
    assert build.stale() == [], "run `make generate`"


def test_generated_rules_say_so_parse_and_keep_catalog_order():
    for group in GROUPS:
        path = build.RULES_DIR / f"{group.file}.rules.yml"
        text = path.read_text()
        assert text.startswith(build.HEADER)
        (loaded,) = yaml.safe_load(text)["groups"]
        assert loaded["name"] == group.name
        assert [r["record"] for r in loaded["rules"]] == [s.record for s in group.signals]
        for rule, signal in zip(loaded["rules"], group.signals, strict=True):
            assert rule["expr"] == signal.expr
            promql_parser.parse(rule["expr"])


def test_check_fails_on_a_stale_or_stray_rule_file(tmp_path):
    for path, text in build.build(tmp_path).items():
        path.write_text(text)
    assert build.stale(tmp_path) == []
    first = sorted(tmp_path.glob("*.rules.yml"))[0]
    first.write_text(first.read_text() + "# edited\n")
    (tmp_path / "old.rules.yml").write_text("groups: []\n")
    problems = build.stale(tmp_path)
    assert len(problems) == 2
    assert any("out of date" in p for p in problems)
    assert any("old.rules.yml" in p and "built by nothing" in p for p in problems)


def test_every_signal_has_a_conventional_name_a_unit_and_help():
    for record, signal in CATALOG.items():
        assert re.fullmatch(r"[a-z]+:[a-z0-9_]+(:[a-z0-9_]+)?", record), record
        assert signal.unit and len(signal.help) > 15, record


def test_slo_thresholds_come_from_the_targets_file():
    target = find_target({})
    assert SLO.p95_s == {e.route: e.p95_ms / 1000 for e in target.endpoints}
    assert SLO.error_ratio == target.error_rate == 0.01
    slow = CATALOG["shop:slo_requests_slow:ratio_rate5m"].expr
    for route, seconds in SLO.p95_s.items():
        assert f'url_rule="{route}", le="{seconds:g}"' in slow
        assert f'uri="{route}", le="{seconds:g}"' in slow
    text = (REPO / "targets" / "shop.yaml").read_text().replace("p95_ms: 200", "p95_ms: 300")
    edited = slo_of(read_target(text))
    assert edited.p95_s["/api/orders"] == 0.3
    assert 'le="0.3"' in catalog(edited)["shop:slo_requests_slow:ratio_rate5m"].expr


def test_a_server_query_reads_every_dialect_and_names_the_route_alike():
    expr = dialects.requests("rate", "1m", matchers='route="/api/orders"')
    promql_parser.parse(expr)
    assert 'flask_http_request_duration_seconds_count{url_rule="/api/orders"}' in expr
    assert 'http_server_requests_seconds_count{uri="/api/orders",uri!~"/actuator.*"}' in expr
    assert expr.count('"route", "$1"') == 2
    quantile = dialects.quantile(0.95, "5m")
    assert quantile.count("histogram_quantile(0.95, sum by (route, le)") == 2


@pytest.mark.parametrize("tool", load.TOOLS)
def test_verdict_queries_cover_the_runner_figures_for_one_run(tool):
    queries = load.verdict_queries(tool, "run-1", 120, ("orders", "popular"))
    assert set(queries) == {"rate", "errors", "orders_p95", "popular_p95", "orders_errors",
                            "popular_errors", "dropped"}  # fmt: skip
    for name, expr in queries.items():
        promql_parser.parse(expr)
        if name != "dropped" or tool == "k6":
            assert 'testid="run-1"' in expr, name
            assert "[120s]" in expr or "offset 120s" in expr, name
    assert queries["rate"].endswith("/ 120")
    assert queries["orders_p95"].endswith("* 1000")
    # An endpoint's errors over its own requests only.
    one = 'endpoint="orders"' if tool == "k6" else 'name="orders"'
    assert queries["orders_errors"].count(one) == 2 and one not in queries["errors"]
    if tool == "k6":
        assert "offset 120s or" in queries["dropped"]
    else:
        assert queries["dropped"] == "vector(0)"
        assert 'job="locust"' in queries["rate"]


def test_quantiles_are_written_in_signals_alone():
    """histogram_quantile stands in signals/ (and the files generated from it), nowhere else."""
    elsewhere = [
        str(path.relative_to(REPO))
        for path, text in SOURCES.items()
        if "histogram_quantile" in text
        and path not in GENERATED | COPIES
        and path.parent != REPO / "signals"
        and path.suffix != ".json"  # the generated dashboards
        and path != Path(__file__)
    ]
    assert elsewhere == []
