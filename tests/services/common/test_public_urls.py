"""Behind a proxy, an ingress or compose's published ports, what a browser uses and what a service calls differ."""

from __future__ import annotations

from services.common.settings import ServiceSettings
from usecases.cash_transfer.settings import CashTransferSettings
from usecases.common import trace


def test_a_service_listening_on_every_address_never_hands_browsers_0_0_0_0():
    assert ServiceSettings(host="0.0.0.0", port=8001).base_url == "http://127.0.0.1:8001"  # noqa: S104
    assert ServiceSettings(host="0.0.0.0", port=8001, public_url="https://id.example").base_url == "https://id.example"  # noqa: S104


def test_trace_links_use_the_ims_public_url_while_calls_use_the_internal_one():
    settings = CashTransferSettings(im_url="http://information_mediator:8000", im_public_url="http://localhost:8000/")
    assert trace.trace_link(settings, "m1").startswith("http://localhost:8000/ui/trace?")
    assert settings.callback_base.startswith("http://information_mediator:8000/r1/")
    assert trace.trace_link(CashTransferSettings(im_url="http://im:8000"), "m1").startswith("http://im:8000/ui/")
