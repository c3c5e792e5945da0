"""``eldercare-coverage sites``: choose new sites, then measure them with a second run.

The command reads the same inputs as ``run`` and runs the pipeline on them (only the
chosen circle unless ``--circles`` asks for more), chooses sites on that run's field
(:func:`~eldercare_coverage.siting.select_sites`), then runs the pipeline again with the
chosen sites appended to the facility table, on the network already prepared. It writes:

- ``sites.csv``, ``sites.geojson``, ``sites_summary.json``
  (:func:`~eldercare_coverage.site_outputs.write_sites`); the summary also holds the rate
  the second run *measured* (``coverage_rate_measured_after``) beside the promised one;
- ``sites_map.html``: the second run's coverage map with the service area before the sites
  as a dashed outline and the sites numbered by rank
  (:func:`~eldercare_coverage.site_map.write_site_map`).

The promised rate is a coverage rate for every model: the share of the circle's counted
elderly that the existing facilities and the new sites reach within the limit, which is
what the second run measures. For ``--model capacity`` it is therefore not the people
the sites serve within their capacity (that is the model's objective, ``elderly_served``
in ``sites.csv`` and in the summary), but everyone they reach, computed by the problem's
evaluator (:meth:`~eldercare_coverage.site_problem.SiteProblem.evaluate`) on the ranked
sites. A measured rate that differs from the promised one by more than 0.5 % of the rate
is an error: it would mean the model and the run disagree about distances.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from ._errors import CoverageError
from .result import CoverageResult

#: Largest relative difference between the promised and the measured rate (0.5 %).
CLAIM_TOLERANCE = 0.005


def add_site_arguments(sp: argparse.ArgumentParser) -> None:
    """The options of ``sites`` beyond the inputs of ``run``."""
    sp.add_argument("--circle", default="walk_1500m",
                    help="the circle whose gap the new sites close (default walk_1500m)")
    sp.add_argument("--model", default="mclp", choices=["mclp", "lscp", "capacity"],
                    help="mclp: K sites covering the most elderly not yet covered (default); "
                    "lscp: the fewest sites reaching --target; capacity: K sites, each "
                    "serving at most its capacity")
    sp.add_argument("--k", type=int, help="number of new sites (mclp, capacity)")
    sp.add_argument("--target", type=float,
                    help="lscp: coverage rate to reach, 0..1 (default: every elderly person "
                    "a candidate can reach)")
    sp.add_argument("--candidates", metavar="FILE",
                    help="candidate sites (CSV, XLSX, GeoJSON, GPKG with lon/经度, lat/纬度; "
                    "optional name, capacity/容量, beds/床位); default: points on the "
                    "streets of the gap areas")
    sp.add_argument("--candidates-crs", default="wgs84", choices=["wgs84", "gcj02", "bd09"],
                    help="coordinate system of the candidate file (default wgs84)")
    sp.add_argument("--also-streets", action="store_true",
                    help="with --candidates: also generate candidates on the gap streets")
    sp.add_argument("--spacing", type=float, default=None, metavar="M",
                    help="spacing of generated street candidates, metres (default 200)")
    sp.add_argument("--capacity", type=float,
                    help="capacity model: elderly a site can serve where the candidate file "
                    "gives no capacity or beds")
    sp.add_argument("--type", dest="site_type", metavar="CODE",
                    help="facility type of the new sites (default: the circle's most common)")
    sp.add_argument("--time-limit", type=float, default=600.0, metavar="S",
                    help="solver time limit, seconds (default 600)")


def check_site_arguments(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Stop with a usage error when the model's numbers are missing or belong to another
    model; set ``args.circles`` to the circles the runs measure (the chosen one, and any
    others ``--circles`` asks for)."""
    if args.model in ("mclp", "capacity") and (args.k is None or args.k < 1):
        parser.error(f"--model {args.model} needs --k N, the number of new sites (N >= 1)")
    if args.model == "lscp" and args.k is not None:
        parser.error("--model lscp chooses the number of sites itself: give --target, not --k")
    if args.target is not None and args.model != "lscp":
        parser.error(f"--target is the coverage rate --model lscp reaches; --model "
                     f"{args.model} takes --k")
    if args.target is not None and not 0 < args.target <= 1:
        parser.error(f"--target {args.target}: a coverage rate in (0, 1], e.g. 0.95")
    if args.capacity is not None and args.model != "capacity":
        parser.error("--capacity is for --model capacity")
    if args.capacity is not None and not args.capacity > 0:
        parser.error(f"--capacity {args.capacity}: elderly people per site, > 0")
    if args.spacing is not None and not args.spacing > 0:
        parser.error(f"--spacing {args.spacing}: metres between street candidates, > 0")
    if not args.time_limit > 0:
        parser.error(f"--time-limit {args.time_limit}: seconds, > 0")
    # only the chosen circle is measured (and only its networks are read) unless --circles
    # asks for more; a --circles without it gets it
    if args.circles is None:
        args.circles = [args.circle]
    elif args.circle not in args.circles:
        args.circles = [*args.circles, args.circle]


