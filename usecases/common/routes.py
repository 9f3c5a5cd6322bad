"""Which paths of a use case the IM guards: its `callbacks` service (what the building blocks call back on,
through the IM). Everything a person uses in the browser is public here and authenticated by the use case's
own login session."""

from __future__ import annotations

from services.common.guard import RouteTable

USER_FACING = ("/", "/api", "/login", "/auth", "/logout", "/static", "/admin")


def route_table(callbacks: tuple[str, ...], pages: tuple[str, ...]) -> RouteTable:
    return RouteTable(services={"callbacks": callbacks}, public=(*USER_FACING, *pages))
