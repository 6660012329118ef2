"""The deck's capacity section and scalability proposal, from a capacity.json: the answer with
its spread and the machine speed index, the USL fits (σ, κ, peak, knee) beside the measured
break, the replicas a rate needs, the fit's error and the warnings; HTML and Markdown, and the
figures (the model's curve through the measured points)."""

from __future__ import annotations

from html import escape

from lab.report.figures import Mark, Trace, graph_div, plot


def _tps(v) -> str:
    return "n/a" if v is None else f"{v:.0f}/s"


def _num(v, digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _model(lam: float, sigma: float, kappa: float, n: float) -> float:
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def _curve(fit: dict, top: float, steps: int = 60) -> tuple[list[float], list[float]]:
    xs = [top * i / steps for i in range(1, steps + 1)]
    return xs, [_model(fit["lambda"], fit["sigma"], fit["kappa"], n) for n in xs]


def _rows(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _beside(rows: list[tuple[str, str]], figures: list[dict], draw) -> str:
    """A table of `rows` with the figure `draw(fig_id)` beside it (appended to `figures`)."""
    fig_id = f"fig{len(figures)}"
    figures.append(draw(fig_id))
    graph = f'<div class="panel">{graph_div(fig_id)}</div>'
    return f'<div class="cols"><div>{_rows(rows)}</div>{graph}</div>'


def searches_rows(capacity: dict) -> list[tuple[str, str]]:
    """Each search with its answer and the machine speed index beside it."""
    rows = []
    for s in capacity.get("searches") or [capacity]:
        where = f"search {s.get('run', 1)}"
        if s.get("replicas"):
            where += f", {s['replicas']} replica(s)"
        change = s.get("speed_change")
        moved = f", moved {change * 100:.0f} % over the search" if change else ""
        rows.append(
            (
                where,
                f"{_tps(s.get('capacity_tps'))} (broke at "
                f"{_tps(s.get('ceiling_tps'))}); machine speed index "
                f"{_num(s.get('speed_index'), 2)}{moved}",
            )
        )
    return rows


def _concurrency_figure(fit: dict, measured: dict, fig_id: str) -> dict:
    points = fit["points"]
    top = max(max(n for n, _ in points) * 1.5, min(fit.get("knee_n") or 0, 4 * points[-1][0]))
    xs, ys = _curve(fit, top)
    marks = tuple(
        Mark(v, f"{name} {v:.0f}/s", colour)
        for v, name, colour in (
            (measured.get("capacity_tps"), "held", "green"),
            (measured.get("break_tps"), "broke", "red"),
        )
        if v
    )
    return plot(
        fig_id,
        [
            Trace(
                "probes (Little's law)",
                [n for n, _ in points],
                [x for _, x in points],
                "markers",
                "blue",
            ),
            Trace("USL model", xs, ys, "lines", "orange", dashed=True),
        ],
        x_title="requests in flight (rate x mean latency)",
        y_unit="reqps",
        marks=marks,
    )


def _replicas_figure(fit: dict, scal: dict, fig_id: str) -> dict:
    measured = {int(k): v for k, v in scal["replica_capacity_tps"].items()}
    need = [n for n in scal["replicas_needed"].values() if n]
    top = max([*measured, *need, 3]) + 1
    xs = list(range(1, top + 1))
    ys = [_model(fit["lambda"], fit["sigma"], fit["kappa"], n) for n in xs]
    target = scal["target_tps"]
    return plot(
        fig_id,
        [
            Trace("measured capacity", list(measured), list(measured.values()), "markers", "blue"),
            Trace("USL model", xs, ys, "lines+markers", "orange", dashed=True),
        ],
        x_title="shop replicas",
        y_unit="reqps",
        marks=(
            Mark(2 * target, f"2x TARGET_TPS {2 * target:g}/s", "purple"),
            Mark(5 * target, f"5x TARGET_TPS {5 * target:g}/s", "red"),
        ),
    )


def _fit_rows(fit: dict, unit: str) -> list[tuple[str, str]]:
    held = " (held at 0: two points cannot tell it from σ)" if fit["kappa_held_at_zero"] else ""
    return [
        ("σ (contention)", _num(fit["sigma"], 4)),
        ("κ (coherency)", _num(fit["kappa"], 6) + held),
        ("λ (throughput of one)", _tps(fit["lambda"])),
        (
            "predicted peak",
            f"{_tps(fit['peak_tps'])} at {_num(fit['peak_n'])} {unit}"
            if fit["peak_n"]
            else f"{_tps(fit['peak_tps'])} (no coherency cost: it flattens)",
        ),
        (
            "predicted knee (efficiency halved)",
            f"{_tps(fit['knee_tps'])} at {_num(fit['knee_n'])} {unit}",
        ),
        ("fit error", f"{fit['error'] * 100:.1f} % mean over {len(fit['points'])} points"),
    ]


def scalability_html(capacity: dict, figures: list[dict]) -> str:
    """The section; its figures are appended to `figures`."""
    parts = ["<p>" + "<br>".join(escape(line) for line in capacity["answer"].splitlines()) + "</p>"]
    parts.append(
        f'<p class="small">Machine speed index: {escape(capacity.get("speed_workload", ""))}; '
        "millions of loop turns per second, higher is faster, timed before each probe.</p>"
    )
    parts.append(_rows(searches_rows(capacity)))
    scal = capacity.get("scalability")
    if not scal:
        return "".join(parts)
    for w in scal["warnings"]:
        parts.append(
            f'<div class="finding warn"><b>Model and measurements disagree</b><br>{escape(w)}</div>'
        )
    fit = scal.get("concurrency")
    measured = scal["measured"]
    parts.append("<h3>Per probe: throughput against requests in flight</h3>")
    if fit:
        rows = _fit_rows(fit, "in flight") + [
            (
                "measured",
                f"held {_tps(measured['capacity_tps'])}, broke at {_tps(measured['break_tps'])}",
            ),
        ]
        parts.append(_beside(rows, figures, lambda i: _concurrency_figure(fit, measured, i)))
    else:
        parts.append(f"<p>No fit: {escape(scal['concurrency_note'])}.</p>")
    parts.append("<h3>Replicas: the scalability proposal</h3>")
    rfit = scal.get("replicas")
    if not rfit:
        parts.append(
            "<p>No replica sweep in this run: <code>make capacity "
            "LOCAL_SHOP_REPLICAS=1,2,3 LOCAL_SHOP_CPUS=0.5</code> measures each count "
            "and fits how throughput grows with replicas.</p>"
        )
        return "".join(parts)
    target = scal["target_tps"]
    rows = [(f"{k} replica(s)", _tps(v)) for k, v in scal["replica_capacity_tps"].items()]
    rows += _fit_rows(rfit, "replicas")
    for multiple, n in scal["replicas_needed"].items():
        rate = float(multiple.rstrip("x")) * target
        rows.append(
            (
                f"replicas needed for {multiple} TARGET_TPS ({rate:g}/s)",
                str(n) if n else "none: the model peaks below it",
            )
        )
    h = scal.get("holdout")
    if h:
        rows.append(
            (
                "out of sample",
                f"fitted on {h['fitted_on']}: predicted "
                f"{_tps(h['predicted_tps'])} for {h['count']}, measured "
                f"{_tps(h['measured_tps'])} ({h['error'] * 100:+.0f} %)",
            )
        )
    parts.append(_beside(rows, figures, lambda i: _replicas_figure(rfit, scal, i)))
    return "".join(parts)


def scalability_markdown(capacity: dict | None) -> list[str]:
    """The same in Markdown lines (CI summaries); [] without a capacity search."""
    if not capacity:
        return []
    out = ["## Capacity and the scalability proposal", ""]
    out += [f"- {line}" for line in capacity["answer"].splitlines()]
    out += [f"- {k}: {v}" for k, v in searches_rows(capacity)]
    scal = capacity.get("scalability") or {}
    for multiple, n in (scal.get("replicas_needed") or {}).items():
        out.append(
            f"- replicas needed for {multiple} TARGET_TPS: {n or 'none (model peaks below)'}"
        )
    return [*out, ""]
