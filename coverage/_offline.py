"""Leaflet inside the page: a map that opens without internet and travels as one file.

folium links Leaflet, jQuery, Bootstrap and the awesome-markers icons from public CDNs; a
page written that way is blank on an intranet, or where those hosts are slow or blocked.
The map of this package needs Leaflet alone (its popups and markers are plain Leaflet), so
:func:`offline_map` makes a :class:`folium.Map` that links nothing and carries Leaflet's
script and stylesheet inline, read from the ``django-js-lib-leaflet`` package (a dependency:
Leaflet's own release files, repackaged on PyPI), the stylesheet's images as ``data:`` URIs.

Examples
--------
>>> m = offline_map()
>>> html = m.get_root().render()
>>> "Leaflet 1.9.4" in html, "<script src=" in html, "<link" in html
(True, False, False)
"""

from __future__ import annotations

import base64
import functools
import re
from importlib import resources
from typing import Any

import folium
from branca.element import Element

#: The package that ships Leaflet's release files, and their folder in it.
LEAFLET_PACKAGE = "js_lib_leaflet"
_LEAFLET_DIR = ("static", "js_lib_leaflet")
#: folium's names of Leaflet's script and stylesheet among a map's ``default_js``/``default_css``.
_LEAFLET_JS_NAME, _LEAFLET_CSS_NAME = "leaflet", "leaflet_css"
#: Page-wide style of our own: a light background where no tiles are drawn (the offline base
#: layer's grey streets show on it), the collapsed layer control's list scrolls.
_PAGE_CSS = (".leaflet-container{background:#f7f7f4}"
             ".leaflet-control-layers-list{max-height:60vh;overflow-y:auto}")


def _leaflet_file(name: str) -> bytes:
    """One file of Leaflet's release, e.g. ``leaflet.js`` or ``images/layers.png``."""
    try:
        root = resources.files(LEAFLET_PACKAGE)
    except ModuleNotFoundError as exc:  # a conda environment installed with --no-deps
        raise ModuleNotFoundError(
            "map.html carries Leaflet inline from the package django-js-lib-leaflet, which "
            "is not installed: pip install 'django-js-lib-leaflet>=1.9.4,<2'") from exc
    folder = root.joinpath(*_LEAFLET_DIR)
    return folder.joinpath(*name.split("/")).read_bytes()


@functools.cache
def leaflet_js() -> str:
    """Leaflet's minified script, without its source-map comment (nothing to fetch)."""
    text = _leaflet_file("leaflet.js").decode("utf-8").replace("\r\n", "\n")
    return re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", text)


@functools.cache
def leaflet_css() -> str:
    """Leaflet's stylesheet with its images inlined as ``data:`` URIs and comments removed.

    The comments hold links to browser bug trackers; a page that travels offline should
    mention no address it does not need.
    """
    text = _leaflet_file("leaflet.css").decode("utf-8").replace("\r\n", "\n")
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)

    def inline(match: re.Match[str]) -> str:
        png = base64.b64encode(_leaflet_file(match.group(1))).decode("ascii")
        return f"url(data:image/png;base64,{png})"

    return re.sub(r"url\((images/[\w.-]+\.png)\)", inline, text)


class RawHtml(Element):
    """HTML written into the page as it is (branca would run any text through Jinja)."""

    def __init__(self, text: str):
        super().__init__()
        self._name = "RawHtml"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        """The text itself."""
        return self.text


def inline_leaflet(m: folium.Map) -> folium.Map:
    """Put Leaflet's script and stylesheet into the page of ``m`` instead of CDN links.

    Only Leaflet's own two entries are replaced: any other asset that ``m`` lists (a
    caller's map may rely on jQuery or Bootstrap) stays as it is. Returns ``m``.
    """
    # instance attributes: folium.Map's class-level lists stay untouched for other maps
    m.default_js = [(name, url) for name, url in m.default_js if name != _LEAFLET_JS_NAME]
    m.default_css = [(name, url) for name, url in m.default_css if name != _LEAFLET_CSS_NAME]
    header = m.get_root().header  # type: ignore[attr-defined]
    # the same names folium uses, so a later element asking for Leaflet replaces nothing
    header.add_child(RawHtml(f"<style>{leaflet_css()}{_PAGE_CSS}</style>"),
                     name=_LEAFLET_CSS_NAME)
    header.add_child(RawHtml(f"<script id='leaflet-js'>{leaflet_js()}</script>"),
                     name=_LEAFLET_JS_NAME)
    return m


def offline_map(**kwargs: Any) -> folium.Map:
    """A :class:`folium.Map` (``kwargs`` as folium's, no tiles unless given) that links
    no script or stylesheet: Leaflet is inline, folium's other CDN assets (jQuery,
    Bootstrap, awesome markers, Font Awesome, glyphicons) are left out."""
    m = folium.Map(**{"tiles": None, **kwargs})
    m.default_js, m.default_css = [], []
    return inline_leaflet(m)
