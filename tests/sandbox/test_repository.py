"""A fresh clone works as the README says (issue 19): tests find the GovStack specs beside the repository,
and installing the package raises no packaging warning."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ABSOLUTE_SPECS = "/".join(("", "work", "shared"))  # where the specs happen to lie on one machine


def test_no_test_names_an_absolute_path_to_the_specs():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("*.py")
        if ABSOLUTE_SPECS in path.read_text(errors="replace")
    ]
    assert offenders == [], "find the specs at ../shared relative to the repository instead"


def test_the_licence_is_an_spdx_expression():
    """setuptools warns on every install about a licence given as a TOML table."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert any(r.startswith("setuptools>=77") for r in project["build-system"]["requires"])
