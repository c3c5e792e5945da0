"""Service circles, rings and facility types as data.

A *circle* is a rule of a plan: "a care facility within 1500 m of real walking
distance". It is a row of a table, not code: name, travel mode, limit and unit,
which facility kinds serve it and which unit classes (urban, rural) it applies to.
The defaults ship in ``coverage/data/``: ``circles.csv``, ``rings.csv``,
``facility_types.csv``, ``capacity.csv`` and ``delivery_speeds.csv``
(:data:`POLICY_FILES`). :func:`read_policy` reads a user's *policy folder* holding edited
copies of any of them (a table missing there is the shipped one) and, optionally,
``type_aliases.csv`` (``alias,type``: local facility-type names such as 幸福院); the
delivery speeds travel with the policy (:attr:`Policy.delivery_speeds`) to the run's
delivery network, no global state. Every error names the file, the row and what is
allowed (:class:`~eldercare_coverage._errors.PolicyError`).

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
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from ._errors import PolicyError
from .osm_rules import DELIVERY_PROFILES

MODES = ("walk", "delivery")
UNITS = ("m", "min")
UNIT_CLASSES = ("urban", "rural")
CAPACITY_MEASURES = ("beds", "meals_per_day")
#: The tables of a policy folder (``--policy DIR``) by their key; the shipped ones are in
#: ``coverage/data/`` under the same names. ``type_aliases.csv`` is not shipped.
POLICY_FILES = {
    "circles": "circles.csv",
    "rings": "rings.csv",
    "facility_types": "facility_types.csv",
    "capacity": "capacity.csv",
    "delivery_speeds": "delivery_speeds.csv",
    "type_aliases": "type_aliases.csv",
}


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
class ClassSpeed:
    """One row of the delivery speeds table: a road class's speeds for one vehicle.

    Attributes
    ----------
    profile
        The vehicle, one of :data:`~eldercare_coverage.osm_rules.DELIVERY_PROFILES`.
    highway
        The OSM ``highway`` value, or ``*`` for any other class.
    urban_kph, rural_kph
        Speeds in urban and rural units, km/h.
    where
        The file and row it was read from.
    """

    profile: str
    highway: str
    urban_kph: float
    rural_kph: float
    where: str = ""

    def __post_init__(self) -> None:
        if self.profile not in DELIVERY_PROFILES:
            raise PolicyError(f"profile was {self.profile!r} but is expected to be in "
                              f"{DELIVERY_PROFILES}")
        if not self.highway:
            raise PolicyError("highway is empty; write an OSM highway value or * (any other)")
        for name in ("urban_kph", "rural_kph"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise PolicyError(f"{name} was {value!r} but must be a positive speed in km/h")


@dataclass(frozen=True)
class Policy:
    """Circles, rings, facility types, capacity targets and delivery speeds of one analysis.

    Attributes
    ----------
    circles, rings, facility_types, capacity
        The tables' rows.
    delivery_speeds
        The delivery speeds table (:func:`read_speed_table`); empty: the shipped one.
    sources
        ``(table key, file)`` of each table read (:data:`POLICY_FILES`).
    """

    circles: tuple[Circle, ...]
    rings: tuple[Rings, ...] = ()
    facility_types: tuple[FacilityType, ...] = field(default_factory=tuple)
    capacity: tuple[CapacityTarget, ...] = ()
    delivery_speeds: tuple[ClassSpeed, ...] = ()
    sources: tuple[tuple[str, str], ...] = ()

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
        return replace(self, circles=tuple(self.circle(n) for n in names))

    def with_type_aliases(self, aliases: str | Path | dict[str, str]) -> Policy:
        """A policy whose facility types also match local names: ``aliases`` maps a name
        (e.g. ``幸福院``) to a type code, as a dict or a CSV ``alias,type``
        (:func:`read_type_aliases`). A name another type already had moves to the new one.

        Examples
        --------
        >>> p = default_policy().with_type_aliases({"幸福院": "community_center"})
        >>> "幸福院" in next(t for t in p.facility_types if t.code == "community_center").aliases
        True
        """
        if not isinstance(aliases, dict):
            aliases = read_type_aliases(aliases, self.facility_types)
        known = [t.code for t in self.facility_types]
        bad = sorted({c for c in aliases.values() if c not in known})
        if bad:
            raise PolicyError(f"type aliases: codes {bad} are not facility types; known: {known}")
        # each name once, on the type it now maps to
        types = tuple(replace(t, aliases=(
            *(a for a in t.aliases if a not in aliases),
            *(a for a, code in aliases.items() if code == t.code)))
            for t in self.facility_types)
        return replace(self, facility_types=types)

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


def _number(row: dict[str, str], column: str) -> float:
    """The number in ``column`` of ``row`` (KeyError when the column is missing)."""
    text = row[column]
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{column} was {text!r} but must be a number") from None


def _circle_from_row(row: dict[str, str]) -> Circle:
    try:
        classes = _split(row.get("unit_classes") or "all")
        target = (row.get("target_rate") or "").strip()
        return Circle(
            name=row["name"].strip(),
            mode=row["mode"].strip(),
            limit=_number(row, "limit"),
            unit=row["unit"].strip(),
            facility_kinds=_split(row.get("facility_kinds") or "care"),
            unit_classes=UNIT_CLASSES if classes == ("all",) else classes,
            target_rate=_number(row, "target_rate") if target else None,
            label_zh=row.get("label_zh") or "",
            label_en=row.get("label_en") or "",
            source=row.get("source") or "",
        )
    except (KeyError, ValueError, AttributeError, PolicyError) as exc:
        raise _where_error(row, exc, "expected columns name, mode (walk or delivery), limit "
                           "(a positive number), unit (m or min), facility_kinds (kinds or "
                           "type codes separated by ';'), unit_classes (all, urban or rural), "
                           "target_rate (0..1 or empty)") from exc


def _where_error(row: dict[str, str], exc: Exception, fix: str) -> PolicyError:
    """A :class:`PolicyError` naming the row's file and row, what is wrong and the fix (a
    value's own check already says what is allowed: ``fix`` is for a table's shape)."""
    if isinstance(exc, PolicyError):
        return PolicyError(f"{row['__where__']}: {exc}")
    what = f"column {exc} is missing" if isinstance(exc, KeyError) else str(exc)
    if isinstance(exc, AttributeError):  # a short row: csv gives None for its last cells
        what = "the row has fewer cells than the header"
    return PolicyError(f"{row['__where__']}: {what}; {fix}")


def _type_from_row(row: dict[str, str]) -> FacilityType:
    try:
        code, kind = row["code"].strip(), row["kind"].strip()
        if not code or not kind:
            raise ValueError("code and kind must not be empty")
        return FacilityType(code=code, kind=kind, label_zh=row.get("label_zh") or "",
                            label_en=row.get("label_en") or "",
                            aliases=_split(row.get("aliases") or ""))
    except (KeyError, ValueError, AttributeError) as exc:
        raise _where_error(row, exc, "expected columns code, kind, label_zh, label_en, "
                           "aliases (aliases separated by ';')") from exc


def _rings_from_row(row: dict[str, str]) -> Rings:
    try:
        return Rings(name=row["name"].strip(), mode=row["mode"].strip(),
                     breaks=tuple(_number({"breaks": b}, "breaks")
                                  for b in _split(row["breaks"])),
                     unit=(row.get("unit") or "m").strip(),
                     facility_kinds=_split(row.get("facility_kinds") or "care"),
                     label_zh=row.get("label_zh") or "", label_en=row.get("label_en") or "")
    except (KeyError, ValueError, AttributeError, PolicyError) as exc:
        raise _where_error(row, exc, "expected columns name, mode, breaks (metres separated "
                           "by ';', increasing), unit, facility_kinds") from exc


def _capacity_from_row(row: dict[str, str]) -> CapacityTarget:
    try:
        target = (row.get("target") or "").strip()
        return CapacityTarget(
            name=row["name"].strip(), measure=row["measure"].strip(),
            per_elderly=_number(row, "per_elderly"),
            target=_number(row, "target") if target else None,
            label_zh=row.get("label_zh") or "", label_en=row.get("label_en") or "",
            source=row.get("source") or "")
    except (KeyError, ValueError, AttributeError, PolicyError) as exc:
        raise _where_error(row, exc, "expected columns name, measure (beds or meals_per_day), "
                           "per_elderly (a positive number), target") from exc


def read_speed_table(path: str | Path | None = None) -> tuple[ClassSpeed, ...]:
    """The delivery speeds table: ``profile, highway, urban_kph, rural_kph`` per row.

    Parameters
    ----------
    path
        A CSV with the columns of ``coverage/data/delivery_speeds.csv`` (None: that file).

    Returns
    -------
    tuple of ClassSpeed
        Every row, validated: a known profile (:data:`DELIVERY_PROFILES`), a ``highway``
        value (``*`` for any other class) and positive speeds in km/h.

    Examples
    --------
    >>> rows = read_speed_table()
    >>> [(r.urban_kph, r.rural_kph) for r in rows if r.profile == "ebike"
    ...  and r.highway == "path"]
    [(10.0, 12.0)]
    """
    out = []
    for row in read_table(path, POLICY_FILES["delivery_speeds"]):
        try:
            speed = ClassSpeed(profile=(row.get("profile") or "ebike").strip(),
                               highway=row["highway"].strip(),
                               urban_kph=_number(row, "urban_kph"),
                               rural_kph=_number(row, "rural_kph"), where=row["__where__"])
        except (KeyError, ValueError, AttributeError, PolicyError) as exc:
            raise _where_error(row, exc, "expected columns profile (ebike or van), highway "
                               "(an OSM highway value or * for any other), urban_kph, "
                               "rural_kph (positive speeds in km/h)") from exc
        out.append(speed)
    return tuple(out)


def read_type_aliases(path: str | Path, facility_types: Iterable[FacilityType]
                      ) -> dict[str, str]:
    """A table of local facility-type names, ``alias,type``, as ``{alias: type code}``.

    Parameters
    ----------
    path
        A CSV with the columns ``alias`` (a local name, e.g. ``幸福院``) and ``type`` (a
        type code of ``facility_types``, e.g. ``community_center``).
    facility_types
        The types the codes must belong to.

    Raises
    ------
    PolicyError
        Naming the file and row of an empty alias or an unknown type code.
    """
    known = [t.code for t in facility_types]
    out: dict[str, str] = {}
    for row in read_table(path, POLICY_FILES["type_aliases"]):
        try:
            alias, code = row["alias"].strip(), row["type"].strip()
        except (KeyError, AttributeError) as exc:
            raise _where_error(row, exc, "expected columns alias,type") from exc
        if not alias:
            raise PolicyError(f"{row['__where__']}: the alias is empty; write a local type "
                              "name in the column alias, e.g. 幸福院")
        if code not in known:
            raise PolicyError(f"{row['__where__']}: type was {code!r} but is expected to be "
                              f"one of the facility type codes {known}; fix the type column")
        out[alias] = code
    return out


def _table_paths(folder: str | Path | None, given: dict[str, str | Path | None]
                 ) -> dict[str, Path | None]:
    """The file of each policy table: given by argument, else in ``folder``, else None
    (the shipped one)."""
    paths: dict[str, Path | None] = {k: None if v is None else Path(v) for k, v in given.items()}
    if folder is None:
        return paths
    folder = Path(folder)
    names = set(POLICY_FILES.values())
    unknown = sorted(p.name for p in folder.glob("*.csv") if p.name not in names)
    if unknown:
        raise PolicyError(f"{folder}: policy folder holds {unknown}, which are not policy "
                          f"tables; the tables are {sorted(names)} (rename or move the others)")
    for key, name in POLICY_FILES.items():
        if paths.get(key) is None and (folder / name).is_file():
            paths[key] = folder / name
    return paths


def read_policy(
    circles: str | Path | None = None,
    *,
    rings: str | Path | None = None,
    facility_types: str | Path | None = None,
    capacity: str | Path | None = None,
    delivery_speeds: str | Path | None = None,
    type_aliases: str | Path | None = None,
) -> Policy:
    """Read circles, rings, facility types, capacity targets and delivery speeds.

    Parameters
    ----------
    circles
        A policy *folder* holding any of the tables of :data:`POLICY_FILES`
        (``circles.csv``, ``rings.csv``, ``facility_types.csv``, ``capacity.csv``,
        ``delivery_speeds.csv``, ``type_aliases.csv``; a table missing there is the
        shipped one), or a circles CSV (the other tables shipped), or None (all shipped).
    rings, facility_types, capacity, delivery_speeds
        Paths of CSV tables with the columns of the shipped defaults in
        ``coverage/data/``; they win over the folder's; ``None`` takes the folder's
        table, else the shipped one.
    type_aliases
        A CSV ``alias,type`` of local facility-type names (e.g. ``幸福院,community_center``),
        added to the facility types' aliases (:meth:`Policy.with_type_aliases`).

    Returns
    -------
    Policy
        With :attr:`Policy.sources`: the file each table was read from.

    Raises
    ------
    PolicyError
        Naming the file and row of a bad value and what is allowed.
    """
    folder = None
    if circles is not None and Path(circles).is_dir():
        folder, circles = circles, None
    paths = _table_paths(folder, {"circles": circles, "rings": rings,
                                  "facility_types": facility_types, "capacity": capacity,
                                  "delivery_speeds": delivery_speeds,
                                  "type_aliases": type_aliases})
    types = tuple(_type_from_row(r)
                  for r in read_table(paths["facility_types"], POLICY_FILES["facility_types"]))
    known = {t.code for t in types} | {t.kind for t in types}
    circle_rows = []
    for r in read_table(paths["circles"], POLICY_FILES["circles"]):
        c = _circle_from_row(r)
        unknown = sorted(set(c.facility_kinds) - known)
        if unknown:
            raise PolicyError(f"{r['__where__']}: facility_kinds {unknown} are neither a kind "
                              f"nor a type code; known: {sorted(known)}")
        circle_rows.append(c)
    ring_rows = tuple(_rings_from_row(r)
                      for r in read_table(paths["rings"], POLICY_FILES["rings"]))
    targets = tuple(_capacity_from_row(r)
                    for r in read_table(paths["capacity"], POLICY_FILES["capacity"]))
    sources = tuple((key, str(path) if path is not None else f"coverage/data/{name}")
                    for key, name in POLICY_FILES.items()
                    if (path := paths[key]) is not None or key != "type_aliases")
    policy = Policy(tuple(circle_rows), ring_rows, types, targets,
                    delivery_speeds=read_speed_table(paths["delivery_speeds"]), sources=sources)
    if paths["type_aliases"] is not None:
        policy = policy.with_type_aliases(paths["type_aliases"])
    return policy


def default_policy() -> Policy:
    """The shipped policy: the circles of the Zhejiang plans, 500 m rings, the facility
    types, capacity targets and delivery speeds of ``coverage/data/``."""
    return read_policy()
