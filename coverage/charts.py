"""Static pictures for the report: the coverage map and two charts, as PNG bytes.

Drawn with matplotlib's Agg canvas (no window, no internet, no global backend switch;
matplotlib is imported only when a picture is drawn):

- :func:`coverage_map_png`: towns and the county outline, the elderly per km² as a light
  background, the service area of one circle, its gap areas (the largest numbered) and
  the facilities that serve it, with a scale bar;
- :func:`town_coverage_png`: each town's coverage rate of a circle as bars, with the
  circle's target (or the whole area's rate) as a line;
- :func:`distance_png`: how far the elderly live from their nearest care facility along
  the streets, people-weighted: a histogram and the cumulative share, the walking circles'
  limits marked.

Text is Chinese or English (``lang``); Chinese needs a font with Chinese characters
(:func:`cjk_font`: Noto Sans CJK, Source Han Sans, WenQuanYi, Microsoft YaHei, SimHei,
PingFang..., or any other installed font that has them). Without one the pictures are
drawn in English (the report says so under them). Names and titles from the data are drawn
as they are written: a ``$`` in a town's name is not read as mathematics.
"""

from __future__ import annotations

import functools
import io
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from ._legend import CIRCLE_COLORS, GAP_COLOR, TYPE_COLORS
from .labels import check_lang, circle_label, tr
from .result import CoverageResult
from .settings import settings

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100  # pixels per inch of the PNGs
CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "WenQuanYi Micro Hei",
             "WenQuanYi Zen Hei", "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC",
             "Hiragino Sans GB", "Arial Unicode MS")


#: A character every Chinese font has (中), to find fonts by what they draw, not their name.
_HAN_PROBE = 0x4E2D


def _has_han(path: str, index: int = 0) -> bool:
    """Whether the font file at ``path`` (face ``index``) maps 中 to a glyph."""
    from matplotlib import ft2font

    try:
        try:
            font = ft2font.FT2Font(path, face_index=index)
        except TypeError:  # matplotlib before 3.10 reads the first face only
            font = ft2font.FT2Font(path)
        return font.get_char_index(_HAN_PROBE) != 0
    except (OSError, RuntimeError, ValueError):
        return False


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family of an installed font that draws Chinese, or None.

    A family of :data:`CJK_FONTS` when one is installed; otherwise the first family (by
    name) whose character map has 中, e.g. ``Noto Sans CJK JP`` of Debian's
    fonts-noto-cjk. Fallback fonts that map every character to a placeholder (Last
    Resort) do not count. The answer is kept for the process (the installed fonts do not
    change while it runs).

    Returns
    -------
    str or None
        The font family, as matplotlib's font manager names it.
    """
    from matplotlib import font_manager

    entries = font_manager.fontManager.ttflist
    installed = {f.name for f in entries}
    known = next((name for name in CJK_FONTS if name in installed), None)
    if known is not None:
        return known
    for f in sorted(entries, key=lambda f: (f.name, str(f.fname))):
        if not f.name.startswith("Last Resort") and _has_han(str(f.fname),
                                                             getattr(f, "index", 0)):
            return str(f.name)
    return None


def chart_lang(lang: str) -> str:
    """The language the pictures can be drawn in: ``lang``, or English when Chinese has
    no font."""
    check_lang(lang)
    return "zh" if lang == "zh" and cjk_font() else "en"


def _figure(width_in: float, height_in: float) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    font = cjk_font()
    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    fig.set_layout_engine("constrained")
    fig._ec_fonts = families  # type: ignore[attr-defined]
    return fig


def _png(fig: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # a name in a script no installed font has is drawn as boxes, not a failure
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _fonts(fig: Figure) -> dict[str, Any]:
    return {"family": fig._ec_fonts}  # type: ignore[attr-defined]


def _as_written(fig: Figure) -> dict[str, Any]:
    """Text keywords for names and titles from the data: the fonts, and no mathtext (a
    ``$`` in a name is a dollar sign)."""
    return {**_fonts(fig), "parse_math": False}


def _legend(ax: Axes, fig: Figure, **kwargs: Any) -> None:
    """The axes' legend, its labels (facility types and circles from the policy) drawn as
    written."""
    legend = ax.legend(fontsize=8, framealpha=0.9,
                       prop={"family": _fonts(fig)["family"], "size": 8}, **kwargs)
    for text in legend.get_texts():
        text.set_parse_math(False)


def _circle(result: CoverageResult, name: str) -> dict[str, Any]:
    return next(c for c in result.summary.get("circles", []) if c["name"] == name)


def _speed(result: CoverageResult) -> float | None:
    return (result.summary.get("settings") or {}).get("walk_speed_m_s")


def _scale_bar(ax: Axes, fig: Figure, *, lang: str) -> None:
    """A scale bar of a round length (axes in metres), bottom left."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    target = (x1 - x0) / 5
    length = max(v for v in (100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)
                 if v <= max(target, 100))
    x, y = x0 + 0.04 * (x1 - x0), y0 + 0.04 * (y1 - y0)
    ax.plot([x, x + length], [y, y], color="#222", linewidth=3, solid_capstyle="butt")
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length} m"
    ax.text(x + length / 2, y + 0.012 * (y1 - y0), text, ha="center", va="bottom", fontsize=9,
            **_fonts(fig))


