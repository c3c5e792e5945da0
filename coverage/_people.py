"""People in whole numbers for tables a planner adds up (units.csv, the report).

Counts of people are area-weighted, so fractional; shown as whole people they must still
add up to the headline: within each level of units (towns, villages) the rounded rows sum
to the level's rounded total (largest remainders), and a unit's covered people never
exceed the people they are counted against. The GeoPackage keeps the unrounded counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def people_columns(columns: Any, circles: Any) -> list[str]:
    """The columns of a unit table that count people: ``elderly``, and per circle
    ``<circle>_covered`` and ``<circle>_elderly`` (rates, minutes and flags are not).

    Examples
    --------
    >>> people_columns(["name", "elderly", "walk_1500m_covered", "walk_1500m_rate",
    ...                 "meal_rural_30min_elderly", "meals_per_100_elderly"],
    ...                ["walk_1500m", "meal_rural_30min"])
    ['elderly', 'walk_1500m_covered', 'meal_rural_30min_elderly']
    """
    counts = {"elderly"} | {f"{c}_{k}" for c in circles for k in ("covered", "elderly")}
    return [str(c) for c in columns if c in counts]


def whole_people(values: np.ndarray) -> np.ndarray:
    """Whole numbers that add up to the rounded total (largest remainders): each value
    rounded down, then one more to those with the largest fractions until the sum is
    ``round(values.sum())``; NaN stays NaN.

    Examples
    --------
    >>> whole_people(np.array([0.6, 0.6, 0.6, np.nan])).tolist()[:3]  # total 1.8 -> 2
    [1.0, 1.0, 0.0]
    >>> whole_people(np.array([10.4, 20.4, 30.4])).tolist()  # 61.2 -> 61, not 60
    [11.0, 20.0, 30.0]
    """
    values = np.asarray(values, dtype=float)
    out = np.full(len(values), np.nan)
    ok = np.flatnonzero(np.isfinite(values))
    if len(ok) == 0:
        return out
    floor = np.floor(values[ok])
    short = int(round(float(values[ok].sum()) - float(floor.sum())))
    order = np.argsort(-(values[ok] - floor), kind="stable")
    floor[order[:max(short, 0)]] += 1.0
    out[ok] = floor
    return out


def units_in_whole_people(units: pd.DataFrame, circles: list[str]) -> pd.DataFrame:
    """The unit table with its people columns (:func:`people_columns`) in whole people, each
    level adding up to its rounded total (:func:`whole_people`), and a unit's covered never
    above the people it is counted against."""
    units = units.copy()
    levels = units["level"] if "level" in units else pd.Series("all", index=units.index)
    cols = people_columns(units.columns, circles)
    for col in cols:
        values = pd.to_numeric(units[col], errors="coerce").to_numpy(dtype=float)
        rounded = np.full(len(values), np.nan)
        for level in levels.unique():
            rows = np.flatnonzero((levels == level).to_numpy())
            rounded[rows] = whole_people(values[rows])
        units[col] = rounded
    for col in cols:
        if col.endswith("_covered"):
            base = col.removesuffix("_covered") + "_elderly"
            base = base if base in units.columns else "elderly"
            units[col] = np.fmin(units[col].to_numpy(dtype=float),
                                 units[base].to_numpy(dtype=float))
    for col in cols:
        units[col] = pd.array(np.round(units[col].to_numpy(dtype=float)), dtype="Float64") \
            .astype("Int64")
    return units
