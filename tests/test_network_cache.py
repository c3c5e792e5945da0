"""The network cache returns the very network the file gives, and never a stale one."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import shapely

from eldercare_coverage import settings
from eldercare_coverage.network import load_network
from eldercare_coverage.network_cache import cache_key, cached_network

DEMO = Path(__file__).resolve().parents[1] / "data" / "network" / "demo_county.osm"


def _same(a, b):
    assert a.crs == b.crs and a.mode == b.mode and a.directed == b.directed
    for name in ("node_id", "node_xy", "edge_u", "edge_v", "edge_length_m", "edge_highway"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert shapely.equals_exact(a.edge_geometry, b.edge_geometry, tolerance=0).all()


@pytest.fixture
def osm(tmp_path):
    path = tmp_path / "county.osm"
    shutil.copy(DEMO, path)
    return path


def test_cached_network_equals_the_file_and_its_engine_arrays(osm, tmp_path):
    direct = load_network(osm)
    first = cached_network(osm, cache_dir=tmp_path / "c")
    assert len(list((tmp_path / "c").glob("network-*.npz"))) == 1
    again = cached_network(osm, cache_dir=tmp_path / "c")
    _same(direct, first)
    _same(direct, again)
    # derived structures are rebuilt lazily and equal
    assert (again.csr != direct.csr).nnz == 0
    assert len(again.edge_tree) == direct.n_edges


def test_a_changed_file_is_read_again(osm, tmp_path):
    cached_network(osm, cache_dir=tmp_path / "c")
    text = osm.read_text(encoding="utf-8")
    cut = text.index("<way ")  # drop the first way: a different network
    end = text.index("</way>", cut) + len("</way>")
    osm.write_text(text[:cut] + text[end:], encoding="utf-8")
    os.utime(osm, ns=(1, 1))
    changed = cached_network(osm, cache_dir=tmp_path / "c")
    _same(load_network(osm), changed)
    assert len(list((tmp_path / "c").glob("network-*.npz"))) == 2


def test_a_corrupt_entry_is_rebuilt_and_logged(osm, tmp_path, caplog):
    cached_network(osm, cache_dir=tmp_path / "c")
    (entry,) = (tmp_path / "c").glob("network-*.npz")
    entry.write_bytes(b"not a zip file")
    with caplog.at_level(logging.WARNING, logger="eldercare_coverage.network_cache"):
        net = cached_network(osm, cache_dir=tmp_path / "c")
    assert "unreadable" in caplog.text and str(entry) in caplog.text
    _same(load_network(osm), net)
    assert entry.read_bytes()[:2] == b"PK"  # rewritten


def test_key_follows_mode_filter_and_crs(osm, monkeypatch):
    base = cache_key(osm)
    assert cache_key(osm) == base
    assert cache_key(osm, to_crs=32650) != base
    keys = {base}
    # every value of the walking rule is in the key
    for name, value in (
            ("walk_exclude_highway", settings.walk_exclude_highway | {"steps"}),
            ("walk_foot_only_highway", frozenset()),
            ("walk_foot_allowed", frozenset({"yes"})),
            ("walk_exclude_tags", {**settings.walk_exclude_tags, "bridge": frozenset({"yes"})}),
            ("walk_restricted_tags", {"access": frozenset({"private", "no"})})):
        monkeypatch.setattr(settings, name, value)
        assert cache_key(osm) not in keys, name
        keys.add(cache_key(osm))
        monkeypatch.undo()
    assert cache_key(osm) == base


def test_a_changed_walking_rule_reads_the_file_again(osm, tmp_path, monkeypatch):
    before = cached_network(osm, cache_dir=tmp_path / "c")
    monkeypatch.setattr(settings, "walk_foot_only_highway", frozenset())
    monkeypatch.setattr(settings, "walk_exclude_highway",
                        settings.walk_exclude_highway | {"footway", "steps"})
    after = cached_network(osm, cache_dir=tmp_path / "c")
    assert after.n_edges < before.n_edges
    _same(load_network(osm), after)
    assert len(list((tmp_path / "c").glob("network-*.npz"))) == 2


def test_unwritable_cache_folder_still_loads(osm, tmp_path, caplog):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    with caplog.at_level(logging.WARNING, logger="eldercare_coverage.network_cache"):
        net = cached_network(osm, cache_dir=blocker / "sub")
    assert net.n_edges == load_network(osm).n_edges
    assert "could not write" in caplog.text
