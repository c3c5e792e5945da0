"""The demo's map.html and report.html opened for real, in headless Chromium, offline.

Chromium is driven over its DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages separated by NUL bytes on file descriptors 3 and 4), so no extra package is needed,
and every outside host name resolves to nothing (``--host-resolver-rules``), as on an
intranet. For each page the test collects the console (exceptions, ``console.error``,
resources that failed to load) and every request the page makes, asks the page what it drew,
reads the numbers it shows, and keeps a screenshot; the screenshots' folder is printed.

Runs where Debian's ``chromium`` is installed (``.ci/run`` installs it); outside CI it skips
without Chromium, in CI it fails.

``python tests/test_browser.py PAGE.html [SCREENSHOT.png]`` prints how long a page takes to
draw (e.g. a county's map.html) and what it drew.
"""

from __future__ import annotations

import base64
import json
import math
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
WINDOW = (1400, 1000)  # pixels
TIMEOUT_S = 120.0  # a county's page on two busy cores stays far below this

#: Child process of Chromium: its DevTools pipe on file descriptors 3 (in) and 4 (out).
_EXEC_WITH_PIPE = (
    "import os, sys\n"
    "read_fd, write_fd = os.dup(int(sys.argv[1])), os.dup(int(sys.argv[2]))\n"
    "os.dup2(read_fd, 3)\n"
    "os.dup2(write_fd, 4)\n"
    "os.set_inheritable(3, True)\n"  # dup2 onto itself (os.dup gave 3 or 4) keeps the flag
    "os.set_inheritable(4, True)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)

#: What a page with a Leaflet map drew: layers by kind, painted canvas pixels per pane, the
#: images, the legend and the controls.
_MAP_PROBE = r"""
(() => {
  const key = Object.keys(window).find(k => k.startsWith('map_') && window[k] instanceof L.Map);
  const map = window[key];
  const out = {paths: 0, markers: 0, images: 0, tiles: 0};
  map.eachLayer(layer => {
    if (layer instanceof L.CircleMarker) { out.markers++; }
    else if (layer instanceof L.Path) { out.paths++; }
    else if (layer instanceof L.ImageOverlay) { out.images++; }
    else if (layer instanceof L.TileLayer) { out.tiles++; }
  });
  out.canvases = [...document.querySelectorAll('.leaflet-pane canvas')].map(canvas => {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) { if (data[i]) { painted++; } }
    return {pane: canvas.parentElement.className, painted: painted};
  });
  out.imagesLoaded = [...document.querySelectorAll('img.leaflet-image-layer')]
    .map(img => img.complete && img.naturalWidth > 0);
  const legend = document.getElementById('ec-legend');
  out.legend = legend.innerText;
  out.legendDocked = !!legend.closest('.leaflet-control-container');
  const legendBox = legend.getBoundingClientRect();
  out.legendBox = [legendBox.left, legendBox.top, legendBox.right, legendBox.bottom];
  const control = document.querySelector('.leaflet-control-layers');
  out.controlExpanded = control.classList.contains('leaflet-control-layers-expanded');
  out.controlLabels = [...control.querySelectorAll('label')].map(e => e.textContent.trim());
  out.scale = [...document.querySelectorAll('.leaflet-control-scale-line')]
    .map(e => e.textContent);
  const scaleBox = document.querySelector('.leaflet-control-scale').getBoundingClientRect();
  out.scaleBox = [scaleBox.left, scaleBox.top, scaleBox.right, scaleBox.bottom];
  return out;
})()
"""

#: A click on the map at (lat, lon) (the page's own handler runs), then the popup's text.
_CLICK = r"""
((lat, lon) => {
  const key = Object.keys(window).find(k => k.startsWith('map_') && window[k] instanceof L.Map);
  window[key].fire('click', {latlng: L.latLng(lat, lon)});
  const popup = document.querySelector('.leaflet-popup-content');
  return popup ? popup.innerText : null;
})(%s, %s)
"""


def find_chromium() -> str | None:
    """The Chromium executable on the PATH, if any."""
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


class Chromium:
    """Headless Chromium with one page, driven over the DevTools protocol on a pipe.

    Every outside host name fails to resolve; only ``file:`` and ``data:`` pages work.
    """

    def __init__(self, executable: str, profile_dir: Path, *, window: tuple[int, int] = WINDOW):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [executable, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--no-default-browser-check", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--mute-audio", f"--user-data-dir={profile_dir}",
                "--host-resolver-rules=MAP * ~NOTFOUND", f"--window-size={window[0]},{window[1]}",
                "--remote-debugging-pipe", "about:blank"]
        self.process = subprocess.Popen(
            [sys.executable, "-c", _EXEC_WITH_PIPE, str(to_browser_r), str(from_browser_w),
             *args], pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._answers: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._stderr: list[bytes] = []
        self._stderr_reader = threading.Thread(
            target=lambda: self._stderr.extend(self.process.stderr or []), daemon=True)
        self._stderr_reader.start()
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"},
                               timeout_s=30)["targetId"]
            self.session = self.send("Target.attachToTarget",
                                     {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.send(f"{domain}.enable", session=True)
            self.send("Emulation.setDeviceMetricsOverride",
                      {"width": window[0], "height": window[1], "deviceScaleFactor": 1,
                       "mobile": False}, session=True)
        except BaseException:
            self.close()
            raise

    def _read(self) -> None:
        """Split the browser's output into messages: answers by id, the rest are events."""
        buffer = b""
        while chunk := os.read(self._from_browser, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                with self._lock:
                    waiting = self._answers.get(message.get("id", -1))
                    if waiting is None:
                        self.events.append(message)
                if waiting is not None:
                    waiting.put(message)

    def send(self, method: str, params: dict[str, Any] | None = None, *,
             session: bool = False, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        """Call a DevTools method (on the page's session if ``session``); its result."""
        with self._lock:
            self._next_id += 1
            call_id = self._next_id
            self._answers[call_id] = queue.Queue()
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        try:
            answer = self._answers[call_id].get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f"Chromium did not answer {method} in {timeout_s} s; stderr: "
                               + b"".join(self._stderr).decode(errors="replace")[-2000:]) \
                from None
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return dict(answer.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"the page's script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def _wait_for_event(self, method: str, since: int, timeout_s: float = TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if any(e.get("method") == method for e in self.events[since:]):
                    return
            time.sleep(0.01)
        raise TimeoutError(f"no {method} within {timeout_s} s")

    def open(self, path: Path) -> float:
        """Load a page and wait until it has drawn: the seconds from navigation to the
        first frame after its load event (scripts run, layers drawn)."""
        since = len(self.events)
        start = time.perf_counter()
        self.send("Page.navigate", {"url": path.resolve().as_uri()}, session=True)
        self._wait_for_event("Page.loadEventFired", since)
        self.evaluate("new Promise(done => requestAnimationFrame(() => "
                      "requestAnimationFrame(done)))")
        return time.perf_counter() - start

    def page_events(self, since: int) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events[since:] if e.get("sessionId") == self.session]

    def screenshot(self, path: Path, *, full_page: bool = False) -> Path:
        """A PNG of the window (or of the whole page, up to 8000 pixels high)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics", session=True)["cssContentSize"]
            params.update(captureBeyondViewport=True, clip={
                "x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 8000),
                "scale": 1})
        data = self.send("Page.captureScreenshot", params, session=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Close the browser (ended if it does not go within 10 s)."""
        try:
            self.send("Browser.close", timeout_s=10)
        except (TimeoutError, RuntimeError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()  # the browser this object started, by its own handle
            self.process.wait()
        # the browser is gone: its ends of the pipes are closed, the readers see the end
        self._reader.join(timeout=10)
        self._stderr_reader.join(timeout=10)
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        if self.process.stderr is not None:
            self.process.stderr.close()


def problems(events: list[dict[str, Any]]) -> list[str]:
    """Console errors, uncaught exceptions and failed loads among a page's events."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            found.append(f"exception: {details.get('exception', {}).get('description')}"
                         f" ({details.get('text')})")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            found.append("console.error: " + " ".join(
                str(arg.get("value", arg.get("description"))) for arg in params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            found.append(f"log: {params['entry']['text']} {params['entry'].get('url', '')}")
        elif method == "Network.loadingFailed":
            found.append(f"failed to load: {params.get('errorText')}")
    return found


def requested(events: list[dict[str, Any]]) -> list[str]:
    """Every address a page asked for."""
    return [e["params"]["request"]["url"] for e in events
            if e.get("method") == "Network.requestWillBeSent"]


# --- the tests -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Any:
    executable = find_chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed: .ci/run installs Debian's chromium for "
                        "the browser tests, and in CI they must run")
        pytest.skip("Chromium is not installed (apt-get install chromium); CI runs these tests")
    browser = Chromium(executable, tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's outputs, written once by the command line as a user runs it."""
    out = tmp_path_factory.mktemp("demo")
    subprocess.run([sys.executable, "-m", "eldercare_coverage.cli", "demo", "--out", str(out),
                    "--no-progress"], check=True, capture_output=True, text=True, timeout=900)
    return out


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the screenshots are kept in (printed by the tests)."""
    return tmp_path_factory.mktemp("browser-artefacts")


@pytest.fixture(scope="module")
def summary(demo_out: Path) -> dict[str, Any]:
    return dict(json.loads((demo_out / "summary.json").read_text(encoding="utf-8")))


def _keep(capsys: pytest.CaptureFixture[str], text: str) -> None:
    """Print past pytest's capture (where the screenshots are, how long pages took)."""
    with capsys.disabled():
        print(f"\n{text}")


@pytest.mark.slow
def test_the_map_draws_offline_with_no_errors(chromium: Chromium, demo_out: Path,
                                              summary: dict[str, Any], artefacts: Path,
                                              capsys: pytest.CaptureFixture[str]):
    since = len(chromium.events)
    seconds = chromium.open(demo_out / "map.html")
    shot = chromium.screenshot(artefacts / "map.png")
    events = chromium.page_events(since)
    size_mb = (demo_out / "map.html").stat().st_size / 1e6
    _keep(capsys, f"demo map.html ({size_mb:.2f} MB) drawn in {seconds:.2f} s; "
                  f"screenshot {shot}")
    assert problems(events) == []
    # nothing outside the file itself: no script, stylesheet, font or tile from anywhere
    outside = [url for url in requested(events) if not url.startswith(("file:", "data:"))]
    assert outside == []
    drawn = chromium.evaluate(_MAP_PROBE)
    # the layers shown on opening: both grid images decoded, facilities, areas, base layer
    assert drawn["images"] >= 1 and drawn["imagesLoaded"] and all(drawn["imagesLoaded"])
    assert drawn["markers"] == summary["facilities"]["used"]  # the used ones are shown
    assert drawn["paths"] > 0
    painted = {canvas["pane"]: canvas["painted"] for canvas in drawn["canvases"]}
    assert painted.get("leaflet-pane leaflet-ecBase-pane", 0) > 1000  # streets and outlines
    assert painted.get("leaflet-pane leaflet-overlay-pane", 0) > 10000  # areas, facilities
    # layout: the layer control waits closed, the scale is metric only, the legend is docked
    # bottom left above the scale bar and does not cover it
    assert not drawn["controlExpanded"]
    assert len(drawn["scale"]) == 1 and re.fullmatch(r"\d+ k?m", drawn["scale"][0])
    assert drawn["legendDocked"] and drawn["legendBox"][3] <= drawn["scaleBox"][1]
    # the numbers equal summary.json after display rounding
    legend = drawn["legend"]
    assert f"{summary['elderly_total']:,.0f}" in legend
    used, excluded = summary["facilities"]["used"], len(summary["facilities"]["excluded"])
    assert f"使用 {used:,} 个" in legend and f"未使用 {excluded:,} 个" in legend
    # each circle's rate on its row, the plan's own name under it (Chinese by default)
    for circle in summary["circles"]:
        rate = f"{100 * circle['coverage_rate']:.1f} %"
        assert re.search(re.escape(rate) + r"[^\n]*\n\s*规划：" + re.escape(circle["label_zh"]),
                         legend), (rate, circle["name"])
    # a planner reads limits in metres and minutes, never the internal identifiers
    labels = drawn["controlLabels"]
    assert "服务圈：1500米实际步行距离（老年人步速0.9米/秒约28分钟）" in labels, labels
    assert "服务圈：15分钟步行圈（老年人步速0.9米/秒，约810米）" in labels, labels
    assert not [text for text in labels + [legend] if re.search(r"walk_|home_500m|meal_", text)]
    counts = [int(n) for label in labels if label.startswith("设施")
              for n in re.findall(r"\((\d+)\)$", label)]
    assert sum(counts) == used


@pytest.mark.slow
def test_a_click_on_the_map_shows_the_cell_of_the_geopackage(
        chromium: Chromium, demo_out: Path, artefacts: Path):
    import geopandas as gpd

    chromium.open(demo_out / "map.html")
    cells = gpd.read_file(demo_out / "coverage.gpkg", layer="population")
    cell = cells.loc[cells["elderly"].idxmax()]
    centre = cell.geometry.representative_point()
    popup = chromium.evaluate(_CLICK % (centre.y, centre.x))
    chromium.screenshot(artefacts / "map-click.png")
    assert popup is not None, "no popup opened on the most populated cell"
    assert f"格网 {cell['cell_id']}" in popup
    assert f"老年人（60岁及以上）: {cell['elderly']:,.1f}" in popup
    dist = cell["walk_1500m_dist"]
    assert (f"{dist:,.0f} m" if math.isfinite(dist) else "不可达") in popup


@pytest.mark.slow
def test_the_report_opens_offline_with_the_summary_numbers(
        chromium: Chromium, demo_out: Path, summary: dict[str, Any], artefacts: Path,
        capsys: pytest.CaptureFixture[str]):
    since = len(chromium.events)
    seconds = chromium.open(demo_out / "report.html")
    shot = chromium.screenshot(artefacts / "report.png", full_page=True)
    events = chromium.page_events(since)
    _keep(capsys, f"demo report.html drawn in {seconds:.2f} s; screenshot {shot}")
    assert problems(events) == []
    assert [url for url in requested(events) if not url.startswith(("file:", "data:"))] == []
    text = chromium.evaluate("document.body.innerText")
    numbers = text.replace("\u00a0", " ")

    def shown(value: float, digits: int = 0) -> bool:  # with or without thousands separators
        return any(form in numbers for form in (f"{value:,.{digits}f}", f"{value:.{digits}f}"))

    assert shown(summary["elderly_total"])
    for circle in summary["circles"]:
        assert re.search(rf"{100 * circle['coverage_rate']:.1f}\s?%", numbers), circle["name"]
        assert shown(circle["elderly_covered"]), circle["name"]
    # the coverage map and the charts are inline pictures, decoded and laid out
    pictures = chromium.evaluate("[...document.images].map(i => [i.src.slice(0, 22), "
                                 "i.complete && i.naturalWidth, i.getBoundingClientRect().width])")
    assert len(pictures) == 3, pictures
    assert all(src == "data:image/png;base64," and width > 300 and shown_width > 300
               for src, width, shown_width in pictures), pictures


def main(argv: list[str]) -> int:
    """``python tests/test_browser.py PAGE.html [SCREENSHOT.png]``: time a page's drawing."""
    if not argv:
        print(__doc__)
        return 2
    executable = find_chromium()
    if executable is None:
        print("chromium is not installed", file=sys.stderr)
        return 2
    page = Path(argv[0])
    with tempfile.TemporaryDirectory() as profile:
        start = time.perf_counter()
        browser = Chromium(executable, Path(profile))
        started = time.perf_counter() - start
        try:
            seconds = browser.open(page)
            events = browser.page_events(0)
            print(f"{page}: {page.stat().st_size / 1e6:.2f} MB, browser started in "
                  f"{started:.2f} s, page drawn in {seconds:.2f} s")
            if "map_" in page.read_text(encoding="utf-8", errors="replace")[:2_000_000]:
                drawn = browser.evaluate(_MAP_PROBE)
                print({key: drawn[key] for key in ("paths", "markers", "images", "tiles",
                                                   "canvases", "scale")})
            print("problems:", problems(events) or "none")
            print("outside requests:", [u for u in requested(events)
                                        if not u.startswith(("file:", "data:"))] or "none")
            if len(argv) > 1:
                print("screenshot", browser.screenshot(Path(argv[1])))
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
