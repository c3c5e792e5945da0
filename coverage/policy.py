"""Service circles, rings and facility types as data.

A *circle* is a rule of a plan: "a care facility within 1500 m of real walking
distance". It is a row of a table, not code: name, travel mode, limit and unit,
which facility kinds serve it and which unit classes (urban, rural) it applies to.
The defaults ship in ``coverage/data/circles.csv``, ``rings.csv`` and
``facility_types.csv``; :func:`read_policy` reads a user's edited copy.

Modes: ``walk`` (undirected walking network, access legs walked) and ``delivery``
(the directed delivery network, seconds of riding at the speeds of
:mod:`eldercare_coverage.delivery`, access legs at the courier's pace). Units: ``m``
(network metres, walking only) or ``min`` (minutes: at ``settings.walk_speed_m_s`` for
walking, of travel time for delivery).

Examples
--------
>>> p = default_policy()
>>> c = p.circle("walk_15min")
>>> round(c.limit_cost(walk_speed_m_s=0.9), 1)  # metres of walking
810.0
>>> [c.name for c in p.circles][:2]
['walk_1500m', 'walk_15min']
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ._errors import PolicyError

MODES = ("walk", "delivery")
UNITS = ("m", "min")
UNIT_CLASSES = ("urban", "rural")
CAPACITY_MEASURES = ("beds", "meals_per_day")


@dataclass(frozen=True)
class FacilityType:
    """One kind of facility: a code, the kind of service (care, meal) and labels."""

    code: str
    kind: str
    label_zh: str
    label_en: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Circle:
    """A service circle: facilities of ``facility_kinds`` within ``limit`` ``unit``.

    Parameters
    ----------
    name
        Identifier used in output columns (``<name>_dist``, ``<name>_covered``).
    mode
        Travel mode of the network, one of :data:`MODES`.
    limit
        The limit in ``unit``.
    unit
        ``"m"`` (network metres) or ``"min"`` (minutes).
    facility_kinds
        Kinds of facility (``care``, ``meal``) or single type codes that serve it.
    unit_classes
        ``("urban", "rural")`` or one of them: the units the rule applies to.
    target_rate
        Share of elderly people the plan wants covered (0..1), or ``None``.
    """

    name: str
    mode: str
    limit: float
    unit: str
    facility_kinds: tuple[str, ...] = ("care",)
    unit_classes: tuple[str, ...] = UNIT_CLASSES
    target_rate: float | None = None
    label_zh: str = ""
    label_en: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        where = f"circle {self.name!r}"
        if not self.name.isidentifier():
            raise PolicyError(f"{where}: name must be a plain identifier (letters, digits, _)")
        if self.mode not in MODES:
            raise PolicyError(f"{where}: mode was {self.mode!r} but is expected to be in {MODES}")
        if self.unit not in UNITS:
            raise PolicyError(f"{where}: unit was {self.unit!r} but is expected to be in {UNITS}")
        if self.mode == "delivery" and self.unit != "min":
            raise PolicyError(f"{where}: a delivery circle's unit was {self.unit!r} but must be "
                              "'min' (travel time)")
        if not (math.isfinite(self.limit) and self.limit > 0):
            raise PolicyError(f"{where}: limit was {self.limit!r} but must be a positive number")
        bad = set(self.unit_classes) - set(UNIT_CLASSES)
        if bad or not self.unit_classes:
            raise PolicyError(
                f"{where}: unit_classes were {self.unit_classes!r}; allowed: 'all' or {UNIT_CLASSES}"
            )
        if self.target_rate is not None and not 0 <= self.target_rate <= 1:
            raise PolicyError(f"{where}: target_rate was {self.target_rate!r}; allowed 0..1")

    @property
    def class_bound(self) -> bool:
        """Whether the circle applies to one class of units only (urban or rural)."""
        return set(self.unit_classes) != set(UNIT_CLASSES)

    def limit_cost(self, *, walk_speed_m_s: float) -> float:
        """The limit in the engine's cost unit for this mode (metres for walking, seconds
        for delivery)."""
        if self.unit == "m":
            return float(self.limit)
        if self.mode == "delivery":
            return float(self.limit) * 60.0
        return float(self.limit) * 60.0 * walk_speed_m_s

    def cost_to_unit(self, cost: Any, *, walk_speed_m_s: float) -> Any:
        """Convert an engine cost (metres for walking, seconds for delivery) into this
        circle's unit."""
        if self.unit == "m":
            return cost
        return cost / 60.0 if self.mode == "delivery" else cost / (60.0 * walk_speed_m_s)


