"""Panel descriptions live in dashboards/panels.yaml: every panel has one, every entry is shown,
every placeholder is a field of description_fields(); a mismatch fails the build, by name."""

from __future__ import annotations

import json
import string

import pytest
import yaml

from dashboards import build, common, queries
from dashboards.common import UIDS, Panels, Query

RAW = yaml.safe_load(common.PANEL_TEXT.read_text())
SHOWN = {
    (key, panel["title"]): panel["description"]
    for key in UIDS
    for panel in queries.panels(json.loads(build.render(build.load(key))))
}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_panel_shows_its_entry_and_every_entry_a_panel():
    entries = {(key, title) for key, texts in common.descriptions().items() for title in texts}
    assert sorted(entries - set(SHOWN)) == [], "entries no panel shows"
    assert sorted(set(SHOWN) - entries) == [], "panels without an entry"
    for (key, title), description in SHOWN.items():
        assert description.strip(), (key, title)
        entry = common.descriptions()[key][title]
        # What follows the entry is the panel's own: the dialects it needs, from its queries.
        assert description == entry or description.startswith(f"{entry} Needs "), (key, title)


def test_every_placeholder_is_a_description_field_and_every_field_is_used():
    used = set()
    for key, texts in RAW.items():
        for title, text in texts.items():
            fields = _fields(text)
            assert fields <= set(common.description_fields()), (key, title, fields)
            used |= fields
    assert used == set(common.description_fields())
    for text in (t for texts in common.descriptions().values() for t in texts.values()):
        assert "{" not in text and "}" not in text, text


def test_placeholders_render_the_error_slo():
    cockpit = common.descriptions()["cockpit"]
    assert f"{common.error_rate():.0%}" in cockpit["5xx ratio (1m)"]


def test_a_panel_without_an_entry_fails_naming_dashboard_and_title():
    with pytest.raises(ValueError, match=r"k6 has no description for 'Nope'"):
        Panels("k6").stat("Nope", [Query("up")], "short")


def test_an_entry_without_a_panel_fails_naming_it():
    panels = Panels("locust")
    peak_users = panels.stat("Peak users", [Query("up")], "short")
    with pytest.raises(ValueError, match=r"locust has no panel titled \['Workers now', 'Users"):
        panels.dashboard("x", common.layout((4, [(12, peak_users)])))


@pytest.fixture
def panel_text(tmp_path, monkeypatch):
    """A stand-in panels.yaml; the cache is cleared around it."""
    path = tmp_path / "panels.yaml"
    monkeypatch.setattr(common, "PANEL_TEXT", path)
    common.descriptions.cache_clear()
    yield path
    common.descriptions.cache_clear()


def test_an_unknown_placeholder_fails_naming_dashboard_and_title(panel_text):
    panel_text.write_text("k6:\n  VUs: busy {nope} VUs\n")
    with pytest.raises(ValueError, match=r"k6 / 'VUs': no field 'nope'"):
        common.descriptions()


def test_an_unknown_dashboard_fails(panel_text):
    panel_text.write_text("k7:\n  VUs: busy VUs\n")
    with pytest.raises(ValueError, match=r"\['k7'\] are not dashboards"):
        common.descriptions()
