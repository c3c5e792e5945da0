"""Notebooks are documentation that runs: execute every code cell of every notebook."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), \
        "commit notebooks with outputs stripped"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                exec(compile("".join(cell["source"]), path.name, "exec"), namespace)
    # the only warning a reader sees is the demo's planned facility without coordinates
    messages = [f"{w.category.__name__}: {w.message}" for w in caught]
    assert len(messages) == 1 and "row 66: missing coordinates" in messages[0], messages
    assert (tmp_path / "demo-output" / "map.html").exists()