@dataclass(frozen=True)
class Rings:
    """Distance bands (e.g. 0-500, 500-1000, 1000-1500 m) reported per facility and cell."""

    name: str
    mode: str
    breaks: tuple[float, ...]
    unit: str = "m"
    facility_kinds: tuple[str, ...] = ("care",)
    label_zh: str = ""
    label_en: str = ""

    def __post_init__(self) -> None:
        if list(self.breaks) != sorted(set(self.breaks)) or not self.breaks or self.breaks[0] <= 0:
            raise PolicyError(f"rings {self.name!r}: breaks {self.breaks!r} must increase from > 0")
        if self.unit != "m" or self.mode not in MODES:
            raise PolicyError(f"rings {self.name!r}: only walking rings in metres are supported")

    def band_labels(self) -> list[str]:
        """Labels of the bands, nearest first, then the beyond band."""
        edges = [0.0, *self.breaks]
        labels = [f"{edges[i]:g}-{edges[i + 1]:g}{self.unit}" for i in range(len(self.breaks))]
        return [*labels, f">{self.breaks[-1]:g}{self.unit}"]


@dataclass(frozen=True)
class CapacityTarget:
    """A capacity indicator of a plan: ``measure`` per ``per_elderly`` elderly people.

    E.g. beds per 100 elderly with a target of 6 (Taizhou).
    """

    name: str
    measure: str
    per_elderly: float
    target: float | None = None
    label_zh: str = ""
    label_en: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if self.measure not in CAPACITY_MEASURES:
            raise PolicyError(f"capacity {self.name!r}: measure was {self.measure!r} but is "
                              f"expected to be in {CAPACITY_MEASURES}")
        if not (math.isfinite(self.per_elderly) and self.per_elderly > 0):
            raise PolicyError(f"capacity {self.name!r}: per_elderly must be a positive number")


@dataclass(frozen=True)
class Policy:
    """Circles, rings, facility types and capacity targets of one analysis."""

    circles: tuple[Circle, ...]
    rings: tuple[Rings, ...] = ()
    facility_types: tuple[FacilityType, ...] = field(default_factory=tuple)
    capacity: tuple[CapacityTarget, ...] = ()

    def __post_init__(self) -> None:
        names = [c.name for c in self.circles]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise PolicyError(f"circle names must be unique; repeated: {sorted(dup)}")
        known = {t.code for t in self.facility_types} | {t.kind for t in self.facility_types}
        for c in self.circles:
            unknown = set(c.facility_kinds) - known
            if self.facility_types and unknown:
                raise PolicyError(
                    f"circle {c.name!r}: facility_kinds {sorted(unknown)} are neither a kind "
                    f"nor a type code; known: {sorted(known)}"
                )

    def circle(self, name: str) -> Circle:
        """The circle called ``name``."""
        for c in self.circles:
            if c.name == name:
                return c
        raise PolicyError(f"no circle {name!r}; circles are {[c.name for c in self.circles]}")

    def select(self, names: Iterable[str] | None) -> Policy:
        """A policy with only the named circles (all when ``names`` is None)."""
        if names is None:
            return self
        return Policy(tuple(self.circle(n) for n in names), self.rings, self.facility_types,
                      self.capacity)

    def type_codes(self, kinds: Iterable[str]) -> list[str]:
        """Facility type codes matching kinds or codes in ``kinds``."""
        kinds = set(kinds)
        return [t.code for t in self.facility_types if t.kind in kinds or t.code in kinds]

    def type_labels(self) -> dict[str, str]:
        """Chinese label of every type code."""
        return {t.code: t.label_zh for t in self.facility_types}


