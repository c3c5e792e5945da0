"""Helpers shared by the HTML outputs (map and report): escaped text, numbers, inline PNGs.

Everything a page shows from user data (names, reasons, titles) goes through
:func:`esc`; numbers go through :func:`num`, which prints a dash for a missing value.
:func:`png_data_uri` writes a palette PNG with the standard library alone (zlib and
struct), so the map can embed raster layers without an imaging library.
"""

from __future__ import annotations

import base64
import html
import math
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def esc(value: Any) -> str:
    """HTML-escaped text of a value; empty for a missing one.

    Braces become character references too (they read the same): folium renders every
    element of a map as a Jinja template, where ``{{ ... }}`` in a facility's name would
    be run, not shown.

    Examples
    --------
    >>> esc("<b>敬老院 & 食堂</b>")
    '&lt;b&gt;敬老院 &amp; 食堂&lt;/b&gt;'
    >>> esc("{{ 7*7 }}")
    '&#123;&#123; 7*7 &#125;&#125;'
    >>> esc(None), esc(float("nan"))
    ('', '')
    """
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value)).replace("{", "&#123;").replace("}", "&#125;")


def num(value: Any, digits: int = 0) -> str:
    """A number with thousands separators and ``digits`` decimals; a dash when NaN.

    Text that is not a number comes back escaped.

    Examples
    --------
    >>> num(12345.678), num(0.5, 2), num(float("nan")), num("n/a")
    ('12,346', '0.50', '–', 'n/a')
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return esc(value)
    return "–" if math.isnan(number) else f"{number:,.{digits}f}"


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and the CRC of type and data."""
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_bytes(pixels: np.ndarray, palette: Sequence[tuple[int, int, int, int]]) -> bytes:
    """Encode a 2-D array of palette indices as an 8-bit palette PNG.

    Parameters
    ----------
    pixels
        ``(height, width)`` integers in ``0 .. len(palette) - 1``; row 0 is the top row.
    palette
        RGBA colours (0..255 each); alpha goes into the ``tRNS`` chunk, so an entry
        with alpha 0 is transparent.

    Returns
    -------
    bytes
        The PNG file.

    Examples
    --------
    >>> png = png_bytes(np.array([[0, 1], [1, 0]]), [(0, 0, 0, 0), (255, 0, 0, 255)])
    >>> png[:8], struct.unpack(">II", png[16:24])  # signature, width and height
    (b'\\x89PNG\\r\\n\\x1a\\n', (2, 2))
    """
    indices = np.asarray(pixels)
    if indices.ndim != 2 or indices.size == 0:
        raise ValueError(f"pixels must be a non-empty 2-D array, got shape {indices.shape}")
    if not 1 <= len(palette) <= 256:
        raise ValueError(f"a PNG palette has 1 to 256 colours, got {len(palette)}")
    if indices.min() < 0 or indices.max() >= len(palette):
        raise ValueError(f"pixel values must lie in 0..{len(palette) - 1}, got "
                         f"{indices.min()}..{indices.max()}")
    height, width = indices.shape
    # each scanline starts with its filter byte (0: none); palette rows compress well as they are
    scanlines = np.zeros((height, width + 1), dtype=np.uint8)
    scanlines[:, 1:] = indices
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # 8-bit palette
    rgb = bytes(int(channel) for colour in palette for channel in colour[:3])
    alpha = bytes(int(colour[3]) for colour in palette)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"PLTE", rgb)
            + _chunk(b"tRNS", alpha) + _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 9))
            + _chunk(b"IEND", b""))


def png_data_uri(pixels: np.ndarray, palette: Sequence[tuple[int, int, int, int]]) -> str:
    """:func:`png_bytes` as a ``data:image/png;base64,...`` URI for an inline image."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(pixels, palette)).decode("ascii")


def hex_rgba(colour: str, alpha: int = 255) -> tuple[int, int, int, int]:
    """``"#rrggbb"`` as an RGBA tuple.

    Examples
    --------
    >>> hex_rgba("#2166ac")
    (33, 102, 172, 255)
    """
    code = colour.lstrip("#")
    if len(code) != 6:
        raise ValueError(f"colour must be '#rrggbb', got {colour!r}")
    return int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16), alpha


def encode_rings(rings: Sequence[np.ndarray], *, scale: float = 1e6) -> list[str]:
    """Coordinate sequences as encoded polylines (Google's algorithm), one string each.

    Each ring's ``(x, y)`` pairs are rounded to ``1 / scale`` units; the first pair is
    written whole, the others as steps from the previous pair, zig-zag signed, in 5-bit
    chunks as the characters ``?`` to ``~``: a 20 m step in degrees at ``scale`` 1e6 takes 2
    to 3 characters per axis, against some 11 in JSON. The page decodes them with
    :data:`DECODE_RINGS_JS`.

    Examples
    --------
    >>> encode_rings([np.array([[38.5, -120.2], [40.7, -120.95], [43.252, -126.453]])],
    ...              scale=1e5)
    ['_p~iF~ps|U_ulLnnqC_mqNvxq`@']
    """
    if not rings:
        return []
    counts = np.array([len(ring) for ring in rings])
    units = np.rint(np.concatenate([np.asarray(ring, dtype=float).reshape(-1, 2)
                                    for ring in rings]) * scale).astype(np.int64)
    steps = np.diff(units, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    firsts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    steps[firsts[counts > 0]] = units[firsts[counts > 0]]  # each ring starts whole
    signed = steps.ravel()
    zigzag = ((signed << 1) ^ (signed >> 63)).astype(np.uint64)
    # 5-bit chunks, least significant first; every chunk but the last has the 0x20 flag
    shifts = np.arange(13, dtype=np.uint64) * np.uint64(5)
    chunks = (zigzag[:, None] >> shifts[None, :]) & np.uint64(31)
    n_chunks = 1 + ((zigzag[:, None] >> shifts[None, 1:]) > 0).sum(axis=1)
    position = np.arange(shifts.size)[None, :]
    flags = np.where(position < n_chunks[:, None] - 1, np.uint64(32), np.uint64(0))
    chars = (chunks + flags + np.uint64(63)).astype(np.uint8)
    text = chars[position < n_chunks[:, None]].tobytes().decode("ascii")
    # split the text back into rings: where each value's characters start, values per ring
    char_at = np.concatenate([[0], np.cumsum(n_chunks)])
    ring_at = char_at[np.concatenate([[0], np.cumsum(2 * counts)])].tolist()
    return [text[start:end] for start, end in zip(ring_at[:-1], ring_at[1:], strict=True)]


#: JavaScript function ``decodeRings(text, scale)``: the inverse of :func:`encode_rings`,
#: an array of ``[x, y]`` (GeoJSON's ``[lon, lat]``).
DECODE_RINGS_JS = """function decodeRings(text, scale) {
  var points = [], at = 0, value = [0, 0];
  while (at < text.length) {
    for (var axis = 0; axis < 2; axis++) {
      var shift = 0, bits = 0, chunk;
      do {
        chunk = text.charCodeAt(at++) - 63;
        bits += (chunk & 31) * Math.pow(2, shift);
        shift += 5;
      } while (chunk >= 32);
      value[axis] += bits % 2 ? -(bits + 1) / 2 : bits / 2;
    }
    points.push([value[0] / scale, value[1] / scale]);
  }
  return points;
}"""
