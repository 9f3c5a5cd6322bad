"""Every IM identifier a settings class defaults to (`SANDBOX/<class>/<member>/<application>[/<service>]`) names
a member, application and service that sandbox/topology.yaml declares: a renamed service fails here, not in a
demo."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

TOPOLOGY = Path(__file__).resolve().parents[1] / "sandbox" / "topology.yaml"
SETTINGS_MODULES = [
    "services.common.settings",
    "services.payments.settings",
    "services.consent.settings",
    "services.information_mediator.settings",
    "services.identity.settings",
    "usecases.common.settings",
    "usecases.cash_transfer.settings",
    "usecases.construction_permit.settings",
]


def settings_classes() -> list[type[BaseSettings]]:
    classes = []
    for name in SETTINGS_MODULES:
        module = importlib.import_module(name)
        classes += [
            c
            for _, c in inspect.getmembers(module, inspect.isclass)
            if issubclass(c, BaseSettings) and c.__module__ == name
        ]
    return classes


def strings_in(value: Any) -> Iterator[str]:
    """Every string of a default, also the keys and items of dicts, lists and tuples."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from strings_in(item)


def identifier_defaults(cls: type[BaseSettings]) -> Iterator[tuple[str, str]]:
    for name, field in cls.model_fields.items():
        default = field.default_factory() if field.default_factory is not None else field.default
        for text in strings_in(default):
            if text.startswith("SANDBOX/"):
                yield name, text


def known_identifiers() -> set[str]:
    """`INSTANCE/CLASS/MEMBER` of every member, the same plus `/APPLICATION` of its applications and plus
    `/service` of their services."""
    topology = yaml.safe_load(TOPOLOGY.read_text())
    known = set()
    for member in topology["members"]:
        member_id = f"{topology['instance']}/{member['class']}/{member['code']}"
        known.add(member_id)
        for application in member.get("applications", []):
            client = f"{member_id}/{application['id']}"
            known.add(client)
            known.update(f"{client}/{service['id']}" for service in application.get("services", []))
    return known


def test_the_settings_classes_are_found_and_some_name_im_identifiers():
    classes = {c.__name__ for c in settings_classes()}
    assert {"PaymentsSettings", "ConsentSettings", "CashTransferSettings", "ConstructionPermitSettings"} <= classes
    assert any(True for c in settings_classes() for _ in identifier_defaults(c))


@pytest.mark.parametrize("cls", settings_classes(), ids=lambda c: c.__name__)
def test_every_im_identifier_default_is_in_the_topology(cls):
    known = known_identifiers()
    unknown = [f"{name}={text}" for name, text in identifier_defaults(cls) if text not in known]
    assert unknown == [], f"{cls.__name__} defaults to IM identifiers sandbox/topology.yaml lacks: {unknown}"
