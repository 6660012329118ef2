"""The gate's and the A/B's results as Markdown for a CI job summary ($GITHUB_STEP_SUMMARY):
pure functions of the result objects."""

from __future__ import annotations

from pathlib import Path

from lab.report import units


def _ms(v) -> str:
    return units.fmt(v, "ms")


def _rate(v) -> str:
    return units.fmt(v, "reqps")


def _pct(v) -> str:
    return units.fmt(v, "percentunit")


def demoted(markdown: str) -> str:
    """Every heading one level down, so a whole report sits under one of ours."""
    return "\n".join("#" + line if line.startswith("#") else line for line in markdown.splitlines())


def gate_markdown(result) -> str:
    """The gate's verdict, each step's figures and failures, then the load run's report."""
    state = "NO VERDICT" if result.error else ("PASS" if result.passed else "FAIL")
    out = [f"# shoplab gate: {state}", "", f"`{result.verdict_line()}`", ""]
    if result.failed:
        out += ["## Failed", ""] + [f"- `{name}`" for name in result.failed] + [""]
    out += [
        "## Runs",
        "",
        "| run | testid | verdict | requests | achieved | hold | orders p95 | popular p95 "
        "| errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for step in result.steps:
        f = step.figures
        verdict = {0: "PASS", 1: "FAIL"}.get(step.exit_code, "no verdict")
        out.append(
            f"| {step.name} | `{step.testid}` | {verdict} | {units.fmt(f.get('requests'))} | "
            f"{_rate(f.get('achieved_tps'))} | {_rate(f.get('hold_tps'))} | "
            f"{_ms(f.get('orders_p95_ms'))} | {_ms(f.get('popular_p95_ms'))} | "
            f"{_pct(f.get('error_rate'))} |"
        )
    s = result.settings
    out += [
        "",
        f"{s['tool']}, TARGET_TPS {s['target_tps']:g}, SCALE {s['scale']:g}, budget "
        f"{s['budget_s']:.0f} s, commit `{result.git_commit or 'n/a'}`; results in "
        f"`{result.results}`.",
        "",
    ]
    if result.trend:
        out += [f"Run history: {result.trend}", ""]
    for step in result.steps:
        if step.lines:
            out += [f"<details><summary>{step.name} verdict block</summary>", "", "```text"]
            out += list(step.lines) + ["```", "", "</details>", ""]
    md = result.report.get("md")
    if md and Path(md).exists():
        out += [demoted(Path(md).read_text()), ""]
    elif result.steps and result.steps[-1].name == "load":
        out += [f"No report: {result.report_error or 'not written'}.", ""]
    return "\n".join(out)


def ab_markdown(result) -> str:
    """The smallest detectable change first, then each ratio head/base with its interval and
    verdict, then every pass with the machine beside it."""
    if result.error:
        state = "NO VERDICT"
    elif result.regressions:
        state = "REGRESSION"
    elif result.improvements:
        state = "IMPROVEMENT"
    else:
        state = "NO DIFFERENCE DETECTABLE AT THIS NOISE"
    out = [f"# shoplab A/B: {state}", "", f"`{result.detectable_line()}`", "",
           f"`{result.verdict_line()}`", ""]  # fmt: skip
    out += [
        f"base `{result.base_commit}` ({result.settings['base']}), head `{result.head_commit}`; "
        f"{result.settings['passes']} passes each in ABBA order; the tolerance is the A/A "
        "noise: how far passes of one build differ among themselves.",
        "",
        "| metric | base | head | head/base [interval] | A/A noise (one pass) | smallest "
        "detectable | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in result.comparisons:
        noise = "n/a" if c.noise is None else f"±{c.noise * 100:.0f} %"
        out.append(
            f"| {c.label} | {units.fmt(c.base, c.unit)} | {units.fmt(c.head, c.unit)} | "
            f"{c.interval()} | {noise} | {c.detectable_text()} | {c.verdict} |"
        )
    out += [
        "",
        "| pass | build | testid | "
        + " | ".join(c.label for c in result.comparisons)
        + " | speed index | other processes (cores) |",
        "|---|---|---|" + "---|" * (len(result.comparisons) + 2),
    ]
    for i, p in enumerate(result.passes, start=1):
        cells = " | ".join(units.fmt(p.values.get(c.name), c.unit) for c in result.comparisons)
        machine = f"{units.fmt(p.speed_index)} | {units.fmt(p.others_cores)}"
        out.append(f"| {i} | {p.build} | `{p.testid}` | {cells} | {machine} |")
    return "\n".join(out) + "\n"
