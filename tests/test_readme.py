"""The README's set-up commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(python3 -m venv .+?)\n```", text)


def test_readme_has_demo_and_test_commands():
    cmds = _commands()
    assert any("eldercare-coverage demo" in c for c in cmds)
    assert any("pytest" in c and ".[test]" in c for c in cmds)


def test_ci_runs_the_readme_test_command():
    test_cmd = next(c for c in _commands() if "pytest" in c)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # CI creates the venv itself (fresh), then runs the rest of the README command verbatim
    rest = test_cmd.split(" && ", 1)[1]
    assert rest in ci
    # line coverage is reported, through the `pytest` script (python -m pytest would put the
    # folder coverage/ ahead of coverage.py on the import path)
    assert "--cov=eldercare_coverage" in test_cmd and " python -m pytest" not in test_cmd
