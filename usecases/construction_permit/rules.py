"""The municipality's reference data: the land registry and the fee and clearance schedule (YAML files
beside this module, so a demo team can change them without code)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Parcel:
    id: str
    address: str
    owner_vid: str
    area_m2: int
    zoning: str
    restrictions: tuple[str, ...]


@dataclass(frozen=True)
class BuildingType:
    code: str
    label: str
    zoning: tuple[str, ...]
    base: int
    per_m2: float
    clearances: tuple[str, ...]

    def fee(self, floor_area_m2: float) -> int:
        if floor_area_m2 <= 0:
            raise ValueError("the floor area must be positive")
        return math.ceil(self.base + self.per_m2 * floor_area_m2)


@cache
def parcels(path: Path = HERE / "land_registry.yaml") -> dict[str, Parcel]:
    entries = yaml.safe_load(path.read_text())["parcels"]
    return {
        p["id"]: Parcel(
            p["id"], p["address"], str(p["owner_vid"]), int(p["area_m2"]), p["zoning"], tuple(p.get("restrictions", ()))
        )
        for p in entries
    }


@cache
def building_types(path: Path = HERE / "fee_schedule.yaml") -> dict[str, BuildingType]:
    entries = yaml.safe_load(path.read_text())["building_types"]
    return {
        code: BuildingType(
            code, t["label"], tuple(t["zoning"]), int(t["base"]), float(t["per_m2"]), tuple(t["clearances"])
        )
        for code, t in entries.items()
    }


def allowed_on(parcel: Parcel, building_type: BuildingType) -> bool:
    return parcel.zoning in building_type.zoning
