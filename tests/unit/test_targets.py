"""Target files: the built-ins read, `like:` inherits, and every mistake is refused in one line
naming the file and the field, before anything starts."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from targets import BUILT_INS, TargetError, find_target, read_target, target_path

EXTERNAL = """
    name: mine
    app: {url: "http://127.0.0.1:8080", ready: /health}
    metrics: {dialect: micrometer}
    database: {dsn: "mysql://root@127.0.0.1:3306/shop"}
    ids: {user: {range: [1, 500]}}
    hot: user
    endpoints:
      - {name: read, method: GET, path: "/api/users/{user}", p95_ms: 80}
"""


def external(**changes: str) -> str:
    text = textwrap.dedent(EXTERNAL)
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.mark.parametrize("name", BUILT_INS)
def test_every_built_in_reads_and_is_started_by_the_stack(name):
    target = find_target({"TARGET": name})
    assert target.name == name and target.start == name and not target.external
    assert target.names == ("orders", "popular")
    assert [e.p95_ms for e in target.endpoints] == [200, 50]
    assert target.audit.books == "shop" and target.hot == "user"


def test_no_target_means_the_flask_shop():
    target = find_target({})
    assert (target.name, target.dialect, target.metrics_path) == ("shop", "flask", "/metrics")


def test_spring_shop_is_the_shop_with_its_own_app_and_dialect():
    shop, spring = find_target({"TARGET": "shop"}), find_target({"TARGET": "spring-shop"})
    assert spring.endpoints == shop.endpoints and spring.ids == shop.ids
    assert (spring.dialect, spring.metrics_path) == ("micrometer", "/actuator/prometheus")


def test_an_external_target_is_scraped_where_it_answers_and_names_its_database():
    target = read_target(external(), Path("mine.yaml"))
    assert target.external and target.url == "http://127.0.0.1:8080"
    assert target.scrape == ("127.0.0.1:8080",) and target.dsn.port == 3306
    assert target.audit.described.startswith("none: the target names no books")
    assert target.database_url == "mysql+pymysql://root@127.0.0.1:3306/shop"
    quoted = read_target(external(**{"root@": "app:p@ss@"}), Path("mine.yaml"))
    assert quoted.database_url == "mysql+pymysql://app:p%40ss@127.0.0.1:3306/shop"
    assert target.as_plan()["endpoints"][0]["key"] == "GET /api/users/{user}"


def test_a_file_of_the_users_may_inherit_a_built_in(tmp_path):
    path = tmp_path / "staging.yaml"
    path.write_text("like: spring-shop\nname: staging\napp: {url: 'http://127.0.0.1:9000'}\n"
                    "database: {dsn: 'mysql://u:p@127.0.0.1:3307/shop'}\n")  # fmt: skip
    target = find_target({"TARGET": str(path)})
    assert target.name == "staging" and target.external and target.dialect == "micrometer"
    assert target.scrape == ("127.0.0.1:9000",) and target.audit.books == "shop"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (external(micrometer="prometheus"),
         "mine.yaml: metrics.dialect: 'prometheus' is not one of flask, micrometer, none"),
        (external(**{'"http://127.0.0.1:8080"': '"ftp://x"'}),
         "mine.yaml: app.url: 'ftp://x' is not an http:// or https:// URL with a host"),
        (external(**{"http://127.0.0.1:8080": "http://127.0.0.1:99999"}),
         "mine.yaml: app.url: 'http://127.0.0.1:99999' has a bad port"),
        (external(**{"name: read, method: GET, ": "name: read, "}),
         "mine.yaml: endpoints[0].method: missing"),
        (external(**{"method: GET": "method: FETCH"}),
         "mine.yaml: endpoints[0].method: 'FETCH' is not one of GET, POST, PUT, PATCH, DELETE"),
        (external(**{"mysql://root@127.0.0.1:3306/shop": "postgres://root@h/shop"}),
         "mine.yaml: database.dsn: must start with mysql://"),
        (external(**{"mysql://root@127.0.0.1:3306/shop": "mysql://"}),
         "mine.yaml: database.dsn: needs a host"),
        (external(**{", p95_ms: 80": ""}), "mine.yaml: endpoints[0].p95_ms: missing"),
        (external(**{"{user}": "{customer}"}),
         "mine.yaml: endpoints[0].path: draws {customer}, which `ids` does not define"),
        (external(**{"hot: user": "hot: product"}),
         "mine.yaml: hot: 'product' is not one of the ids (user)"),
        (external(**{"[1, 500]": "[500, 1]"}),
         "mine.yaml: ids.user.range: must be [low, high], whole numbers, low <= high"),
        (external(**{'app: {url: "http://127.0.0.1:8080", ready: /health}': "app: {}"}),
         "mine.yaml: app.url: missing: an external target needs the URL the load goes to"),
        (external(**{"name: mine": "name: mine\ncolour: blue"}),
         "mine.yaml: colour: unknown field"),
        (external(**{"path:": "path: [", "/api/users/{user}": ""}), "mine.yaml: line "),
        ("name: x\n", "mine.yaml: app: missing"),
        (external(**{"p95_ms: 80}": "p95_ms: 80, body: {a: 1}}"}),
         "mine.yaml: endpoints[0].body: a GET has no body"),
    ],
)  # fmt: skip
def test_a_mistake_is_one_line_naming_the_field(text, message):
    with pytest.raises(TargetError) as caught:
        read_target(text, Path("mine.yaml"))
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_unknown_target_names_the_built_ins():
    with pytest.raises(TargetError, match=r"^TARGET='nosuch' is neither a built-in \(shop, "):
        find_target({"TARGET": "nosuch"})
    assert target_path("shop").name == "shop.yaml"
