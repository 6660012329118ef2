"""The optional extra corpus a checkout may have beside it: more InnoDB status samples and
k6-operator's TestRun CRD. One setting names it (SHOPLAB_EXTRAS); the repository never needs it.

What reads it (the parser's sample tests, the exporter's bench, `make lint`'s TestRun check)
uses it when it is there and says in one line that it skipped when it is not: the project's own
fixtures keep the parser, the exporter and the k8s objects tested either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIABLE = "SHOPLAB_EXTRAS"
# Where a checkout of this workplace finds it when the variable is not set.
DEFAULT = REPO.parent / "shared"
SAMPLES = "innodb-status-samples"
TESTRUN_CRD = "k8s-crds/k6.io_testruns.yaml"


@dataclass(frozen=True)
class Extras:
    """The extras folder, or None with the reason it is absent."""

    root: Path | None
    reason: str = ""

    def path(self, relative: str) -> Path | None:
        """A file or folder of the extras, None when the extras or that part are absent."""
        if self.root is None:
            return None
        found = self.root / relative
        return found if found.exists() else None

    def why_not(self, relative: str) -> str:
        """One line: why `relative` cannot be read (for a skip or a lint line)."""
        if self.root is None:
            return self.reason
        return f"{VARIABLE}={self.root} has no {relative}"

    @property
    def samples(self) -> Path | None:
        return self.path(SAMPLES)

    @property
    def testrun_crd(self) -> Path | None:
        return self.path(TESTRUN_CRD)


def find_extras(env: Mapping[str, str]) -> Extras:
    """SHOPLAB_EXTRAS when set (it must then exist), else the default folder when present."""
    given = env.get(VARIABLE, "").strip()
    if given:
        root = Path(given).expanduser()
        if not root.is_dir():
            return Extras(None, f"{VARIABLE}={given} is not a folder")
        return Extras(root.resolve())
    if DEFAULT.is_dir():
        return Extras(DEFAULT.resolve())
    return Extras(None, f"no extra samples ({VARIABLE} is not set)")


def sample_files(extras: Extras) -> list[Path]:
    """The extra InnoDB status samples, sorted; empty when absent."""
    folder = extras.samples
    if folder is None:
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix not in (".md", ".py"))