def _split(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(";") if v.strip())


def read_table(path: str | Path | None, default: str) -> list[dict[str, str]]:
    """The rows of a policy table: the user's CSV at ``path``, else the shipped
    ``coverage/data/<default>``; each row's ``__where__`` names its file and row number."""
    if path is None:
        text = resources.files(__package__ or "eldercare_coverage").joinpath(
            "data", default).read_text(encoding="utf-8")
        where = f"coverage/data/{default}"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"{path}: cannot read policy table ({exc})") from exc
        where = str(path)
    rows = list(csv.DictReader(text.splitlines()))
    for i, row in enumerate(rows, start=2):
        row["__where__"] = f"{where} row {i}"
    return rows


def _circle_from_row(row: dict[str, str]) -> Circle:
    where = row["__where__"]
    try:
        classes = _split(row.get("unit_classes") or "all")
        target = (row.get("target_rate") or "").strip()
        return Circle(
            name=row["name"].strip(),
            mode=row["mode"].strip(),
            limit=float(row["limit"]),
            unit=row["unit"].strip(),
            facility_kinds=_split(row.get("facility_kinds") or "care"),
            unit_classes=UNIT_CLASSES if classes == ("all",) else classes,
            target_rate=float(target) if target else None,
            label_zh=row.get("label_zh", ""),
            label_en=row.get("label_en", ""),
            source=row.get("source", ""),
        )
    except KeyError as exc:
        raise PolicyError(f"{where}: column {exc} is missing") from exc
    except (ValueError, PolicyError) as exc:
        raise PolicyError(f"{where}: {exc}") from exc


def read_policy(
    circles: str | Path | None = None,
    *,
    rings: str | Path | None = None,
    facility_types: str | Path | None = None,
    capacity: str | Path | None = None,
) -> Policy:
    """Read circles, rings, facility types and capacity targets from CSV tables.

    Parameters
    ----------
    circles, rings, facility_types, capacity
        Paths of CSV tables with the columns of the shipped defaults in
        ``coverage/data/``; ``None`` takes the default table.

    Returns
    -------
    Policy
    """
    types = tuple(
        FacilityType(
            code=r["code"].strip(),
            kind=r["kind"].strip(),
            label_zh=r.get("label_zh", ""),
            label_en=r.get("label_en", ""),
            aliases=_split(r.get("aliases") or ""),
        )
        for r in read_table(facility_types, "facility_types.csv")
    )
    circle_rows = tuple(_circle_from_row(r) for r in read_table(circles, "circles.csv"))
    ring_rows = []
    for r in read_table(rings, "rings.csv"):
        try:
            ring_rows.append(
                Rings(
                    name=r["name"].strip(),
                    mode=r["mode"].strip(),
                    breaks=tuple(float(b) for b in _split(r["breaks"])),
                    unit=r.get("unit", "m").strip(),
                    facility_kinds=_split(r.get("facility_kinds") or "care"),
                    label_zh=r.get("label_zh", ""),
                    label_en=r.get("label_en", ""),
                )
            )
        except (KeyError, ValueError, PolicyError) as exc:
            raise PolicyError(f"{r['__where__']}: {exc}") from exc
    targets = []
    for r in read_table(capacity, "capacity.csv"):
        try:
            target = (r.get("target") or "").strip()
            targets.append(CapacityTarget(
                name=r["name"].strip(), measure=r["measure"].strip(),
                per_elderly=float(r["per_elderly"]), target=float(target) if target else None,
                label_zh=r.get("label_zh", ""), label_en=r.get("label_en", ""),
                source=r.get("source", "")))
        except (KeyError, ValueError, PolicyError) as exc:
            raise PolicyError(f"{r['__where__']}: {exc}") from exc
    return Policy(circle_rows, tuple(ring_rows), types, tuple(targets))


def default_policy() -> Policy:
    """The shipped policy: walking circles of the Zhejiang plans and 500 m rings."""
    return read_policy()
