"""Turn the JSON lines of ``bench_county.py`` into the Markdown tables of RESULTS.md.

Usage::

    python benchmarks/bench_county.py --scales 0.25 0.5 1 2 > bench.jsonl
    python benchmarks/render_results.py bench.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def render(lines: list[str]) -> str:
    """Markdown: one table of times and ratios, one of coverage, one of stage timings."""
    rows = [json.loads(line) for line in lines if line.strip().startswith("{")]
    machine = next((r for r in rows if "machine" in r), {})
    by_scale: dict[float, dict[str, dict]] = {}
    prep: dict[float, dict] = {}
    for r in rows:
        if "method" in r:
            by_scale.setdefault(r["scale"], {})[r["method"]] = r
        elif "prepare" in r:
            prep[r["scale"]] = {**r["prepare"], "regions_s": r.get("regions_s")}
    out = [f"Machine: {machine.get('machine', '?')}, {machine.get('cpus', '?')} CPUs, "
           f"Python {machine.get('python', '?')}"
           + (f"; speed: {machine['python_loop_s']:.2f} s for a fixed Python loop, "
              f"{machine['numpy_sort_s'] * 1000:.0f} ms for a fixed numpy sort"
              if "python_loop_s" in machine else "") + ".", "",
           "| scale | cells | our `run` (s) | our distance step (s) | + segment index (s) | "
           "lower bound (s) | "
           "distance / lower bound | the same, paired in one process | "
           "lower bound, edge samples (s) | distance / it | "
           "osmnx recipe (s) | osmnx / our distances | "
           "osmnx / our `run` | osmnx recipe on osmnx's graph (s) | it / our distances | "
           "pandana (s) | peak RSS of `run` (MB) | generate (s) | "
           "first load, OSM XML (s) | street regions, once per network (s) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for scale in sorted(by_scale):
        m = by_scale[scale]

        def sec(name: str, key: str = "seconds", m: dict = m) -> float:
            return float(m.get(name, {}).get(key, float("nan")))

        ours = sec("ours", "seconds_excl_load")
        dist, low, osm, pan = (sec("ours_dist"), sec("lower_bound"), sec("osmnx"),
                               sec("pandana"))
        low_e, osm_g = sec("lower_bound_edges"), sec("osmnx_graph")
        cells = m.get("ours", {}).get("cells", "")
        out.append(
            f"| {scale:g} | {cells} | {ours:.1f} | {dist:.3f} | {sec('ours_dist', 'index_s'):.3f} | "
            f"{low:.3f} | {dist / low:.1f}x | {sec('ours_dist', 'paired_ratio'):.1f}x | "
            f"{low_e:.3f} | {dist / low_e:.1f}x | "
            f"{osm:.2f} | {osm / dist:.1f}x | {osm / ours:.2f}x | {osm_g:.2f} | "
            f"{osm_g / dist:.1f}x | {pan:.2f} | "
            f"{m.get('ours', {}).get('peak_rss_mb', float('nan')):.0f} | "
            f"{prep.get(scale, {}).get('generate_s', '')} | "
            f"{prep.get(scale, {}).get('first_load_s', '')} | "
            f"{prep.get(scale, {}).get('regions_s') or ''} |")
    out += ["", "Coverage of the elderly (share) by each method, full-size county:", "",
            "| method | walk_1500m | walk_15min (810 m) | home_500m | what it measures |",
            "|---|---|---|---|---|"]
    what = {"ours": "area-weighted share (10 m pixels) of each cell inside the service areas",
            "ours_dist": "cell centres by exact network distance (partial edges, access legs)",
            "lower_bound": "cell centres by the distance of their nearest node to the "
                           "facilities' nearest nodes",
            "osmnx": "area share inside the convex hulls of ego graphs from facilities' "
                     "nearest nodes",
            "osmnx_graph": "the same on the graph osmnx builds from the .osm file",
            "pandana": "cell centres' nearest nodes by nearest_pois (node to node)"}
    full = by_scale.get(1.0, {})
    for name, r in full.items():
        cov = (r.get("coverage") or r.get("coverage_centroid") or r.get("coverage_node")
               or r.get("coverage_hull") or {})
        if not cov:  # a timing-only method
            continue
        vals = " | ".join(f"{100 * cov[k]:.1f} %" if k in cov else "" for k in
                          ("walk_1500m", "walk_15min", "home_500m"))
        out.append(f"| {name} | {vals} | {what.get(name, '')} |")
    out += ["", "Where our `run` spends its time (seconds):", "",
            "| scale | " + " | ".join(["load", "facilities", "population", "distances",
                                        "service_areas", "overlay", "units", "gaps", "total"])
            + " |", "|---" * 10 + "|"]
    for scale in sorted(by_scale):
        t = by_scale[scale].get("ours", {}).get("timing", {})
        out.append(f"| {scale:g} | " + " | ".join(
            f"{t.get(k, float('nan')):.2f}" for k in ("load", "facilities", "population",
                                                       "distances", "service_areas", "overlay",
                                                       "units", "gaps", "total")) + " |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(Path(sys.argv[1]).read_text(encoding="utf-8").splitlines()))
