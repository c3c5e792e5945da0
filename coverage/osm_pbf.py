"""OSM PBF written as OSM XML for osmnx (:func:`eldercare_coverage.osm_graph.graph_from_file`).

The engine's network does not come through here: :func:`eldercare_coverage.network.load_network`
reads PBF and OSM XML alike with pyosmium straight into arrays
(:mod:`eldercare_coverage.osm_reader`). This module is for the osmnx graph of a PBF (delivery
graphs with their one-way streets, and users who want osmnx's objects): osmnx reads only OSM
XML, so :func:`street_xml_from_pbf` writes the PBF's street ways (``highway=*``) and exactly
the nodes they reference to a temporary ``.osm`` file that osmnx then reads like any OSM
download. A PBF and the XML made from it give the same graph, by construction. A clipped
extract's ways are cut at the nodes missing from the file, as the array reader cuts them.

The cost is the XML round trip (about a second per 10 MB of PBF).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ._errors import InputFileError, NetworkError

log = logging.getLogger(__name__)


def street_xml_from_pbf(pbf: str | Path, xml: str | Path) -> int:
    """Write the ``highway`` ways of a PBF and the nodes they use as OSM XML.

    Parameters
    ----------
    pbf
        ``.osm.pbf`` file.
    xml
        Output ``.osm`` file (overwritten).

    Returns
    -------
    int
        Number of ways written.

    Raises
    ------
    InputFileError
        When the file cannot be read as OSM PBF.
    NetworkError
        When it holds no way tagged ``highway``.
    """
    try:
        import osmium
    except ImportError as exc:  # pragma: no cover - osmium is a dependency
        raise InputFileError(f"{pbf}: reading OSM PBF needs pyosmium (`pip install osmium`)"
                             ) from exc
    pbf, xml = Path(pbf), Path(xml)
    n = cut = 0
    try:  # a first, cheap pass finds damaged files before any writer exists
        streets = sum(1 for _ in osmium.FileProcessor(str(pbf), osmium.osm.WAY)
                      .with_filter(osmium.filter.KeyFilter("highway")))
    except RuntimeError as exc:  # libosmium reports format errors as RuntimeError
        raise InputFileError(f"{pbf}: cannot read OSM PBF ({exc}); is the file complete? "
                             "Download it again or check it with `osmium fileinfo`") from exc
    if streets == 0:
        raise NetworkError(f"{pbf}: the file holds no street (no way tagged highway=*)")
    try:
        with osmium.BackReferenceWriter(str(xml), ref_src=str(pbf), overwrite=True) as writer:
            objects = (osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY)
                       .with_locations()
                       .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
                       .with_filter(osmium.filter.KeyFilter("highway")))
            for way in objects:
                assert isinstance(way, osmium.osm.Way)  # the entity filter passes ways only
                refs = [(nd.ref, nd.location.valid()) for nd in way.nodes]
                if all(ok for _, ok in refs):
                    writer.add_way(way)
                    n += 1
                    continue
                # a clipped extract: keep the runs of the way whose nodes are in the file
                cut += 1
                for k, run in enumerate(_runs(refs)):
                    part_id = way.id if k == 0 else -(way.id * 1000 + k)
                    writer.add_way(osmium.osm.mutable.Way(base=way, id=part_id, nodes=run))
                    n += 1
    except RuntimeError as exc:  # libosmium reports format errors as RuntimeError
        raise InputFileError(f"{pbf}: cannot read OSM PBF ({exc}); is the file complete? "
                             "Download it again or check it with `osmium fileinfo`") from exc
    if n == 0:
        raise NetworkError(f"{pbf}: the file holds no street (no way tagged highway=*)")
    if cut:
        log.warning("%s: %d street ways reference nodes missing from the file (a clipped "
                    "extract); they were cut at the missing nodes", pbf, cut)
    return n


def _runs(refs: list[tuple[int, bool]]) -> list[list[int]]:
    """Runs of at least two consecutive node ids whose nodes exist."""
    runs: list[list[int]] = []
    current: list[int] = []
    for ref, ok in refs:
        if ok:
            current.append(ref)
            continue
        if len(current) >= 2:
            runs.append(current)
        current = []
    if len(current) >= 2:
        runs.append(current)
    return runs
