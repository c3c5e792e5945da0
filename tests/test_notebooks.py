"""Notebooks are documentation that runs: execute every notebook in a real Jupyter kernel
(nbconvert's ExecutePreprocessor, kernel ``python3`` of ipykernel) as a reader would, and
hold what the reader sees: no error, no warning, nothing on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
TIMEOUT_S = 600  # per cell; the demo's run takes seconds


def _stderr_or_warnings(nb) -> list[str]:
    """Every output a reader would see as a problem: stderr streams (warnings, logging)
    and errors, as ``cell N: text``."""
    found = []
    for k, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                found.append(f"cell {k}: stderr: {out.get('text', '')[:500]}")
            elif out.get("output_type") == "error":
                found.append(f"cell {k}: {out.get('ename')}: {out.get('evalue')}")
            elif "warning" in str(out.get("text", "")).lower():
                found.append(f"cell {k}: {out.get('text', '')[:500]}")
    return found


#: What each notebook leaves in its working folder.
MADE = {"demo_county.ipynb": ["demo-output/map.html"],
        "site_selection.ipynb": ["sites_map.html", "demo-output/sites.csv"]}


def test_every_notebook_says_what_it_makes():
    assert sorted(MADE) == sorted(p.name for p in NOTEBOOKS)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_without_warnings(path, tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="nbconvert (a test extra) runs notebooks")
    from nbconvert.preprocessors import ExecutePreprocessor

    raw = json.loads(path.read_text(encoding="utf-8"))
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in raw["cells"] if c["cell_type"] == "code"), \
        "commit notebooks with outputs stripped"
    nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    ExecutePreprocessor(timeout=TIMEOUT_S, kernel_name="python3").preprocess(
        nb, {"metadata": {"path": str(tmp_path)}})
    assert _stderr_or_warnings(nb) == []
    for made in MADE[path.name]:
        assert (tmp_path / made).exists(), made
    # the map is shown in the notebook (the folium map's own HTML), in the plan's words
    shown = [out for cell in nb.cells for out in cell.get("outputs", [])
             if "text/html" in out.get("data", {}) and "leaflet" in
             out["data"]["text/html"].lower()]
    assert shown, "no cell shows the map"


def test_the_check_finds_stderr_and_warnings():
    """The check above can fail: a stderr stream and a printed warning are found."""
    nbformat = pytest.importorskip("nbformat", reason="nbconvert (a test extra) runs notebooks")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1", outputs=[
        nbformat.v4.new_output("stream", name="stderr", text="UserWarning: x\n")]),
        nbformat.v4.new_code_cell("2", outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="warning: y\n")]),
        nbformat.v4.new_code_cell("3", outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="fine\n")])]
    found = _stderr_or_warnings(nb)
    assert len(found) == 2 and found[0].startswith("cell 0: stderr")
