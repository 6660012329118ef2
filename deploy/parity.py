"""What the rendered manifests must share with the rest of the repository and with each other:
compose's images, commands, env and limits (stack/services.py), every rule file, dashboard and
script shipped in its ConfigMap and laid out where its imports look, and every autoscaler metric
served by prometheus-adapter."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from deploy.render import REPO, container_of, find, name_of
from deploy.validate import ADAPTER_CONFIGMAP, adapter_config, adapter_metric_names


def compose_services() -> dict[str, dict]:
    """compose's services as the service table renders them, `${VAR:-default}` at defaults."""
    from stack.compose_file import compose_service
    from stack.services import SERVICES
    from stack.settings import DEFAULTS_FILE, read_env_file

    defaults = read_env_file(DEFAULTS_FILE)
    rendered = {
        name: compose_service(row, defaults)
        for name, row in SERVICES.items()
        if row.compose is not None
    }
    return json.loads(re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", json.dumps(rendered)))


def k8s_memory(compose_memory: str) -> str:
    """Docker's binary units (4g, 512m) in Kubernetes' spelling (4Gi, 512Mi)."""
    number, unit = re.fullmatch(r"(\d+)([kmg]?)b?", compose_memory.lower()).groups()
    return number + {"": "", "k": "Ki", "m": "Mi", "g": "Gi"}[unit]


def k8s_resources(compose: Mapping) -> dict:
    """compose's cpus / mem_limit as requests equal to limits (the box, guaranteed)."""
    box = {"cpu": str(compose["cpus"]), "memory": k8s_memory(compose["mem_limit"])}
    return {"requests": box, "limits": dict(box)}


def _env(container: Mapping) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def check_parity(objects: Sequence[Mapping]) -> list[str]:
    """The shop and the InnoDB exporter (and, where rendered, the test cluster's MariaDB, Redis
    and seed) run what compose runs: one source, stack/services.py."""
    compose, errors = compose_services(), []
    shop = find(objects, "Deployment", "shop")
    if shop:
        c = container_of(shop)
        # The Spring overlay runs compose's `spring-shop` in the shop's place (deploy/k8s/spring).
        spring = c.get("image") == compose["spring-shop"]["image"]
        want = compose["spring-shop" if spring else "shop"]
        pairs = {
            "image": (c.get("image"), want["image"]),
            "command": (c.get("command"), want["command"]),
            "env": (_env(c), want["environment"]),
            "resources": (c.get("resources"), k8s_resources(want)),
            "readinessProbe": (c.get("readinessProbe", {}).get("httpGet", {}).get("path"),
                               "/readyz"),
            "livenessProbe": (c.get("livenessProbe", {}).get("httpGet", {}).get("path"),
                              "/healthz"),
        }  # fmt: skip
        errors += [f"Deployment/shop: {key} {got!r}, compose: {exp!r}"
                   for key, (got, exp) in pairs.items() if got != exp]  # fmt: skip
    init = find(objects, "Job", "shop-init")
    if init and container_of(init).get("command") != compose["shop-init"]["command"]:
        errors.append("Job/shop-init: command differs from compose's shop-init")
    mysql = find(objects, "StatefulSet", "mysql")
    if mysql:
        c = container_of(mysql)
        # MySQL-only and file-log flags stay in compose (the log goes to stderr here).
        want = [a for a in compose["mysql"]["command"] if not a.startswith("--log-error")]
        if c.get("args") != want:
            errors.append(f"StatefulSet/mysql: args {c.get('args')!r}, compose: {want!r}")
        if c.get("resources") != k8s_resources(compose["mysql"]):
            errors.append("StatefulSet/mysql: resources differ from compose's mysql limits")
    exporter = find(objects, "Deployment", "innodb-exporter")
    if exporter:
        c, want = container_of(exporter), compose["innodb-exporter"]
        # No error log here: a pod cannot follow another pod's file.
        env = {k: v for k, v in want["environment"].items() if k != "INNODB_EXPORTER_ERROR_LOG"}
        pairs = {"image": (c.get("image"), want["image"]), "args": (c.get("args"), want["command"]),
                 "env": (_env(c), env)}  # fmt: skip
        errors += [f"Deployment/innodb-exporter: {key} {got!r}, compose: {exp!r}"
                   for key, (got, exp) in pairs.items() if got != exp]  # fmt: skip
    redis = find(objects, "StatefulSet", "redis")
    if redis and container_of(redis).get("command") != compose["redis"]["command"]:
        errors.append("StatefulSet/redis: command differs from compose's redis")
    return errors


def check_autoscaler(objects: Sequence[Mapping]) -> list[str]:
    """Every Pods metric an HPA targets is one the adapter's rules serve."""
    adapter = find(objects, "ConfigMap", ADAPTER_CONFIGMAP)
    served = adapter_metric_names(adapter_config(adapter)) if adapter else set()
    return [
        f"{name_of(hpa)}: Pods metric {m['pods']['metric']['name']} is served by no "
        f"prometheus-adapter rule"
        for hpa in objects
        if hpa["kind"] == "HorizontalPodAutoscaler"
        for m in hpa["spec"].get("metrics", [])
        if m["type"] == "Pods" and m["pods"]["metric"]["name"] not in served
    ]


def _keys(objects: Iterable[Mapping], prefix: str) -> set[str]:
    maps = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == prefix]
    maps += [o for o in objects if o["kind"] == "ConfigMap"
             and o["metadata"]["name"].startswith(prefix + "-")]  # fmt: skip
    return {key for o in maps for key in o.get("data", {})}


