"""The panels a runbook's Confirm section names in bold exist on the dashboards, by title."""

from __future__ import annotations

import json
import re

import pytest

from dashboards.common import REPO

RUNBOOKS = sorted((REPO / "docs" / "runbooks").glob("*.md"))
DASHBOARDS = sorted((REPO / "provisioning" / "grafana" / "dashboards").glob("*.json"))
# Bold words in Confirm sections that are not panel titles: the deadlock annotation, and the
# two halves of a deadlock's lock list.
NOT_PANELS = {"InnoDB deadlocks", "holds", "waiting"}


def titles() -> set[str]:
    return {panel["title"] for d in DASHBOARDS for panel in json.loads(d.read_text())["panels"]}


def confirm_bold(runbook) -> list[str]:
    section = re.search(r"^## Confirm\n(.*?)(?=^## |\Z)", runbook.read_text(), re.S | re.M)
    if section is None:
        return []
    return [" ".join(b.split()) for b in re.findall(r"\*\*([^*]+)\*\*", section.group(1))]


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=lambda p: p.name)
def test_every_panel_a_runbook_names_exists(runbook):
    unknown = [b for b in confirm_bold(runbook) if b not in titles() | NOT_PANELS]
    assert unknown == [], f"{runbook.name} names panels no dashboard has: {unknown}"


def test_the_runbooks_name_panels_at_all():
    named = [b for r in RUNBOOKS for b in confirm_bold(r) if b in titles()]
    assert len(named) >= 40, named  # the check above would pass vacuously on a renamed section
