"""The deck's capacity section (the answer, its spread, the machine speed index, the USL fits,
the replicas a rate needs, the disagreements) and its recent history with change points, in
HTML and Markdown."""

from __future__ import annotations

from lab.capacity import scaling, usl
from lab.capacity.runs import judge_runs
from lab.capacity.search import Probe
from lab.report.html import render_html
from lab.report.render import render_markdown
from lab.report.scalability import scalability_html, scalability_markdown
from lab.trend.changes import detect
from tests.unit.test_report import _deck
from tests.unit.test_trend import gate_history


def capacity_json(replicas: dict | None = None) -> dict:
    """A capacity.json as `make capacity` writes it, from a synthetic shop (σ 0.05, κ 0.001)."""
    probes = []
    for n in (1, 2, 4, 8, 16, 24):
        x = usl.throughput(n, 100.0, 0.05, 0.001)
        probes.append(Probe(rate=x, held=n < 24, evidence={
            "client_tps": x, "client_ok_tps": x, "client_mean_latency_s": n / x}))  # fmt: skip
    scal = scaling.model(probes, 900.0, 950.0, 200.0, replicas, {3: "the machine's CPU"})
    runs = judge_runs([900.0, 880.0, 930.0], [18.0, 17.8, 18.3])
    search = {"run": 1, "replicas": None, "capacity_tps": 900.0, "ceiling_tps": 950.0,
              "speed_index": 18.0, "speed_change": 0.028}  # fmt: skip
    return {
        "answer": "\n".join([runs.sentence(), *scal.sentences()]),
        "speed_workload": "200,000 turns",
        "searches": [search, {**search, "run": 2, "capacity_tps": 880.0}],
        "runs": {"None": runs.as_dict()},
        "scalability": scal.as_dict(),
    }


def test_the_section_carries_sigma_kappa_peak_knee_and_the_measured_break():
    figures: list[dict] = []
    html = scalability_html(capacity_json(), figures)
    assert "σ (contention)" in html and "0.0500" in html
    assert "κ (coherency)" in html and "predicted peak" in html and "predicted knee" in html
    assert "held 900/s, broke at 950/s" in html
    assert "machine speed index 18.00, moved 3 % over the search" in html
    assert "within the ±10 % a search can resolve" in html
    assert len(figures) == 1 and figures[0]["data"][1]["name"] == "USL model"
    assert "No replica sweep in this run" in html


def test_the_proposal_names_replicas_for_2x_and_5x_and_the_disagreement():
    figures: list[dict] = []
    capacity = capacity_json({1: 150.0, 2: 280.0, 3: 290.0})
    html = scalability_html(capacity, figures)
    assert "replicas needed for 2x TARGET_TPS (400/s)" in html
    assert "replicas needed for 5x TARGET_TPS (1000/s)" in html
    assert "Model and measurements disagree" in html
    assert "the limit was the machine&#x27;s CPU" in html
    assert len(figures) == 2
    md = "\n".join(scalability_markdown(capacity))
    assert "replicas needed for 2x TARGET_TPS" in md


def test_the_deck_shows_capacity_and_history_only_when_it_has_them():
    plain = render_html(_deck())
    assert "scalability proposal" not in plain and "Recent history" not in plain
    deck = _deck()
    deck.capacity = capacity_json()
    deck.history = detect(gate_history(step=0.15))
    html = render_html(deck)
    assert "Capacity and the scalability proposal" in html
    assert "Recent history and change points" in html
    assert "regression of +1" in html and "at commit c10" in html
    md = render_markdown(deck)
    assert "## Capacity and the scalability proposal" in md
    assert "## Recent history and change points" in md
