"""Command line: ``eldercare-coverage demo|run``.

The CLI only calls the public API (:func:`eldercare_coverage.pipeline.run`,
:func:`eldercare_coverage.outputs.write_outputs`, :func:`eldercare_coverage.demo.write_demo_inputs`).
Errors of the package are printed as one readable line and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from ._errors import CoverageError

DEFAULT_OUT = "coverage-output"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="eldercare-coverage",
        description="Walking service circles of elderly-care facilities on the street network: "
        "who is covered, who is not, and where the gaps are.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
        sp.add_argument("--circles", nargs="+", metavar="NAME",
                        help="circles to compute (default: all of the policy)")
        sp.add_argument("--policy", metavar="CSV", help="circles table (default: shipped one)")
        sp.add_argument("--crs", default="EPSG:4326", help="CRS of the outputs (default EPSG:4326)")
        sp.add_argument("--max-snap-m", type=float, help="longest access leg to a street, metres")
        sp.add_argument("--walk-speed", type=float, help="elderly walking speed, m/s (default 0.9)")
        sp.add_argument("--no-progress", action="store_true", help="hide progress bars")
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

    demo = sub.add_parser("demo", help="run the whole pipeline on the embedded demo county")
    common(demo)
    run = sub.add_parser("run", help="run on your own network, facilities and population")
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
    common(run)
    return p


def _print_excluded(excluded: list[dict], *, max_ids: int = 6) -> None:
    """Print excluded facilities grouped by reason (long lists of one reason abridged)."""
    by_reason: dict[str, list[dict]] = {}
    for e in excluded:
        by_reason.setdefault(e["reason"], []).append(e)
    for reason, rows in by_reason.items():
        if len(rows) == 1:
            e = rows[0]
            print(f"  excluded row {e['source_row']} {e['facility_id']} {e['name']}: {reason}")
            continue
        ids = ", ".join(str(e["facility_id"]) for e in rows[:max_ids])
        more = f" and {len(rows) - max_ids} more" if len(rows) > max_ids else ""
        print(f"  excluded {len(rows)} ({ids}{more}): {reason}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``eldercare-coverage`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.basemap == "tianditu" and not (args.tianditu_key or "").strip() and not args.no_map:
        parser.error("--basemap tianditu needs --tianditu-key KEY (a browser key from "
                     "console.tianditu.gov.cn)")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from .outputs import write_outputs
    from .pipeline import run
    from .policy import read_policy

    out = Path(args.out)
    t0 = time.perf_counter()
    try:
        policy = read_policy(args.policy) if args.policy else None
        if args.no_rings:
            from dataclasses import replace

            from .policy import default_policy

            policy = replace(policy or default_policy(), rings=())
        network: Any
        delivery: Any = None  # the meal-delivery circles' network (read from --network)
        if args.command == "demo":
            from .demo import write_demo_inputs

            inputs = write_demo_inputs(out / "inputs")
            network, facilities, population, boundaries = (
                inputs.network, inputs.facilities, inputs.population, inputs.boundaries)
            fcrs, title = "wgs84", "示范县 Demo county (synthetic, near Wenling)"
            print(f"demo inputs written to {out / 'inputs'}")
        else:
            network, facilities, population, boundaries = (
                args.network, args.facilities, args.population, args.boundaries)
            fcrs, title = args.facilities_crs, args.title
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
            elif not args.no_cache:
                from .network_cache import cached_network

                network = cached_network(network, cache_dir=args.cache_dir)
                from .policy import default_policy as _default

                if any(c.mode == "delivery"
                       for c in (policy or _default()).select(args.circles).circles):
                    delivery = cached_network(args.network, mode="delivery",
                                              cache_dir=args.cache_dir)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if args.command == "run":
                from .facilities import read_facilities
                from .policy import default_policy

                facilities = read_facilities(
                    facilities, crs=fcrs, strict=args.strict, encoding=args.encoding,
                    sheet=args.sheet, types=(policy or default_policy()).facility_types)
                facilities.attrs["source"] = args.facilities
            result = run(network, facilities, population, boundaries, policy=policy,
                         circles=args.circles, facilities_crs=fcrs, out_crs=args.crs,
                         max_snap_m=args.max_snap_m, walk_speed_m_s=args.walk_speed,
                         progress=not args.no_progress, title=title,
                         facility_areas=args.facility_areas, delivery_network=delivery)
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
        paths = write_outputs(result, out, map_html=not args.no_map, basemap=args.basemap,
                              tianditu_key=args.tianditu_key)
    except CoverageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    s = result.summary
    print(f"elderly people: {s['elderly_total']:,.0f}")
    for c in s["circles"]:
        print(f"  {c['name']:<12} {c['limit']:g} {c['unit']:<3}  covered {c['elderly_covered']:>10,.0f}"
              f"  ({100 * c['coverage_rate']:.1f} %)  gap areas {c.get('gap_areas', 0)}")
    f = s["facilities"]
    print(f"facilities: {f['total']} in, {f['used']} used, {len(f['excluded'])} excluded")
    _print_excluded(f["excluded"])
    print(f"outputs in {out}/: " + ", ".join(p.name for p in paths.values()))
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
