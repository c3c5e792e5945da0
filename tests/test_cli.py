"""The command line: a line per stage on a non-terminal stderr (no progress bars),
``--quiet``, ``--help`` built from the policy and the facility reader, ``--type-alias``
and its errors."""

from __future__ import annotations

import csv
import json
import re

import pytest

from eldercare_coverage.cli import STAGE_LABELS, main
from eldercare_coverage.demo import write_demo_inputs
from eldercare_coverage.facilities import COLUMN_ALIASES
from eldercare_coverage.policy import default_policy

FAST = ["--no-map", "--circles", "walk_1500m", "meal_walk_15min"]


def test_stage_lines_on_a_non_terminal_and_no_progress_bars(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), *FAST]) == 0
    captured = capsys.readouterr()
    err = captured.err
    assert "\r" not in err and "█" not in err
    lines = err.splitlines()
    for label in ("demo inputs written", *STAGE_LABELS.values(), "outputs written"):
        line = next((x for x in lines if x.strip().startswith(label)), None)
        assert line is not None, (label, err)
        assert re.fullmatch(rf"  {re.escape(label)} +\d+\.\d s", line), line
    # the result goes to stdout
    assert "elderly people: 47,836" in captured.out
    assert "walk_1500m" in captured.out


def test_quiet_leaves_stderr_to_errors(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--quiet", *FAST]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "elderly people" in captured.out
    # an error still shows, and the status is 2
    assert main(["demo", "--out", str(tmp_path), "--quiet", "--circles", "walk_9km"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "walk_9km" in err


def test_the_network_load_is_a_stage_of_run(tmp_path, capsys):
    inputs = write_demo_inputs(tmp_path / "inputs")
    argv = ["run", "--network", str(inputs.network), "--facilities", str(inputs.facilities),
            "--population", str(inputs.population), "--cache-dir", str(tmp_path / "cache"),
            "--out", str(tmp_path / "out"), *FAST]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert re.search(r"^  network loaded +\d+\.\d s$", err, flags=re.M), err
    assert re.search(r"^  facility table read +\d+\.\d s$", err, flags=re.M), err


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["demo", "--help"]])
def test_help_lists_the_circles_the_columns_and_the_types(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out
    policy = default_policy()
    for c in policy.circles:
        assert re.search(rf"^  {c.name} +{c.limit:g} {c.unit} +{c.mode} ", out, flags=re.M), \
            c.name
        assert c.label_zh in out and c.label_en in out
    for canonical, names in COLUMN_ALIASES.items():
        line = next(x for x in out.splitlines() if x.startswith(f"  {canonical} "))
        for name in names:
            assert name in line, (canonical, name)
    for t in policy.facility_types:
        assert f"  {t.code} " in out
        for alias in t.aliases:
            assert alias in out
    if argv != ["--help"]:
        for option in ("--policy DIR|CSV", "--type-alias", "--quiet", "--lang"):
            assert option in out


def _demo_with_local_type(tmp_path):
    """The demo inputs with one care facility's type written as the local 幸福院."""
    inputs = write_demo_inputs(tmp_path / "inputs")
    with inputs.facilities.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    row = next(r for r in rows if r["type"] == "community_center")
    row["type"] = "幸福院"
    with inputs.facilities.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return inputs, row["id"]


def _run_args(inputs, out):
    return ["run", "--network", str(inputs.network), "--facilities", str(inputs.facilities),
            "--population", str(inputs.population), "--boundaries", str(inputs.boundaries),
            "--no-cache", "--out", str(out), *FAST]


def test_type_alias_maps_a_local_name_onto_a_type(tmp_path, capsys):
    inputs, fid = _demo_with_local_type(tmp_path)
    aliases = tmp_path / "local_types.csv"
    aliases.write_text("alias,type\n幸福院,community_center\n", encoding="utf-8")
    assert main([*_run_args(inputs, tmp_path / "with"), "--type-alias", str(aliases)]) == 0
    summary = json.loads((tmp_path / "with" / "summary.json").read_text(encoding="utf-8"))
    assert fid not in {e["facility_id"] for e in summary["facilities"]["excluded"]}
    # a policy folder's type_aliases.csv works the same
    folder = tmp_path / "policy"
    folder.mkdir()
    (folder / "type_aliases.csv").write_text(aliases.read_text(encoding="utf-8"),
                                             encoding="utf-8")
    assert main([*_run_args(inputs, tmp_path / "folder"), "--policy", str(folder)]) == 0
    again = json.loads((tmp_path / "folder" / "summary.json").read_text(encoding="utf-8"))
    assert again["facilities"]["by_type"] == summary["facilities"]["by_type"]
    # without the alias the row is excluded as an unknown type
    capsys.readouterr()
    assert main(_run_args(inputs, tmp_path / "without")) == 0
    without = json.loads((tmp_path / "without" / "summary.json").read_text(encoding="utf-8"))
    reason = next(e["reason"] for e in without["facilities"]["excluded"]
                  if e["facility_id"] == fid)
    assert "unknown type '幸福院'" in reason
    assert without["facilities"]["by_type"]["community_center"] == \
        summary["facilities"]["by_type"]["community_center"] - 1


def test_a_bad_alias_file_names_the_file_and_row(tmp_path, capsys):
    inputs, _ = _demo_with_local_type(tmp_path)
    aliases = tmp_path / "local_types.csv"
    aliases.write_text("alias,type\n幸福院,community_center\n老年之家,old_people_home\n",
                       encoding="utf-8")
    assert main([*_run_args(inputs, tmp_path / "out"), "--type-alias", str(aliases)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {aliases} row 3: type was 'old_people_home'"), err
    assert "community_center" in err and "fix the type column" in err
    assert not (tmp_path / "out" / "summary.json").exists()


def test_progress_bars_only_on_a_terminal(tmp_path, monkeypatch, capsys):
    """The CLI asks the run for progress bars only when stderr is a terminal (and neither
    --no-progress nor --quiet is given)."""
    import sys

    import eldercare_coverage.pipeline as pipeline
    from eldercare_coverage._errors import CoverageError

    asked = []

    def fake_run(*args, progress, **kwargs):
        asked.append(progress)
        raise CoverageError("stopped here")

    monkeypatch.setattr(pipeline, "run", fake_run)
    argv = ["demo", "--out", str(tmp_path), *FAST]
    for tty, extra, want in [(False, [], False), (True, [], True),
                             (True, ["--no-progress"], False), (True, ["--quiet"], False)]:
        monkeypatch.setattr(sys.stderr, "isatty", lambda tty=tty: tty)
        assert main([*argv, *extra]) == 2
        assert asked[-1] is want, (tty, extra)
    assert "error: stopped here" in capsys.readouterr().err


def test_excluded_rows_to_check_apart_from_kinds_no_circle_uses(tmp_path, capsys):
    """The demo with one walking circle: row 66 (no coordinates) is a row to check; the
    kitchens, canteens and meal points serve no circle of the run, and are listed apart,
    after it, as summary.json's categories say."""
    assert main(["demo", "--out", str(tmp_path), "--no-map", "--circles", "walk_1500m"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    excluded = summary["facilities"]["excluded"]
    data = [e for e in excluded if e["category"] == "data"]
    idle = [e for e in excluded if e["category"] == "not_requested"]
    assert [e["source_row"] for e in data] == [66] and len(idle) > 1
    check, unused = out.index("  rows to check:"), out.index("  not used by the circles")
    assert check < out.index("excluded row 66") < unused < out.index("'meal_point'")
    n_meal_points = sum(e["type"] == "meal_point" for e in idle)
    assert out.index(f"excluded {n_meal_points} (") > unused


def test_the_place_example_of_help_keeps_to_circles_a_download_can_measure():
    """A downloaded network is no OSM file: the --place example asks for walking circles."""
    from eldercare_coverage.cli import EXAMPLES

    place = next(line for line in EXAMPLES.splitlines() if "--place" in line)
    rest = EXAMPLES.split(place, 1)[1].lstrip("\n").splitlines()[0]
    walking = {c.name for c in default_policy().circles if c.mode == "walk"}
    asked = rest.split("--circles", 1)[1].split("--")[0].split()
    assert asked and set(asked) <= walking


def test_a_datum_warning_is_shown_once_recorded_once_and_quiet_under_quiet(tmp_path, capsys):
    """Facilities in GCJ-02 read as WGS-84 (AMap coordinates pasted as they are): the run
    warns that another datum fits the streets far better. The command shows it once on
    stderr (none under --quiet), summary.json and the report hold it once."""
    import pandas as pd

    from eldercare_coverage.chinese_crs import wgs84_to_gcj02

    inputs = write_demo_inputs(tmp_path / "inputs")
    table = pd.read_csv(inputs.facilities, dtype=str)
    lon, lat = wgs84_to_gcj02(pd.to_numeric(table["lon"]).to_numpy(),
                              pd.to_numeric(table["lat"]).to_numpy())
    table["lon"], table["lat"] = [f"{v:.6f}" for v in lon], [f"{v:.6f}" for v in lat]
    shifted = tmp_path / "amap_facilities.csv"
    table.to_csv(shifted, index=False)
    argv = ["run", "--network", str(inputs.network), "--facilities", str(shifted),
            "--population", str(inputs.population), "--cache-dir", str(tmp_path / "cache"),
            "--circles", "walk_1500m"]
    assert main([*argv, "--out", str(tmp_path / "out"), "--no-map"]) == 0
    err = capsys.readouterr().err
    datum = [line for line in err.splitlines() if "gcj02" in line.lower()]
    assert len(datum) == 1 and datum[0].startswith("warning: "), err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    recorded = [w for w in summary["warnings"] if w["category"] == "CoordinateSystemWarning"]
    assert len(recorded) == 1 and recorded[0]["message"] in datum[0]
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert report.count("CoordinateSystemWarning") + report.count(
        recorded[0]["message"][:40]) >= 1
    assert main([*argv, "--out", str(tmp_path / "quiet"), "--no-map", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path):
    """`eldercare-coverage ... | head -0`: the reader closes the pipe before the result is
    printed; the command stops quietly (status 1), with no BrokenPipeError traceback."""
    import subprocess
    import sys

    code = ("import sys; from eldercare_coverage.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "demo", "--out", str(tmp_path), "--quiet", *FAST],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader leaves before the demo (seconds) prints its result
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert (tmp_path / "summary.json").exists()  # the work itself was done
