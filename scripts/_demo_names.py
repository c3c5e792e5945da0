"""Chinese names of the demo county's towns, villages, communities and streets.

A private helper of ``scripts/make_demo_data.py``; not part of the package.
"""

from __future__ import annotations

import numpy as np

from _demo_common import DemoSpec

VILLAGE_FIRST = list("上下东西南北前后大小新石沙塘岙湾洋桥山林陈王张李黄高横长里外中白青竹松梅杨柳金")
VILLAGE_SECOND = list("岙洋塘桥头湾山屿垟浦林溪岩坑门家宅庄里港岭田园堂河埠岗墩泾汇")
COMMUNITY_FIRST = list("江锦东三九文南北新兴万和丽翠鹤凤梅桂金银玉春秋永太长光明")
COMMUNITY_SECOND = list("滨屏辉星龙昌门华园寿平泽鸣凰苑湖港桥河城安宁丰隆")
NORTH_SUBDISTRICTS = {
    0: [],
    1: ["城关街道"],
    2: ["城西街道", "城东街道"],
    3: ["城西街道", "城北街道", "城东街道"],
    4: ["城西街道", "城北街道", "城东街道", "滨江街道"],
}
TOWNS = ["北山镇", "南塘镇", "东浦镇", "石桥镇", "岩头镇", "洋屿镇", "金湾镇", "青溪镇",
         "梅岙镇", "白岩镇", "上林镇", "凤山镇", "龙溪镇", "沙岙镇", "桐溪镇", "云峰镇"]
TOWNSHIPS = ["西岙乡", "东岭乡", "南山乡", "北岙乡"]
ROW_ARTERIALS = ["人民路", "中华路", "万寿路", "锦屏路", "横湖路", "新华路", "兴园路",
                 "环城北路", "环城南路", "文昌路", "丽泽路", "九龙路"]
COL_ARTERIALS = ["东海大道", "太平路", "三星大道", "方城路", "九龙大道", "北门路",
                 "银湖大道", "江滨路", "学府路", "百丈路", "泽坎路", "凤凰路"]


def unique_names(first: list[str], second: list[str], suffix: str, n: int,
                 rng: np.random.Generator) -> list[str]:
    """``n`` distinct two-character names plus ``suffix``, in an order drawn from ``rng``."""
    combos = [x + y for x in first for y in second if x != y]
    order = rng.permutation(len(combos))
    base = [combos[i] for i in order]
    out: list[str] = []
    for variant in ("", "新", "二", "三", "四", "五", "六"):
        out.extend(c + variant + suffix for c in base)
        if len(out) >= n:
            break
    if len(out) < n:
        raise ValueError(f"cannot name {n} units with suffix {suffix!r}")
    return out[:n]


def unique_list(names: list[str], n: int, kind: str) -> list[str]:
    """The first ``n`` of ``names``, numbered ``kind1, kind2, ...`` beyond the list."""
    if n <= len(names):
        return names[:n]
    return names + [f"{kind}{i + 1}" for i in range(n - len(names))]


def short_name(town: str) -> str:
    """A town's name without 街道/镇/乡."""
    for suffix in ("街道", "镇", "乡"):
        if town.endswith(suffix):
            return town[: -len(suffix)]
    return town


def north_subdistrict_count(spec: DemoSpec) -> int:
    """Subdistricts north of the river (all but the last when there are two or more)."""
    return spec.n_subdistricts - 1 if spec.n_subdistricts >= 2 else spec.n_subdistricts


def town_names(spec: DemoSpec) -> list[str]:
    """Names of the towns (镇) only, in placement order."""
    return unique_list(TOWNS, spec.n_towns, "新镇")


def town_level_names(spec: DemoSpec) -> list[str]:
    """Names of all town-level units: subdistricts, towns, townships (unit order)."""
    n_north = north_subdistrict_count(spec)
    subdistricts = NORTH_SUBDISTRICTS[min(n_north, 4)] + (
        ["江南街道"] if spec.n_subdistricts >= 2 else [])
    return (unique_list(subdistricts, spec.n_subdistricts, "新城街道")
            + town_names(spec)
            + unique_list(TOWNSHIPS, spec.n_townships, "新乡"))
