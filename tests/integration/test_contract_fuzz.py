"""schemathesis against the shop's OpenAPI contract: no 5xx, every answer as documented, by the
Flask shop (in process, WSGI) and by the Spring shop (its jar, over HTTP), each on a schema of
its own."""

from __future__ import annotations

import dataclasses
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks as oas

from shop import create_app
from shop.openapi import spec
from shop.schema import metadata
from shop.seed import seed_catalog
from tests.integration.conftest import (
    assert_invariants,
    db_state,
    init_with_cli,
    start_spring_shop,
)

pytestmark = pytest.mark.integration
# `make test` runs a short, derandomized fuzz; `make fuzz` sets FUZZ_EXAMPLES much higher.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))

CHECKS = [
    not_a_server_error,
    oas.status_code_conformance,
    oas.content_type_conformance,
    oas.response_headers_conformance,
    oas.response_schema_conformance,
    oas.negative_data_rejection,
    oas.positive_data_acceptance,
    oas.missing_required_header,
    oas.unsupported_method,
    oas.use_after_free,
    oas.ensure_resource_availability,
]


@pytest.fixture(scope="module")
def fuzzed_app(mariadb, shop_settings):
    name = "shop_fuzz"
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    app = create_app(dataclasses.replace(shop_settings, database_url=mariadb.url(name)))
    engine = app.extensions["shop"].engine
    metadata.create_all(engine)
    seed_catalog(engine, users=20, products=10)
    yield app
    engine.dispose()
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {name}")


@pytest.fixture(scope="module")
def fuzzed_spring(harness_root, mariadb, redis_server):
    """The Spring shop on a schema of its own, made by the Flask shop's CLI."""
    name = "shop_fuzz_spring"
    engine = init_with_cli(mariadb, name)
    shop = start_spring_shop(harness_root / "spring-fuzz", mariadb.url(name), redis_server.url(4))
    yield shop, engine
    shop.stop()
    engine.dispose()
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {name}")


@dataclasses.dataclass(frozen=True)
class Target:
    """A shop under fuzz: how schemathesis calls it (`app` for WSGI, `base_url` over HTTP), and
    the schema whose books it keeps."""

    call: dict
    engine: object


def target_of(request, kind: str) -> Target:
    if kind == "flask":
        app = request.getfixturevalue("fuzzed_app")
        return Target({"app": app}, app.extensions["shop"].engine)
    shop, engine = request.getfixturevalue("fuzzed_spring")
    return Target({"base_url": shop.url}, engine)


# The contract is the Flask shop's own (shop/openapi.py), loaded once at collection; the Spring
# shop serves the same document. No `app` here: each call names the shop it goes to.
schema = schemathesis.openapi.from_dict(spec())


@pytest.fixture(params=["flask", "spring"])
def target(request) -> Target:
    return target_of(request, request.param)


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
def test_every_operation_answers_as_documented(case, target):
    engine = target.engine
    before = db_state(engine)
    response = case.call(**target.call)
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        assert db_state(engine) == before, "a rejected request changed the database"
    assert_invariants(engine)


@pytest.fixture
def engine(target):
    """The fuzzed shop's database, for make_user and make_product."""
    return target.engine


def test_an_order_merged_past_a_lines_bound_answers_as_the_contract_says(
    target, make_user, make_product
):
    # Two full lines of one product are one line of 2000 in the order: the 201 must be the
    # contract's Order (a line's bound is the request's, not the order's). Both shops.
    user_id, product_id = make_user(), make_product(price=1, stock=2_000)
    body = {"user_id": user_id, "items": [{"product_id": product_id, "quantity": 1_000}] * 2}
    case = schema["/api/orders"]["POST"].Case(body=body, media_type="application/json")
    response = case.call(**target.call)
    assert response.status_code == 201, response.text
    assert response.json()["items"] == [{"product_id": product_id, "quantity": 2_000, "price": 1}]
    case.validate_response(response, checks=CHECKS)


# The stateful phase: sequences of calls linked through the contract (an order placed, then
# read back by its id), every response checked as above, the books balanced after each run.
# One workflow per shop; the fixture below hands each the shop it drives.
TARGETS: dict[str, Target] = {}


class ShopWorkflow(schema.as_state_machine()):
    kind = "flask"

    def get_call_kwargs(self, case):
        return TARGETS[self.kind].call

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        __tracebackhide__ = True
        case.validate_response(response, checks=CHECKS,
                               transport_kwargs=kwargs or None, recorder=self.recorder)  # fmt: skip

    def teardown(self):
        assert_invariants(TARGETS[self.kind].engine)


class SpringShopWorkflow(ShopWorkflow):
    kind = "spring"


WORKFLOW_SETTINGS = settings(
    max_examples=max(5, EXAMPLES // 2),
    stateful_step_count=6,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


class TestShopWorkflow(ShopWorkflow.TestCase):
    settings = WORKFLOW_SETTINGS


class TestSpringShopWorkflow(SpringShopWorkflow.TestCase):
    settings = WORKFLOW_SETTINGS


@pytest.fixture(autouse=True)
def _workflow_target(request):
    """A workflow class (unittest-style, no fixtures of its own) gets its shop here."""
    kind = {TestShopWorkflow: "flask", TestSpringShopWorkflow: "spring"}.get(request.cls)
    if kind:
        TARGETS[kind] = target_of(request, kind)
    yield
    TARGETS.clear()