def coverage_map_png(result: CoverageResult, circle: str, *, lang: str = "zh",
                     width_in: float = 8.0, n_numbered: int = 5) -> bytes:
    """The coverage map of ``circle`` as a PNG (see the module docstring)."""
    import matplotlib.patches as mpatches
    from matplotlib.lines import Line2D

    lang = chart_lang(lang)
    c = _circle(result, circle)
    pop, fac = result.population, result.facilities
    base = pop if len(pop) else fac
    crs = base.estimate_utm_crs()
    fig = _figure(width_in, width_in)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_aspect("equal")
    handles: list[Any] = []
    # elderly per km² on a light ramp: the people at their cell's centre, binned
    if len(pop):
        cells = pop.to_crs(crs)
        xy = shapely.get_coordinates(shapely.centroid(cells.geometry.to_numpy()))
        x_min, y_min, x_max, y_max = cells.total_bounds
        edge_m = max(float(np.sqrt(np.median(cells.geometry.area))), 10.0)
        nx = max(1, min(400, int((x_max - x_min) / edge_m)))
        ny = max(1, min(400, int((y_max - y_min) / edge_m)))
        grid, xe, ye = np.histogram2d(xy[:, 0], xy[:, 1], bins=(nx, ny),
                                      range=((x_min, x_max), (y_min, y_max)),
                                      weights=pop["elderly"].to_numpy(dtype=float))
        density = grid.T / (((x_max - x_min) / nx) * ((y_max - y_min) / ny) / 1e6)
        shown = np.ma.masked_less_equal(density, 0)
        if shown.count():
            ax.imshow(shown, origin="lower", extent=(x_min, x_max, y_min, y_max),
                      cmap="Greys", alpha=0.45, interpolation="nearest",
                      vmax=float(np.quantile(shown.compressed(), 0.98)))
            handles.append(mpatches.Patch(color="#999999", alpha=0.6, label=tr(
                lang, "老年人口密度（深色更多）", "elderly per km² (darker: more)")))
    area = result.service_areas
    area = area[area["circle"] == circle] if len(area) else area
    if len(area):
        area.to_crs(crs).plot(ax=ax, color=CIRCLE_COLORS[0], alpha=0.28, linewidth=0)
        handles.append(mpatches.Patch(color=CIRCLE_COLORS[0], alpha=0.4, label=tr(
            lang, "服务圈覆盖范围", "service area")))
    gaps = result.gaps
    gaps = gaps[gaps["circle"] == circle].sort_values("rank") if len(gaps) else gaps
    if len(gaps):
        drawn = gaps.to_crs(crs)
        drawn.plot(ax=ax, facecolor=GAP_COLOR, alpha=0.45, edgecolor=GAP_COLOR, linewidth=0.6)
        for _, g in drawn.head(n_numbered).iterrows():
            point = g.geometry.representative_point()
            ax.annotate(str(int(g["rank"])), (point.x, point.y), fontsize=9, weight="bold",
                        color="#7f0000", ha="center", va="center",
                        bbox={"boxstyle": "circle,pad=0.2", "fc": "white", "ec": GAP_COLOR,
                              "lw": 0.8})
        handles.append(mpatches.Patch(color=GAP_COLOR, alpha=0.55, label=tr(
            lang, "服务缺口（数字为排名）", "gap areas (numbered by rank)")))
    units = result.units
    towns = units[(units["level"] == "town") & units.geometry.notna()] if len(units) else units
    if len(towns):
        towns = towns.to_crs(crs)
        towns.boundary.plot(ax=ax, color="#555555", linewidth=0.7)
        outline = gpd_outline(towns)
        ax.plot(*outline, color="#222222", linewidth=1.4)
        for _, t in towns.iterrows():
            point = t.geometry.representative_point()
            ax.text(point.x, point.y, str(t["name"]), fontsize=8, color="#333333", ha="center",
                    va="center", alpha=0.85, **_as_written(fig))
        handles.append(Line2D([], [], color="#555555", linewidth=0.8,
                              label=tr(lang, "乡镇街道界", "town boundaries")))
    used = fac[(fac["status"] == "used") & fac["type"].isin(c.get("facility_types", []))] \
        if len(fac) else fac
    if len(used):
        used = used.to_crs(crs)
        labels = {t.code: tr(lang, t.label_zh, t.label_en) or t.code
                  for t in result.policy.facility_types}
        for code, part in used.groupby("type", sort=False):
            color = TYPE_COLORS.get(str(code), "#000000")
            xy = shapely.get_coordinates(part.geometry.to_numpy())
            ax.scatter(xy[:, 0], xy[:, 1], s=26, color=color, edgecolor="white", linewidth=0.7,
                       zorder=5)
            name = labels.get(str(code), str(code))
            handles.append(Line2D([], [], marker="o", linestyle="", markersize=6, color=color,
                                  markeredgecolor="white", label=f"{name} ({len(part)})"))
    _scale_bar(ax, fig, lang=lang)
    ax.set_title(circle_label(c, lang=lang, walk_speed_m_s=_speed(result),
                              meal=_is_meal(result, c))
                 + tr(lang, f"：覆盖 {100 * (c.get('coverage_rate') or 0):.1f} %",
                      f": {100 * (c.get('coverage_rate') or 0):.1f} % covered"),
                 fontsize=11, **_as_written(fig))
    _legend(ax, fig, handles=handles, loc="upper left")
    return _png(fig)


