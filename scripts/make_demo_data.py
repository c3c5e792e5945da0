"""Regenerate the committed demo county inputs.

Usage::

    python scripts/make_demo_data.py [--out data]

Writes ``network/demo_county.osm``, ``facilities/demo_facilities.csv``,
``population/demo_elderly_60plus.tif`` and ``boundaries/demo_units.geojson`` under
``--out`` with :func:`coverage.demo.write_demo_inputs` (same spec and seed as the
committed files, so the output is identical).
"""

from __future__ import annotations

import argparse
import time

from eldercare_coverage.demo import DEFAULT_SEED, DemoSpec, write_demo_inputs


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, write the files and print their paths and sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data", help="target folder (default: data)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed")
    parser.add_argument("--wenling-scale", type=float, default=None,
                        help="write the county-scale benchmark preset instead of the demo")
    args = parser.parse_args(argv)
    spec = DemoSpec.demo() if args.wenling_scale is None else DemoSpec.wenling(args.wenling_scale)
    t0 = time.perf_counter()
    inputs = write_demo_inputs(args.out, spec=spec, seed=args.seed)
    for path in (inputs.network, inputs.facilities, inputs.population, inputs.boundaries):
        print(f"{path}  {path.stat().st_size:,} bytes")
    print(f"written in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