def check_sources(objects: Sequence[Mapping]) -> list[str]:
    """Every rule file, dashboard and k6 script of the repository is in its ConfigMap, and the
    TestRun lays the scripts out as k6/ does (their imports are relative)."""
    errors = []
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}
    expected = {
        "prometheus-rules": (REPO / "provisioning/prometheus/rules", "*.yml"),
        "grafana-dashboard": (REPO / "provisioning/grafana/dashboards", "*.json"),
        "shoplab-k6": (REPO / "k6", "**/*.js"),
    }
    for prefix, (folder, pattern) in expected.items():
        if not any(n == prefix or n.startswith(prefix + "-") for n in names):
            continue
        want = {p.name for p in folder.glob(pattern)}
        missing = sorted(want - _keys(objects, prefix))
        if missing:
            errors.append(f"ConfigMap/{prefix}: missing {', '.join(missing)}")
    testrun = find(objects, "TestRun", "shoplab-load")
    if testrun:
        items = [i for v in testrun["spec"]["runner"].get("volumes", [])
                 for i in v.get("configMap", {}).get("items", [])]  # fmt: skip
        laid = {i["path"] for i in items}
        want = {str(p.relative_to(REPO / "k6")) for p in (REPO / "k6").glob("**/*.js")}
        if laid != want:
            errors.append(f"TestRun/shoplab-load: runner volume lays out {sorted(laid)}, "
                          f"k6/ has {sorted(want)}")  # fmt: skip
    return errors


LOCUSTFILE = REPO / "locust" / "locustfile.py"


def _repo_imports(path: Path) -> set[str]:
    """The modules of this repository `path` imports, and theirs, transitively."""
    found: set[str] = set()
    todo = [path]
    while todo:
        tree = ast.parse(todo.pop().read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                module = REPO / name.replace(".", "/")
                source = module.with_suffix(".py") if module.with_suffix(".py").exists() else (
                    module / "__init__.py")  # fmt: skip
                if name not in found and source.exists():
                    found.add(name)
                    todo.append(source)
    return found


def _mounted_files(objects: Sequence[Mapping], pod: Mapping, container: Mapping) -> set[str]:
    """The paths the container sees from its ConfigMap volumes."""
    volumes = {v["name"]: v.get("configMap") for v in pod.get("volumes", [])}
    files = set()
    for mount in container.get("volumeMounts", []):
        source = volumes.get(mount["name"])
        if not source:
            continue
        keys = [i["path"] for i in source.get("items", [])]
        if not keys:
            keys = list((find(objects, "ConfigMap", source["name"]) or {}).get("data", {}))
        files |= {f"{mount['mountPath']}/{key}" for key in keys}
    return files


def check_locust_layout(objects: Sequence[Mapping]) -> list[str]:
    """Every Locust pod finds the locustfile it is given and every module of the repository the
    locustfile imports, where Python looks (PYTHONPATH): a module that moves in the repository
    must move in the mounts too."""
    wanted = sorted(_repo_imports(LOCUSTFILE))
    errors = []
    for obj in objects:
        if obj["kind"] not in ("Job", "Deployment"):
            continue
        pod = obj["spec"]["template"]["spec"]
        for c in pod["containers"]:
            given = [a for a in c.get("args", []) if a.endswith(LOCUSTFILE.name)]
            if not given:
                continue
            files, root = _mounted_files(objects, pod, c), _env(c).get("PYTHONPATH", "")
            errors += [f"{name_of(obj)}: {path} is not mounted" for path in given
                       if path not in files]  # fmt: skip
            for module in wanted:
                where = f"{root}/{module.replace('.', '/')}"
                if f"{where}.py" not in files and f"{where}/__init__.py" not in files:
                    errors.append(f"{name_of(obj)}: the locustfile imports {module}: nothing "
                                  f"mounted at {where}.py (PYTHONPATH={root})")  # fmt: skip
    return errors