def gpd_outline(towns: Any) -> tuple[list[float], list[float]]:
    """The outer boundary of the towns' union as one line with breaks (NaN) between parts."""
    union = shapely.union_all(towns.geometry.to_numpy())
    xs: list[float] = []
    ys: list[float] = []
    for poly in getattr(union, "geoms", [union]):
        if poly.geom_type != "Polygon":
            continue
        x, y = poly.exterior.xy
        xs += [*x, np.nan]
        ys += [*y, np.nan]
    return xs, ys


def _is_meal(result: CoverageResult, c: dict[str, Any]) -> bool:
    kinds = {t.code: t.kind for t in result.policy.facility_types}
    types = c.get("facility_types") or []
    return bool(types) and all(kinds.get(t) == "meal" for t in types)


def town_coverage_png(result: CoverageResult, circle: str, *, lang: str = "zh",
                      width_in: float = 8.0) -> bytes | None:
    """Each town's coverage rate of ``circle`` as horizontal bars, lowest at the bottom,
    with the circle's target line (and the whole area's rate); None without towns."""
    lang = chart_lang(lang)
    c = _circle(result, circle)
    units = result.units
    col = f"{circle}_rate"
    if not len(units) or col not in units:
        return None
    towns = units[(units["level"] == "town") & units[col].notna()]
    if towns.empty:
        return None
    towns = towns.sort_values(col)
    fig = _figure(width_in, 1.2 + 0.32 * len(towns))
    ax = fig.add_subplot()
    rates = 100 * towns[col].to_numpy(dtype=float)
    target = c.get("target_rate")
    colors = [CIRCLE_COLORS[0] if target is None or r >= 100 * target else GAP_COLOR
              for r in rates]
    ax.barh(np.arange(len(towns)), rates, color=colors, alpha=0.85)
    ax.set_yticks(np.arange(len(towns)), [str(n) for n in towns["name"]], **_as_written(fig))
    for k, r in enumerate(rates):
        ax.text(r + 1, k, f"{r:.1f} %", va="center", fontsize=8)
    overall = 100 * float(c.get("coverage_rate") or 0)
    ax.axvline(overall, color="#444444", linestyle="--", linewidth=1,
               label=tr(lang, f"全域 {overall:.1f} %", f"whole area {overall:.1f} %"))
    if target is not None:
        ax.axvline(100 * target, color=GAP_COLOR, linewidth=1.6,
                   label=tr(lang, f"规划目标 {100 * target:.0f} %",
                            f"plan target {100 * target:.0f} %"))
    ax.set_xlim(0, 110)
    ax.set_xlabel(tr(lang, "老年人覆盖率 %", "elderly covered, %"), **_fonts(fig))
    ax.set_title(tr(lang, "各乡镇街道覆盖率：", "Coverage by town: ")
                 + circle_label(c, lang=lang, walk_speed_m_s=_speed(result),
                                meal=_is_meal(result, c)), fontsize=10, **_as_written(fig))
    _legend(ax, fig, loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _walking_distance_m(result: CoverageResult) -> tuple[dict[str, Any], np.ndarray] | None:
    """The first walking circle's per-cell distance in metres (minutes converted)."""
    pop = result.population
    speed = _speed(result) or settings.walk_speed_m_s
    for c in result.summary.get("circles", []):
        col = f"{c['name']}_dist"
        if c.get("mode", "walk") == "walk" and col in pop and not _is_meal(result, c):
            dist = pop[col].to_numpy(dtype=float)
            return c, dist if c["unit"] == "m" else dist * 60.0 * speed
    return None


def distance_png(result: CoverageResult, *, lang: str = "zh", width_in: float = 8.0
                 ) -> bytes | None:
    """How far the elderly live from their nearest care facility along the streets: a
    people-weighted histogram (100 m bands) and the cumulative share, the limits of the
    walking circles of the same facilities marked; None without a walking circle."""
    found = _walking_distance_m(result)
    if found is None:
        return None
    lang = chart_lang(lang)
    first, dist = found
    elderly = result.population["elderly"].to_numpy(dtype=float)
    total = float(elderly.sum())
    if total <= 0:
        return None
    reach = np.isfinite(dist)
    limits = [(c, float(c.get("limit_m") or c["limit"])) for c in result.summary["circles"]
              if c.get("mode", "walk") == "walk" and not _is_meal(result, c)
              and c.get("facility_types") == first.get("facility_types")]
    top = max([1500.0, *(m for _, m in limits)]) * 2
    top = float(np.ceil(min(top, np.nanquantile(dist[reach], 0.99) if reach.any() else top)
                        / 100.0) * 100.0) or 100.0
    fig = _figure(width_in, 4.2)
    ax = fig.add_subplot()
    bins = np.arange(0.0, top + 100.0, 100.0).tolist()
    ax.hist(np.clip(dist[reach], 0, top - 1e-6), bins=bins, weights=elderly[reach],
            color="#9ecae1", edgecolor="white", linewidth=0.4)
    ax.set_xlim(0, top)
    ax.set_xlabel(tr(lang, f"到最近养老设施的步行距离（米，沿街道；最右一栏：{top - 100:,.0f}米以上）",
                     "walking distance to the nearest care facility (m, along streets; "
                     f"last bar: {top - 100:,.0f} m and more)"),
                  **_fonts(fig))
    ax.set_ylabel(tr(lang, "老年人（每100米）", "elderly people per 100 m"), **_fonts(fig))
    share = ax.twinx()
    order = np.argsort(dist[reach])
    cum = np.cumsum(elderly[reach][order]) / total
    share.plot(dist[reach][order], 100 * cum, color="#08306b", linewidth=1.6)
    share.set_ylim(0, 100)
    share.set_ylabel(tr(lang, "累计占比 %（全部老年人）", "cumulative share of all elderly, %"),
                     **_fonts(fig))
    for k, (c, metres) in enumerate(limits):
        if metres > top:
            continue
        within = float(elderly[reach & (dist <= metres)].sum()) / total
        color = CIRCLE_COLORS[k % len(CIRCLE_COLORS)]
        ax.axvline(metres, color=color, linestyle="--", linewidth=1.2)
        text = (f"{metres:g} m" if c["unit"] == "m"
                else tr(lang, f"{c['limit']:g}分钟≈{metres:,.0f}米",
                        f"{c['limit']:g} min ≈ {metres:,.0f} m"))
        share.text(metres, 97 - 7 * (k % 4), f" {text}: {100 * within:.1f} %", color=color,
                   fontsize=8, va="top", ha="left", **_fonts(fig))
    unreachable = float(elderly[~reach].sum()) / total
    if unreachable > 0:
        ax.set_title(tr(lang, f"另有 {100 * unreachable:.1f} % 的老年人无法沿街道到达任何设施",
                        f"{100 * unreachable:.1f} % of the elderly reach no facility along "
                        "the streets"), fontsize=9, **_fonts(fig))
    ax.spines[["top"]].set_visible(False)
    return _png(fig)


def data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:image/png;base64,...`` URI."""
    import base64

    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