def choose_and_measure(args: argparse.Namespace, before: CoverageResult,
                       inputs: dict[str, Any], out: Path, *, lang: str, basemap: str,
                       tianditu_key: str | None, stages: Any) -> dict[str, Path]:
    """Choose the sites on ``before``, run again with them, write the files.

    ``inputs`` holds what the first run read: ``facilities`` (the facility table),
    ``population``, ``boundaries`` and the keyword arguments of the run (``run_kwargs``).
    """
    from .candidates import DEFAULT_SPACING_M
    from .pipeline import run
    from .site_map import write_site_map
    from .site_outputs import sites_to_facilities, write_sites
    from .siting import select_sites

    selection = select_sites(
        before, args.k, circle=args.circle, model=args.model, target=args.target,
        candidates=args.candidates, candidates_crs=args.candidates_crs,
        generate=True if args.also_streets else None,
        spacing_m=DEFAULT_SPACING_M if args.spacing is None else args.spacing,
        capacity=args.capacity,
        facility_type=args.site_type, time_limit_s=args.time_limit)
    stages.done("sites chosen")
    state = before.meta["state"]
    rows = sites_to_facilities(selection)
    table = inputs["facilities"]
    facilities = pd.concat([table, rows.to_crs(table.crs)], ignore_index=True)
    facilities.attrs.update(table.attrs)
    kwargs = dict(inputs["run_kwargs"])
    if "delivery" in state.modes:
        kwargs["delivery_network"] = state.modes["delivery"].prepared
    after = run(state.prepared, facilities, inputs["population"], inputs["boundaries"],
                **kwargs)
    stages.done("sites measured")
    measured = next(c for c in after.summary["circles"] if c["name"] == selection.circle)
    promised = selection.rate_after
    out.mkdir(parents=True, exist_ok=True)
    paths = write_sites(selection, out)
    summary = json.loads(paths["summary"].read_text(encoding="utf-8"))
    summary["coverage_rate_measured_after"] = measured["coverage_rate"]
    summary["elderly_covered_measured_after"] = measured["elderly_covered"]
    paths["summary"].write_text(json.dumps(summary, ensure_ascii=False, indent=2),
                                encoding="utf-8")
    if not args.no_map:
        paths["map"] = write_site_map(before, after, selection, out / "sites_map.html",
                                      basemap=basemap, tianditu_key=tianditu_key, lang=lang)
    stages.done("site files written")
    if abs(measured["coverage_rate"] - promised) > CLAIM_TOLERANCE * max(promised, 1e-12):
        raise CoverageError(
            f"the chosen sites promised {100 * promised:.3f} % for {selection.circle} but a new "
            f"run with them measures {100 * measured['coverage_rate']:.3f} %: please report "
            f"this as a bug (files written to {out})")
    print(f"{selection.circle}: {len(selection.sites)} new sites ({selection.model}), "
          f"coverage {100 * selection.rate_before:.2f} % -> {100 * promised:.2f} % promised, "
          f"{100 * measured['coverage_rate']:.2f} % measured by a new run")
    print(f"  solver {selection.solution.solver}: objective {selection.objective:,.1f}, "
          f"gap {_pct(selection.gap)}, {selection.solve_s:.1f} s; "
          f"{len(selection.problem.candidates.table)} candidates")
    for site in selection.sites.itertuples():
        where = " ".join(str(v) for v in (site.town, site.village) if v)
        serves = f" serves {site.elderly_served:,.0f}" if selection.model == "capacity" else ""
        print(f"  {int(site.rank):>3}. {site.candidate_id:<12} {site.lon:.6f},{site.lat:.6f} "
              f"+{site.elderly_newly_covered:,.0f} -> {100 * site.coverage_rate_cumulative:.2f} %"
              f"{serves}  {where}")
    return paths


def _pct(value: float) -> str:
    return "–" if value is None or value != value else f"{100 * max(value, 0.0):.2f} %"
