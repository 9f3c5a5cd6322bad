"""One error path: a router's own shape, domain errors rendered in it, also before routing."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel

from services.common.app import create_service_app
from services.common.errors import DomainError, error_shape
from services.common.guard import RouteTable
from services.common.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "empty_migrations"


def plain(request, status, message, details):  # noqa: ANN001, ANN201
    return JSONResponse({"error": message}, status_code=status)


def coded(request, status, message, details):  # noqa: ANN001, ANN201
    return JSONResponse({"errorCode": f"E{status}", "errorMessage": message}, status_code=status)


class NotThere(DomainError):
    status_code = 404


class Body(BaseModel):
    amount: int


def _app(tmp_path, db_fields, guarded: bool = False):  # noqa: ANN001, ANN202
    shaped = APIRouter(route_class=error_shape(coded))
    other = APIRouter()

    @shaped.post("/coded/things")
    def coded_things(body: Body) -> dict:
        return {"amount": body.amount}

    @shaped.get("/coded/things/{thing}")
    def coded_thing(thing: str) -> dict:
        raise NotThere(f"no thing {thing}")

    @other.get("/plain/things/{thing}")
    def plain_thing(thing: str) -> dict:
        raise NotThere(f"no thing {thing}")

    settings = ServiceSettings(service_name="kernel", data_dir=tmp_path, require_im_assertion=guarded, **db_fields)
    table = RouteTable(services={"things": ("/coded", "/plain")}) if guarded else None
    return create_service_app(
        route_table=table,
        settings=settings,
        title="t",
        description="d",
        migrations_dir=MIGRATIONS,
        routers=[shaped, other],
        error_render=plain,
    )


def test_a_router_answers_every_error_in_its_own_shape(tmp_path, db_fields):
    with TestClient(_app(tmp_path, db_fields)) as c:
        invalid = c.post("/coded/things", json={"amount": "lots"})
        assert invalid.status_code == 400 and invalid.json()["errorCode"] == "E400"
        assert "amount" in invalid.json()["errorMessage"]
        wrong_method = c.delete("/coded/things")
        assert wrong_method.status_code == 405 and wrong_method.json()["errorCode"] == "E405"
        missing = c.get("/coded/things/x")
        assert missing.status_code == 404 and missing.json() == {"errorCode": "E404", "errorMessage": "no thing x"}


def test_a_domain_error_takes_the_shape_of_the_route_that_raised_it(tmp_path, db_fields):
    with TestClient(_app(tmp_path, db_fields)) as c:
        assert c.get("/plain/things/y").json() == {"error": "no thing y"}
        assert c.get("/nowhere").json() == {"error": "Not Found"}


def test_the_guard_refuses_before_routing_in_the_shape_of_the_route_asked_for(tmp_path, db_fields):
    with TestClient(_app(tmp_path, db_fields, guarded=True)) as c:
        coded = c.get("/coded/things/x")
        assert coded.status_code == 401 and coded.json()["errorCode"] == "E401"
        plain_ = c.get("/plain/things/y")
        assert plain_.status_code == 401 and "error" in plain_.json()
