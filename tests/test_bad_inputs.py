"""Every kind of bad input a planner may bring, run through the CLI: the exit code and the
exact lines the user reads (the table is tests/bad_inputs.py; docs/bad_inputs.md shows it)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from eldercare_coverage.cli import main

from .bad_inputs import BND, CASES, FAC, NET, POP

ROOT = Path(__file__).resolve().parents[1]
STAGE_LINE = re.compile(r"  \S.* +\d+\.\d s")  # the CLI's line per finished stage


def _argv(case, tmp: Path) -> list[str]:
    args = {"--network": str(NET), "--facilities": str(FAC), "--population": str(POP)}
    args.update(case.make(tmp))
    argv = ["run"]
    for k, v in args.items():
        argv += [k, v]
    argv += ["--out", str(tmp / "out"), "--no-progress", "--no-map", "--no-rings",
             "--circles", "home_500m", "--no-cache"]
    return argv + [a.replace("{tmp}", str(tmp)) for a in case.extra]


def test_the_table_covers_every_input_and_many_kinds():
    assert len(CASES) >= 20
    assert {c.kind for c in CASES} == {"facilities", "network", "population", "boundaries",
                                       "policy"}
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_the_exact_message(case, tmp_path, capsys):
    code = main(_argv(case, tmp_path))
    err = capsys.readouterr().err.splitlines()
    assert code == case.code, err
    for line in case.lines:
        assert line.replace("{tmp}", str(tmp_path)) in err, "\n".join(err)
    if case.code:
        # one message after the lines of the stages that finished, no traceback
        first = next(i for i, line in enumerate(err) if line.startswith("error: "))
        assert all(STAGE_LINE.fullmatch(line) for line in err[:first]), err
        assert sum(line.startswith("error: ") for line in err) == 1, err
        assert not any("Traceback" in line for line in err), err


def test_boundaries_file_is_the_demo_one():
    assert BND.exists()


def test_docs_table_is_up_to_date():
    spec = importlib.util.spec_from_file_location("bad_inputs_table",
                                                  ROOT / "scripts" / "bad_inputs_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "bad_inputs.md").read_text(encoding="utf-8") == module.render(), \
        "run `python scripts/bad_inputs_table.py` to refresh docs/bad_inputs.md"
