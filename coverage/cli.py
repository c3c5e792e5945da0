"""Command line: ``eldercare-coverage demo|run|sites``.

The CLI only calls the public API (:func:`eldercare_coverage.pipeline.run`,
:func:`eldercare_coverage.outputs.write_outputs`, :func:`eldercare_coverage.demo.write_demo_inputs`).
Errors of the package are printed as one readable line and exit with status 2.

What it prints: on stderr one line per finished stage with its time (``  network loaded
1.6 s``: the CLI's own stages, reading and caching the network, then those of
:func:`~eldercare_coverage.pipeline.run` through its ``on_stage`` callback), the run's
warnings, and tqdm progress bars only when stderr is a terminal; ``--quiet`` leaves stderr
to errors alone. On stdout, always, the result's summary: coverage per circle, facilities
used and excluded, the output files. ``--help`` lists examples, the default policy's
circles, the facility columns accepted (:data:`eldercare_coverage.facilities.COLUMN_ALIASES`)
and the facility types with their aliases.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from ._errors import CoverageError

if TYPE_CHECKING:
    from .policy import Policy
    from .result import CoverageResult

DEFAULT_OUT = "coverage-output"

#: What each stage of :func:`eldercare_coverage.pipeline.run` did, for the stage lines.
STAGE_LABELS = {
    "load": "inputs read",
    "prepare": "network prepared",
    "facilities": "facilities placed",
    "population": "population placed",
    "distances": "distances measured",
    "coverage": "coverage counted",
    "polygons": "areas drawn",
    "units": "units summed",
    "gaps": "gap areas found",
}

EXAMPLES = """\
examples:
  eldercare-coverage demo --out demo-output
  eldercare-coverage run --network county.osm.pbf --facilities 养老机构.xlsx \\
      --facilities-crs gcj02 --population elderly_60plus.tif --boundaries villages.gpkg \\
      --title 温岭市 --out wenling
  eldercare-coverage run --place "温岭市, 台州市, 浙江省" --facilities sites.csv \\
      --population elderly.tif --circles walk_1500m home_500m --quiet
  eldercare-coverage run --network county.osm --facilities sites.csv --population pop.tif \\
      --policy my-policy/ --type-alias local_types.csv --lang en

  --policy DIR reads the tables circles.csv, rings.csv, facility_types.csv, capacity.csv,
  delivery_speeds.csv and type_aliases.csv from DIR (a table missing there is the shipped
  one, in the package's data/ folder); --policy FILE.csv reads a circles table only.

output on the terminal: a line per stage with its time on stderr (progress bars only when
stderr is a terminal); --quiet leaves stderr to errors alone; the summary of the result
(coverage per circle, facilities, output files) is always printed on stdout.
"""

SITES_EXAMPLES = """\
examples:
  eldercare-coverage sites --network county.osm.pbf --facilities 养老机构.xlsx \\
      --population elderly_60plus.tif --boundaries villages.gpkg --circle walk_1500m --k 5
  eldercare-coverage sites ... --model lscp --target 0.95 --candidates idle_buildings.xlsx
  eldercare-coverage sites ... --circle meal_rural_30min --model capacity --k 3 --capacity 400

The sites are chosen on the run's own distance field, then a second run with them appended
to the facility table measures what they add; sites.csv has lon/lat (WGS-84, for GIS) and
lon_gcj02/lat_gcj02 (for pasting into AMap 高德).
"""


def _epilog() -> str:
    """Examples, the default policy's circles, and the accepted facility columns and types
    (read from the policy tables and :data:`eldercare_coverage.facilities.COLUMN_ALIASES`)."""
    from .facilities import COLUMN_ALIASES
    from .policy import default_policy

    policy = default_policy()
    lines = [EXAMPLES, "circles of the default policy (name, limit, mode, facilities; label):"]
    for c in policy.circles:
        classes = "" if not c.class_bound else f" ({'/'.join(c.unit_classes)} units only)"
        limit = f"{c.limit:g} {c.unit}"
        lines.append(f"  {c.name:<18} {limit:<8} {c.mode:<9} "
                     f"{'/'.join(c.facility_kinds)}{classes}")
        lines.append(f"  {'':<18} {c.label_zh}; {c.label_en}")
    lines += ["", "facility table columns (any of the names; case, spaces and full-width "
              "forms ignored):"]
    for canonical, names in COLUMN_ALIASES.items():
        lines.append(f"  {canonical:<14} {' / '.join(names)}")
    lines += ["", "facility types (the type column holds a code, a label or an alias; more "
              "aliases: --type-alias FILE, a CSV alias,type):"]
    for t in policy.facility_types:
        lines.append(f"  {t.code:<17} {t.kind:<5} {t.label_zh} ({t.label_en})")
        if t.aliases:
            lines.append(f"  {'':<17} {'':<5} aliases: {'、'.join(t.aliases)}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    epilog = _epilog()
    p = argparse.ArgumentParser(
        prog="eldercare-coverage",
        description="Walking service circles of elderly-care facilities on the street network: "
        "who is covered, who is not, and where the gaps are.",
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
        sp.add_argument("--circles", nargs="+", metavar="NAME",
                        help="circles to compute (default: all of the policy)")
        sp.add_argument("--policy", metavar="DIR|CSV",
                        help="a policy folder (circles.csv, rings.csv, facility_types.csv, "
                        "capacity.csv, delivery_speeds.csv, type_aliases.csv: a table missing "
                        "there is the shipped one) or a circles CSV (default: the shipped "
                        "policy)")
        sp.add_argument("--type-alias", metavar="CSV",
                        help="local facility-type names: a CSV with the columns alias,type "
                        "(e.g. 幸福院,community_center), added to the policy's")
        sp.add_argument("--crs", default="EPSG:4326", help="CRS of the outputs (default EPSG:4326)")
        sp.add_argument("--max-snap-m", type=float, help="longest access leg to a street, metres")
        sp.add_argument("--walk-speed", type=float, help="elderly walking speed, m/s (default 0.9)")
        sp.add_argument("--lang", default="zh", choices=["zh", "en"],
                        help="language of map.html and report.html (default zh)")
        sp.add_argument("--no-progress", action="store_true",
                        help="hide progress bars (shown only when stderr is a terminal)")
        sp.add_argument("-q", "--quiet", action="store_true",
                        help="nothing on stderr but errors (no stage lines, warnings or "
                        "progress bars); the result's summary is still printed on stdout")
        sp.add_argument("--no-map", action="store_true", help="skip map.html")
        sp.add_argument("--basemap", default="none", choices=["none", "osm", "tianditu", "amap"],
                        help="base layer of map.html: none (default: outlines and main streets "
                        "from the data, works offline), osm (OpenStreetMap tiles), tianditu "
                        "(天地图, needs --tianditu-key) or amap (高德; the map is then drawn in "
                        "GCJ-02)")
        sp.add_argument("--tianditu-key", metavar="KEY",
                        help="Tianditu browser key for --basemap tianditu")
        sp.add_argument("--no-rings", action="store_true",
                        help="skip the 500/1000/1500 m distance rings (faster)")
        sp.add_argument("--facility-areas", action="store_true",
                        help="also draw each facility's own, overlapping service area per "
                        "circle (layer facility_areas; slow at county scale)")
        sp.add_argument("-v", "--verbose", action="store_true", help="log details")

    raw = argparse.RawDescriptionHelpFormatter
    demo = sub.add_parser("demo", help="run the whole pipeline on the embedded demo county",
                          epilog=epilog, formatter_class=raw)
    common(demo)
    run = sub.add_parser("run", help="run on your own network, facilities and population",
                         epilog=epilog, formatter_class=raw)
    _inputs(run)
    common(run)
    sites = sub.add_parser(
        "sites", help="choose new facility sites that close the most gap of a circle, then "
        "measure them with a new run (sites.csv, sites.geojson, sites_map.html)",
        epilog=SITES_EXAMPLES, formatter_class=raw)
    _inputs(sites)
    from .site_command import add_site_arguments

    add_site_arguments(sites)
    common(sites)
    return p


def _inputs(run: argparse.ArgumentParser) -> None:
    """The input options of ``run`` and ``sites``."""
    net_src = run.add_mutually_exclusive_group(required=True)
    net_src.add_argument("--place", help="download the streets of a place from OpenStreetMap "
                         "(needs the internet once), e.g. '温岭市, 台州市, 浙江省'")
    net_src.add_argument("--bbox", help="download the streets of a box: west,south,east,north "
                         "in degrees (needs the internet once)")
    net_src.add_argument("--network", help="OSM XML (.osm, .osm.bz2), OSM PBF (.osm.pbf) or "
                         "GraphML file")
    run.add_argument("--facilities", required=True, help="CSV, XLSX, GeoJSON or GPKG")
    run.add_argument("--facilities-crs", default="wgs84", choices=["wgs84", "gcj02", "bd09"],
                     help="coordinate system of the facility table (default wgs84)")
    run.add_argument("--strict", action="store_true",
                     help="stop on the first invalid facility row instead of excluding it")
    run.add_argument("--encoding", help="text encoding of a CSV facility table "
                     "(default: UTF-8, else GB18030)")
    run.add_argument("--sheet", help="sheet of an XLSX facility table (default: the first)")
    run.add_argument("--population", required=True, help="GeoTIFF of elderly people or a grid")
    run.add_argument("--boundaries", help="towns and villages (GeoJSON, GPKG, Shapefile)")
    run.add_argument("--title", help="name of the study area")
    run.add_argument("--cache-dir", help="network cache folder (default: $ELDERCARE_CACHE or "
                     "~/.cache/eldercare-coverage)")
    run.add_argument("--no-cache", action="store_true",
                     help="read the network file again instead of the cached copy")


def _print_excluded(excluded: list[dict], *, max_ids: int = 6) -> None:
    """Print excluded facilities grouped by reason (long lists of one reason abridged):
    the rows to check first (``data``), then the kinds no circle of the run uses."""
    for category, head in (("data", "  rows to check:"),
                           ("not_requested", "  not used by the circles of this run:")):
        rows = [e for e in excluded if e.get("category", "data") == category]
        if rows:
            print(head)
            _print_by_reason(rows, max_ids=max_ids)


def _print_by_reason(excluded: list[dict], *, max_ids: int) -> None:
    by_reason: dict[str, list[dict]] = {}
    for e in excluded:
        by_reason.setdefault(e["reason"], []).append(e)
    for reason, rows in by_reason.items():
        if len(rows) == 1:
            e = rows[0]
            print(f"    excluded row {e['source_row']} {e['facility_id']} {e['name']}: {reason}")
            continue
        ids = ", ".join(str(e["facility_id"]) for e in rows[:max_ids])
        more = f" and {len(rows) - max_ids} more" if len(rows) > max_ids else ""
        print(f"    excluded {len(rows)} ({ids}{more}): {reason}")


class _Stages:
    """Prints one line per finished stage on stderr (``  network loaded   1.6 s``), unless
    quiet; also the ``on_stage`` callback of :func:`eldercare_coverage.pipeline.run`."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.since = time.perf_counter()

    def __call__(self, stage: str, seconds: float) -> None:
        if not self.quiet:
            label = STAGE_LABELS.get(stage, stage)
            print(f"  {label:<24}{seconds:6.1f} s", file=sys.stderr, flush=True)
        self.since = time.perf_counter()

    def done(self, label: str) -> None:
        """A stage of the CLI itself ended: its time since the last stage."""
        self(label, time.perf_counter() - self.since)


def _read_policy(args: argparse.Namespace) -> Policy | None:
    """The run's policy (None: the shipped one, untouched) from --policy, --type-alias and
    --no-rings."""
    from dataclasses import replace

    from .policy import default_policy, read_policy

    policy = read_policy(args.policy) if args.policy else None
    if args.type_alias:
        policy = (policy or default_policy()).with_type_aliases(args.type_alias)
    if args.no_rings:
        policy = replace(policy or default_policy(), rings=())
    return policy


def _networks(args: argparse.Namespace, policy: Policy | None, stages: _Stages
              ) -> tuple[Any, Any]:
    """The walking network of ``run`` (downloaded, cached or the path) and the delivery
    network when a delivery circle needs it (None: the pipeline reads it)."""
    from .policy import default_policy

    if args.place or args.bbox:
        from .download import download_network

        bbox = None
        if args.bbox:
            try:
                bbox = tuple(float(v) for v in args.bbox.split(","))
            except ValueError:
                bbox = ()
            if len(bbox) != 4:
                raise CoverageError(f"--bbox {args.bbox!r}: expected four numbers "
                                    "west,south,east,north in degrees")
        network = download_network(place=args.place, bbox=bbox,  # type: ignore[arg-type]
                                   cache_dir=args.cache_dir)
        stages.done("network downloaded")
        return network, None
    if args.no_cache:
        return args.network, None
    from .network_cache import cached_network

    network = cached_network(args.network, cache_dir=args.cache_dir)
    stages.done("network loaded")
    delivery = None
    if any(c.mode == "delivery" for c in (policy or default_policy()).select(args.circles).circles):
        delivery = cached_network(args.network, mode="delivery", cache_dir=args.cache_dir)
        stages.done("delivery network loaded")
    return network, delivery


def _compute(args: argparse.Namespace, policy: Policy | None, out: Path, stages: _Stages
             ) -> tuple[CoverageResult, dict[str, Any]]:
    """Read the inputs, run the pipeline and return its result (warnings printed on
    stderr unless quiet) and what it read (``facilities``, ``population``, ``boundaries``,
    ``run_kwargs``: for a second run of ``sites``)."""
    from .pipeline import run

    delivery: Any = None  # the meal-delivery circles' network (read from --network)
    if args.command == "demo":
        from .demo import write_demo_inputs

        inputs = write_demo_inputs(out / "inputs")
        network, facilities, population, boundaries = (
            inputs.network, inputs.facilities, inputs.population, inputs.boundaries)
        fcrs, title = "wgs84", "示范县 Demo county (synthetic, near Wenling)"
        stages.done("demo inputs written")
    else:
        facilities, population, boundaries = args.facilities, args.population, args.boundaries
        fcrs, title = args.facilities_crs, args.title
        network, delivery = _networks(args, policy, stages)
    if args.command != "demo":
        from .facilities import read_facilities
        from .policy import default_policy

        facilities = read_facilities(
            facilities, crs=fcrs, strict=args.strict, encoding=args.encoding,
            sheet=args.sheet, types=(policy or default_policy()).facility_types)
        facilities.attrs["source"] = args.facilities
        stages.done("facility table read")
    progress = not (args.no_progress or args.quiet) and sys.stderr.isatty()
    kwargs = dict(policy=policy, circles=args.circles, facilities_crs=fcrs, out_crs=args.crs,
                  max_snap_m=args.max_snap_m, walk_speed_m_s=args.walk_speed,
                  progress=progress, title=title, facility_areas=args.facility_areas,
                  on_stage=stages)
    result = run(network, facilities, population, boundaries, delivery_network=delivery,
                 **kwargs)
    return result, {"facilities": facilities, "population": population,
                    "boundaries": boundaries, "run_kwargs": kwargs}


def _print_result(summary: dict[str, Any], out: Path, paths: dict[str, Path],
                  seconds: float, *, inputs: Path | None = None) -> None:
    """The result's summary on stdout (and where the demo's inputs are)."""
    print(f"elderly people: {summary['elderly_total']:,.0f}")
    for c in summary["circles"]:
        limit = f"{c['limit']:g} {c['unit']}"
        print(f"  {c['name']:<17} {limit:<8} covered {c['elderly_covered']:>10,.0f}  "
              f"({100 * c['coverage_rate']:5.1f} %)  gap areas {c.get('gap_areas', 0)}")
    for c in summary.get("circles_left_out", []):
        print(f"  {c['name']:<17} left out: {c['reason']}")
    f = summary["facilities"]
    print(f"facilities: {f['total']} in, {f['used']} used, {len(f['excluded'])} excluded")
    _print_excluded(f["excluded"])
    print(f"outputs in {out}/: " + ", ".join(p.name for p in paths.values()))
    if inputs is not None:
        print(f"demo inputs in {inputs}/")
    print(f"done in {seconds:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``eldercare-coverage`` command.

    Parameters
    ----------
    argv
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 on an error of the inputs or the policy (printed as one line
        ``error: ...`` on stderr).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "sites":
        from .site_command import check_site_arguments

        check_site_arguments(args, parser)
    if args.basemap == "tianditu" and not (args.tianditu_key or "").strip() and not args.no_map:
        parser.error("--basemap tianditu needs --tianditu-key KEY (a browser key from "
                     "console.tianditu.gov.cn)")
    level = logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    out = Path(args.out)
    t0 = time.perf_counter()
    stages = _Stages(quiet=args.quiet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            status = _main(args, out, stages, t0)
        except BrokenPipeError:  # e.g. `eldercare-coverage ... | head`: the reader left
            # Python's own recipe: nothing more to write, and none of it at exit either
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        finally:
            if not args.quiet:
                _print_warnings(caught)
    return status


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Each warning of the command once on stderr (a run's warnings are also in its
    summary.json and report; the rows the facility file's reader excluded, in its
    accounting), however many runs or readers raised it."""
    seen: set[tuple[str, str]] = set()
    for w in caught:
        key = (w.category.__name__, str(w.message))
        if key in seen:
            continue
        seen.add(key)
        print(f"warning: {w.message}", file=sys.stderr)


def _main(args: argparse.Namespace, out: Path, stages: _Stages, t0: float) -> int:
    """The command's work once its options are read (see :func:`main`)."""
    from .outputs import write_outputs

    try:
        policy = _read_policy(args)
        result, inputs = _compute(args, policy, out, stages)
        if args.command == "sites":
            from .site_command import choose_and_measure

            choose_and_measure(args, result, inputs, out, lang=args.lang, basemap=args.basemap,
                               tianditu_key=args.tianditu_key, stages=stages)
            print(f"done in {time.perf_counter() - t0:.1f} s")
            return 0
        paths = write_outputs(result, out, map_html=not args.no_map, basemap=args.basemap,
                              tianditu_key=args.tianditu_key, lang=args.lang)
        stages.done("outputs written")
    except CoverageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print_result(result.summary, out, paths, time.perf_counter() - t0,
                  inputs=out / "inputs" if args.command == "demo" else None)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
