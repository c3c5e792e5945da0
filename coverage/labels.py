"""The plan's words, in Chinese or English: what the map and the report call things.

Column names and the circles' identifiers (``walk_1500m``) stay as they are in the data; a
planner reads labels made from each circle's own values: its limit in metres *and*
minutes and the walking speed that links them, so that the two "15-minute" circles of the
plans cannot be mistaken for each other:

>>> walk_1500m = {"name": "walk_1500m", "mode": "walk", "limit": 1500.0, "unit": "m"}
>>> walk_15min = {"name": "walk_15min", "mode": "walk", "limit": 15.0, "unit": "min",
...               "limit_m": 810.0}
>>> circle_label(walk_15min, lang="zh", walk_speed_m_s=0.9)
'15分钟步行圈（老年人步速0.9米/秒，约810米）'
>>> circle_label(walk_15min, lang="en", walk_speed_m_s=0.9)
'15-minute walk at 0.9 m/s (≈810 m)'
>>> circle_label(walk_1500m, lang="zh", walk_speed_m_s=0.9)
'1500米实际步行距离（老年人步速0.9米/秒约28分钟）'
>>> circle_label(walk_1500m, lang="en", walk_speed_m_s=0.9)
'1500 m of real walking distance (≈28 min at 0.9 m/s)'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

LANGS = ("zh", "en")


def check_lang(lang: str) -> str:
    """``lang`` when it is one of :data:`LANGS`, else a ``ValueError``."""
    if lang not in LANGS:
        raise ValueError(f"lang was {lang!r} but is expected to be in {LANGS}")
    return lang


def tr(lang: str, zh: str, en: str) -> str:
    """The Chinese or the English text.

    >>> tr("en", "覆盖率", "coverage")
    'coverage'
    """
    return zh if lang == "zh" else en


def _minutes(metres: float, speed_m_s: float) -> float:
    return metres / (60.0 * speed_m_s)


def circle_label(c: Mapping[str, Any], *, lang: str, walk_speed_m_s: float | None,
                 meal: bool = False) -> str:
    """A circle's name as a planner says it, with its limit in metres and minutes.

    Parameters
    ----------
    c
        The circle's entry of ``summary["circles"]`` (``mode``, ``limit``, ``unit``,
        ``limit_m`` for walking minutes, ``unit_classes``).
    lang
        ``"zh"`` or ``"en"``.
    walk_speed_m_s
        The run's elderly walking speed (``settings.walk_speed_m_s`` of the summary).
    meal
        Whether the circle's facilities are meal services (a canteen or meal point within
        a walk, or kitchens by delivery).

    >>> circle_label({"mode": "delivery", "limit": 30.0, "unit": "min",
    ...               "unit_classes": ["rural"]}, lang="zh", walk_speed_m_s=0.9, meal=True)
    '30分钟助餐配送（农村）'
    """
    from .settings import settings

    limit, unit, mode = float(c["limit"]), str(c["unit"]), str(c.get("mode", "walk"))
    speed = walk_speed_m_s or (float(c["limit_m"]) / (60 * limit)
                               if c.get("limit_m") and unit == "min"
                               else settings.walk_speed_m_s)
    if mode == "delivery":
        classes = set(c.get("unit_classes") or ("urban", "rural"))
        where = ("" if classes == {"urban", "rural"} else
                 tr(lang, "城市社区", "urban communities") if classes == {"urban"} else
                 tr(lang, "农村", "rural villages"))
        if lang == "zh":
            return f"{limit:g}分钟助餐配送" + (f"（{where}）" if where else "")
        return f"meals delivered within {limit:g} min" + (f" ({where})" if where else "")
    if unit == "min":
        metres = float(c.get("limit_m") or limit * 60 * speed)
        if lang == "zh":
            kind = "步行就餐圈" if meal else "步行圈"
            return f"{limit:g}分钟{kind}（老年人步速{speed:g}米/秒，约{metres:,.0f}米）"
        kind = "walk to a meal" if meal else "walk"
        return f"{limit:g}-minute {kind} at {speed:g} m/s (≈{metres:,.0f} m)"
    minutes = _minutes(limit, speed)
    if lang == "zh":
        return f"{limit:g}米实际步行距离（老年人步速{speed:g}米/秒约{minutes:.0f}分钟）"
    return f"{limit:g} m of real walking distance (≈{minutes:.0f} min at {speed:g} m/s)"


def plan_name(c: Mapping[str, Any], lang: str) -> str:
    """The plan's own name of the circle (``label_zh`` / ``label_en`` of the policy table)."""
    return str(c.get(f"label_{lang}") or c.get("label_zh") or c.get("name") or "")


def fifteen_minute_pairs(circles: list[Mapping[str, Any]]
                         ) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """Pairs (a rule in metres, its minutes at the elderly speed): a walking circle in
    metres whose plan name speaks of N minutes, and the walking circle of N minutes of the
    same facilities (``walk_1500m`` and ``walk_15min`` of the default policy).

    >>> a = {"mode": "walk", "unit": "m", "limit": 1500, "label_zh": "15分钟步行圈（1500米）"}
    >>> b = {"mode": "walk", "unit": "min", "limit": 15}
    >>> fifteen_minute_pairs([a, b]) == [(a, b)]
    True
    """
    pairs = []
    for rule in circles:
        if rule.get("mode", "walk") != "walk" or rule.get("unit") != "m":
            continue
        words = f"{rule.get('label_zh', '')} {rule.get('label_en', '')}"
        said = {float(m) for m in re.findall(r"(\d+(?:\.\d+)?)\s*(?:分钟|-minute|minutes?)",
                                             words)}
        for walk in circles:
            if (walk.get("mode", "walk") == "walk" and walk.get("unit") == "min"
                    and float(walk["limit"]) in said
                    and walk.get("facility_types") == rule.get("facility_types")):
                pairs.append((rule, walk))
    return pairs


def band_label(band: str, lang: str) -> str:
    """A distance band of a rings set (``500-1000m``, ``>1500m``) in words.

    >>> band_label("500-1000m", "zh"), band_label(">1500m", "en")
    ('500–1000米', 'over 1500 m')
    """
    unit = tr(lang, "米", " m")
    if band.startswith(">"):
        value = band[1:].removesuffix("m")
        return tr(lang, f"{value}米以上", f"over {value} m")
    low, _, high = band.removesuffix("m").partition("-")
    return f"{low}–{high}{unit}"


def type_label(code: str, labels: Mapping[str, tuple[str, str]], lang: str) -> str:
    """A facility type's label (``labels``: code -> (zh, en)); the code when unknown."""
    zh, en = labels.get(code, ("", ""))
    return (zh if lang == "zh" else en) or zh or en or code
