"""`python -m exporters.innodb parse|serve` as people run it: output, exit codes, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "innodb"
GOLDEN = Path(__file__).resolve().parent / "golden" / "innodb"


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "exporters.innodb", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def test_parse_prints_every_deadlock_as_json_in_the_documented_shape():
    name = "mariadb-10.11_show-engine-innodb-status_three-way-deadlock.txt"
    done = run("parse", str(FIXTURES / name), "--format", "json")

    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)
    assert list(output) == ["deadlocks"]
    assert output["deadlocks"] == json.loads((GOLDEN / f"{name}.json").read_text())["deadlocks"]
    (deadlock,) = output["deadlocks"]
    assert list(deadlock) == ["timestamp", "victim", "too_deep", "transactions"]
    assert list(deadlock["transactions"][0]) == [
        "number",
        "trx_id",
        "thread_id",
        "query",
        "waiting",
        "holding",
    ]
    assert list(deadlock["transactions"][0]["waiting"]) == [
        "schema",
        "table",
        "index",
        "type",
        "mode",
    ]


def test_parse_of_an_error_log_gives_every_deadlock_in_order():
    done = run("parse", str(FIXTURES / "mariadb-10.11_error-log_burst-20-deadlocks.txt"))
    assert done.returncode == 0
    assert len(json.loads(done.stdout)["deadlocks"]) == 20


def test_parse_redact_replaces_literals():
    name = "mariadb-10.11_show-engine-innodb-status_fk-deadlock.txt"
    done = run("parse", str(FIXTURES / name), "--redact")
    queries = [t["query"] for t in json.loads(done.stdout)["deadlocks"][0]["transactions"]]
    assert queries == ["UPDATE users SET point = point - ?, username = ? WHERE id = ?"] * 2


def test_parse_without_a_deadlock_prints_an_empty_list_and_exits_0():
    name = "mariadb-10.11_show-engine-innodb-status_no-deadlock.txt"
    done = run("parse", str(FIXTURES / name), "--format", "json")
    assert (done.returncode, json.loads(done.stdout), done.stderr) == (0, {"deadlocks": []}, "")


@pytest.mark.parametrize("text", ["root:x:0:0:root:/root:/bin/bash\n", ""], ids=["passwd", "empty"])
def test_parse_of_a_file_without_any_innodb_status_says_so_and_exits_1(tmp_path, text):
    path = tmp_path / "passwd"
    path.write_text(text)
    done = run("parse", str(path), "--format", "json")
    assert done.returncode == 1
    assert json.loads(done.stdout) == {"deadlocks": []}
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"innodb-exporter parse: {path}: no InnoDB status output")


def test_parse_of_truncated_text_warns_on_stderr():
    name = "mariadb-10.11_show-engine-innodb-status_fk-deadlock.txt"
    text = (FIXTURES / name).read_text()

    done = subprocess.run(
        [sys.executable, "-m", "exporters.innodb", "parse", "/dev/stdin"],
        cwd=REPO,
        input=text[: text.index("*** (2) TRANSACTION")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0
    assert json.loads(done.stdout) == {"deadlocks": []}
    assert done.stderr.strip() == "innodb-exporter parse: warning: 1 truncated"


@pytest.mark.parametrize("path", ["/nonexistent/status.txt", "/"])
def test_parse_of_an_unreadable_file_exits_2_with_one_line(path):
    done = run("parse", path, "--format", "json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert path in done.stderr


@pytest.mark.parametrize(
    ("args", "env", "variable"),
    [
        (["serve"], {}, "INNODB_EXPORTER_DSN"),
        (["serve", "--dsn", "postgres://x@y/"], {}, "INNODB_EXPORTER_DSN"),
        (["serve", "--dsn", "mysql://u@h/", "--listen", "nowhere"], {}, "INNODB_EXPORTER_LISTEN"),
        (["serve", "--dsn", "mysql://u@h/"], {"INNODB_EXPORTER_MAX_TABLES": "0"}, "MAX_TABLES"),
    ],
)
def test_serve_with_bad_settings_exits_2_naming_the_variable(args, env, variable):
    clean = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **env}
    done = run(*args, env=clean)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert variable in line
