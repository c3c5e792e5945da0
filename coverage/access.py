"""Capacity indicators: beds (or meals) per elderly people, against the plans' targets.

The plans count capacity per elderly resident: beds per 100 elderly (Taizhou: 6), beds
per 1000 elderly (Pingyang model towns: 40). :func:`capacity_indicators` computes each
:class:`eldercare_coverage.policy.CapacityTarget` of a policy for a study area, counting the
capacity of the facilities the run used and reporting that of excluded facilities
separately (a facility left out for missing coordinates may still have beds the
planner wants to see).

Roadmap: supply-demand ratios by network distance (2SFCA) belong here too.

Examples
--------
>>> import pandas as pd
>>> from eldercare_coverage.policy import default_policy
>>> fac = pd.DataFrame({"beds": [120, 80, None], "status": ["used", "used", "excluded"]})
>>> rows = capacity_indicators(fac, 4000, default_policy())
>>> rows[0]["name"], rows[0]["value"], rows[0]["meets_target"]
('beds_per_100', 5.0, False)
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .policy import Policy


def capacity_indicators(facilities: pd.DataFrame, elderly_total: float,
                        policy: Policy) -> list[dict[str, Any]]:
    """Capacity per elderly people for every capacity target of ``policy``.

    Parameters
    ----------
    facilities
        Facility table with a ``status`` column (``used``/``excluded``) and the
        measure columns (``beds``, ``meals_per_day``); blanks count as zero.
    elderly_total
        Elderly people of the study area.
    policy
        Supplies the targets (``policy.capacity``).

    Returns
    -------
    list of dict
        Per target: ``name``, ``measure``, ``per_elderly``, ``total`` (capacity of used
        facilities), ``excluded_total``, ``value`` (total per ``per_elderly`` elderly,
        NaN without elderly), ``target``, ``meets_target`` (None without a target),
        ``label_zh``, ``label_en``, ``source``.
    """
    used = facilities["status"].eq("used")
    rows = []
    for t in policy.capacity:
        col = (pd.to_numeric(facilities[t.measure], errors="coerce").fillna(0.0)
               if t.measure in facilities.columns else pd.Series(0.0, index=facilities.index))
        total = float(col[used].sum())
        value = total / elderly_total * t.per_elderly if elderly_total > 0 else math.nan
        meets = None if t.target is None or math.isnan(value) else bool(value >= t.target)
        rows.append({
            "name": t.name, "measure": t.measure, "per_elderly": t.per_elderly,
            "total": total, "excluded_total": float(col[~used].sum()), "value": value,
            "target": t.target, "meets_target": meets,
            "label_zh": t.label_zh, "label_en": t.label_en, "source": t.source,
        })
    return rows
