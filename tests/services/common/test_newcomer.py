"""What a newcomer meets in every service (issue 19): API docs that work offline, errors that say where and
what, and log lines that help without carrying identifiers."""

from __future__ import annotations

import importlib
import logging
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel

from sandbox import topology
from services.common.app import create_service_app
from services.common.guard import RouteTable
from services.common.logs import AccessLogMiddleware, configure_logging, path_template
from services.common.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "empty_migrations"
PROCESSES = [name for name, process in topology.load().processes.items() if process.available]
REFERENCE = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")


@pytest.fixture
def service_app(tmp_path, monkeypatch):
    """A topology process's app, as `sandbox serve` builds it, on an empty data directory."""

    def build(name: str):  # noqa: ANN202
        process = topology.load().processes[name]
        monkeypatch.setenv(f"{process.env_prefix}DATA_DIR", str(tmp_path / name))
        monkeypatch.delenv("DATABASE_URL", raising=False)
        return importlib.import_module(process.module).create_app()

    return build


@pytest.mark.parametrize("name", PROCESSES)
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_reference_no_external_host(service_app, name, page):
    client = TestClient(service_app(name))  # no lifespan: the docs need no database
    html = client.get(page)
    assert html.status_code == 200
    references = [a or b for a, b in REFERENCE.findall(html.text)]
    assert any(r.endswith(".js") for r in references), references
    assert not re.search(r"https?://", html.text), "the page names an external host"
    for reference in references:
        assert not urlsplit(reference).netloc, reference
        assert client.get(reference).status_code == 200, reference


class Order(BaseModel):
    amount: int


def _app(tmp_path, db_fields):  # noqa: ANN202
    router = APIRouter()

    @router.post("/public/orders")
    def order(body: Order) -> dict:
        return {"amount": body.amount}

    @router.get("/accounts/{code}")
    def account(code: str) -> dict:
        return {"code": code}

    settings = ServiceSettings(service_name="provider", data_dir=tmp_path, **db_fields)
    return create_service_app(
        settings=settings,
        title="provider",
        description="d",
        migrations_dir=MIGRATIONS,
        routers=[router],
        route_table=RouteTable(services={"read": ("/accounts",)}, public=("/public",)),
    )


def test_invalid_json_is_reported_with_its_line_and_column(tmp_path, db_fields):
    with TestClient(_app(tmp_path, db_fields)) as client:
        answer = client.post(
            "/public/orders",
            content=b'{\n  "amount": 5,\n  "note": oops\n}',
            headers={"content-type": "application/json"},
        )
    assert answer.status_code == 400
    message = answer.json()["details"][0]["message"]
    assert message == "invalid JSON at line 3, column 11: Expecting value", answer.json()


def test_a_direct_call_is_told_which_header_is_missing(tmp_path, db_fields):
    with TestClient(_app(tmp_path, db_fields)) as client:
        answer = client.get("/accounts/ACC-12345")
    assert answer.status_code == 401
    assert "missing header Information-Mediator-Assertion" in answer.json()["error"]
    assert "forwarded by the Information Mediator" in answer.json()["error"]


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_the_access_log_has_one_line_per_request_without_identifiers(tmp_path, db_fields):
    app = _app(tmp_path, db_fields)  # configures logging as every service does
    captured = Lines()
    logging.getLogger("access").addHandler(captured)
    try:
        with TestClient(AccessLogMiddleware(app)) as client:
            client.get("/health")
            client.post("/public/orders", json={"amount": "many"}, headers={"X-Road-Id": "m-1"})
            client.get("/accounts/ACC-12345")
    finally:
        logging.getLogger("access").removeHandler(captured)
    lines = captured.lines
    assert len(lines) == 2, lines  # health probes are not logged
    assert re.fullmatch(r"POST /public/orders 400 [\d.]+ ms message=m-1 \(invalid amount\)", lines[0]), lines[0]
    assert re.fullmatch(
        r"GET /accounts/\{id\} 401 [\d.]+ ms message=- \(missing header Information-Mediator-Assertion\)", lines[1]
    ), lines[1]


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/accounts/ACC-12345", {"code": "ACC-12345"}, "/accounts/{code}"),
        (
            "/r1/SANDBOX/GOV/MEMBER/APP/consent/individual/9038952310/",
            {},
            "/r1/SANDBOX/GOV/MEMBER/APP/consent/individual/{id}/",
        ),
        ("/users/someone@example.org", {}, "/users/{id}"),
        ("/v1/records/1f0c2a9e-3b4d-4e5f-8a9b-0c1d2e3f4a5b", {}, "/v1/records/{id}"),
        ("/service/data-agreement/da-usct-enrollment/", {}, "/service/data-agreement/da-usct-enrollment/"),
    ],
)
def test_paths_are_logged_with_placeholders(path, params, expected):
    assert path_template({"path": path, "path_params": params}) == expected


def test_alembic_says_nothing_at_start_up():
    configure_logging()
    assert not logging.getLogger("alembic.runtime.plugins").isEnabledFor(logging.INFO)
    assert not logging.getLogger("alembic.runtime.migration").isEnabledFor(logging.INFO)


def test_an_unexpected_error_is_logged_with_its_cause(tmp_path, db_fields):
    router = APIRouter()

    @router.get("/public/broken/{code}")
    def broken(code: str) -> dict:
        raise ZeroDivisionError("the cause")

    settings = ServiceSettings(service_name="provider", data_dir=tmp_path, **db_fields)
    app = create_service_app(
        settings=settings,
        title="p",
        description="d",
        migrations_dir=MIGRATIONS,
        routers=[router],
        route_table=RouteTable(public=("/public",)),
    )
    captured = Lines()
    logging.getLogger().addHandler(captured)
    try:
        with TestClient(AccessLogMiddleware(app), raise_server_exceptions=False) as client:
            assert client.get("/public/broken/ACC-12345").status_code == 500
    finally:
        logging.getLogger().removeHandler(captured)
    assert "unhandled error on GET /public/broken/{code}" in captured.lines
    access = next(line for line in captured.lines if line.startswith("GET /public/broken/"))
    assert re.fullmatch(
        r"GET /public/broken/\{code\} 500 [\d.]+ ms message=- \(unhandled ZeroDivisionError, .*\)", access
    )
