"""deploy/k8s/ as kustomize builds it: which folders are kustomizations, the objects `kubectl
kustomize` renders from one (the venv's kubectl, no flags: what `kubectl apply -k`, Argo CD and
Flux run), and how to find an object among them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
K8S_DIR = REPO / "deploy" / "k8s"
KUBECTL = Path(sys.executable).parent / "kubectl"


class RenderError(RuntimeError):
    """kubectl kustomize failed; the message is its first line of complaint."""


def kustomizations(root: Path = K8S_DIR) -> list[Path]:
    """Every folder under deploy/k8s/ a user applies (`kubectl apply -k <dir>`)."""
    return sorted(p.parent for p in root.rglob("kustomization.yaml"))


def render(directory: Path) -> list[dict]:
    """The objects `kubectl kustomize <directory>` builds. With kustomize's default load
    restrictor: a file read from outside the kustomization's folder fails the render."""
    if not KUBECTL.exists():
        raise RenderError(f"{KUBECTL} not found: run `make setup`")
    proc = subprocess.run(
        [str(KUBECTL), "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"]
        raise RenderError(lines[0])
    return [obj for obj in yaml.safe_load_all(proc.stdout) if obj]


def name_of(obj: Mapping) -> str:
    return f"{obj.get('kind', '?')}/{obj.get('metadata', {}).get('name', '?')}"


def find(objects: Iterable[Mapping], kind: str, name: str) -> Mapping | None:
    return next((o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name), None)


def container_of(obj: Mapping) -> Mapping:
    return obj["spec"]["template"]["spec"]["containers"][0]
