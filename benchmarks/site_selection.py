"""Site selection at county scale: the coverage matrix, MCLP by HiGHS, scenario evaluation.

Usage::

    python benchmarks/site_selection.py [--county /tmp/dense-county] [--circle walk_1500m]
        [--spacing-m 100] [--k 5 10 20] [--time-limit-s 600]

Runs :func:`eldercare_coverage.run` on the benchmark county (``county.osm.pbf``,
``facilities.csv``, ``elderly_60plus.tif``, ``units.geojson``; written by
``python benchmarks/make_dense_county.py --out /tmp/dense-county --pbf`` when missing),
generates candidates every ``--spacing-m`` along the streets of the circle's gap areas,
builds the coverage matrix once, and solves MCLP for each ``k`` with HiGHS from the greedy
start. Printed per ``k``: candidates, demand groups, objective (elderly newly covered),
the solver's bound, the gap, the solve time, the greedy objective and the matrix-building
time; then the time of scenario evaluations (sites added; a facility closed, first time
with its searches and again; both).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--county", default="/tmp/dense-county")
    parser.add_argument("--circle", default="walk_1500m")
    parser.add_argument("--spacing-m", type=float, default=100.0)
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--time-limit-s", type=float, default=600.0)
    args = parser.parse_args(argv)

    county = Path(args.county)
    if not (county / "county.osm.pbf").is_file():
        subprocess.run([sys.executable, str(HERE / "make_dense_county.py"), "--out",
                        str(county), "--pbf"], check=True)

    from eldercare_coverage import run
    from eldercare_coverage.siting import select_sites, siting_problem

    t0 = time.perf_counter()
    result = run(county / "county.osm.pbf", county / "facilities.csv",
                 county / "elderly_60plus.tif", county / "units.geojson",
                 circles=[args.circle], progress=False)
    row = next(c for c in result.summary["circles"] if c["name"] == args.circle)
    state = result.meta["state"]
    print(f"run: {time.perf_counter() - t0:.1f} s; network {state.prepared.network.n_nodes} "
          f"nodes, {state.prepared.network.n_edges} edges; "
          f"{len(state.population.pixels.cell_of)} pixels; {args.circle} rate "
          f"{row['coverage_rate']:.4f} ({row['elderly_covered']:.0f} of "
          f"{row['elderly_counted']:.0f}), {row['facilities_used']} facilities")

    t0 = time.perf_counter()
    problem = siting_problem(result, args.circle, spacing_m=args.spacing_m)
    total_s = time.perf_counter() - t0
    reaching = int((problem.groups.cover.getnnz(axis=0) > 0).sum())
    print(f"candidates: {len(problem.candidates)} every {args.spacing_m:g} m on the gap "
          f"streets ({reaching} reach unserved people); unserved pixels "
          f"{int((~problem.served).sum())}; matrix nnz {problem.unserved_cover.nnz}; "
          f"demand groups {len(problem.groups.weight)}; matrix built in {problem.build_s:.1f} s "
          f"(candidates and matrix {total_s:.1f} s)")
    print(f"{'k':>3} {'cands':>6} {'groups':>7} {'objective':>10} {'bound':>10} {'gap':>9} "
          f"{'solve_s':>8} {'greedy':>10} {'matrix_s':>8} {'rate_after':>10}")
    chosen = {}
    for k in args.k:
        sel = select_sites(result, k, circle=args.circle, problem=problem,
                           time_limit_s=args.time_limit_s)
        chosen[k] = sel
        print(f"{k:>3} {len(problem.candidates):>6} {len(problem.groups.weight):>7} "
              f"{sel.objective:>10.1f} {sel.bound:>10.1f} {sel.gap:>9.2e} {sel.solve_s:>8.2f} "
              f"{sel.solution.greedy_objective:>10.1f} {problem.build_s:>8.1f} "
              f"{sel.rate_after:>10.4f}  ({sel.solution.status})")

    sites = chosen[max(args.k)].sites["candidate_id"]
    catch = result.catchments[result.catchments["circle"] == args.circle]
    busiest = str(catch.sort_values("elderly_covered")["facility_id"].iat[-1])
    for label, kwargs in (
            ("nothing changed", {}),
            (f"{len(sites)} sites added", {"open_candidates": sites}),
            (f"facility {busiest} closed (first: its searches)", {"closed_facilities": [busiest]}),
            (f"facility {busiest} closed (again)", {"closed_facilities": [busiest]}),
            (f"closed and {len(sites)} sites added",
             {"open_candidates": sites, "closed_facilities": [busiest]})):
        out = problem.evaluate(**kwargs)
        print(f"evaluate, {label}: rate {out['coverage_rate']:.5f} in {out['seconds'] * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
