"""USDA text for the many small specs of a stage, read by Sdf's parser in one call.

Every Python call into ``pxr.Sdf`` costs microseconds: authoring 10,000 assets spec by
spec, with a time sample per frame for each of their fields, spends most of its time
crossing from Python into C++. The USD writer therefore prints the *light* part of a
stage -- prims, their metadata, scalar and small array attributes, time samples -- as
``usda`` text and lets ``Sdf.Layer.ImportFromString`` parse it in C++; the *heavy* arrays
(points, topology, normals, colour tables) are then authored through
``Vt.*Array.FromNumpy``.

The helpers below print values so that parsing stores exactly what the API would have
stored: numbers with ``repr`` (the shortest text that reads back as the same double;
``nan``/``inf`` included), strings quoted and escaped, dictionaries typed. Values of
``float`` attributes are printed as their float32 rounding in as few digits as read back
as that same float32 (the parser reads a double and rounds it to float), which keeps the
text short where it is longest: the time samples. Plain Python and NumPy, no ``pxr``
import.
"""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["string", "number", "vector", "matrix", "string_array", "dictionary", "time_samples", "time_samples_text",
           "float32_texts", "float32_array_samples", "HEADER"]

#: The first line of every usda document.
HEADER = "#usda 1.0\n"

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f]')
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _escape(match: re.Match) -> str:
    ch = match.group(0)
    return _ESCAPES.get(ch) or f"\\x{ord(ch):02x}"


def string(text: str) -> str:
    """``text`` as a double-quoted usda string (backslashes, quotes and control characters escaped)."""
    text = str(text)
    if _NEEDS_ESCAPE.search(text):
        text = _NEEDS_ESCAPE.sub(_escape, text)
    return f'"{text}"'


def number(value) -> str:
    """A float or int as usda text that parses back to the same value (``nan``, ``inf`` too)."""
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return repr(float(value))


def vector(values) -> str:
    """A tuple value such as a ``double3`` or ``color3f``: ``(x, y, z)``."""
    return "(" + ", ".join(map(number, values)) + ")"


def matrix(m) -> str:
    """A ``matrix4d`` from a 4x4 array in USD's row-vector layout (rows as printed)."""
    return "( " + ", ".join(vector(row) for row in np.asarray(m, dtype=float)) + " )"


def string_array(items) -> str:
    """A ``string[]`` or ``token[]`` value: ``["a", "b"]``."""
    return "[" + ", ".join(map(string, items)) + "]"


def _typed(key: str, value) -> str:
    name = key if _IDENTIFIER.match(key) else string(key)
    if isinstance(value, dict):
        return f"dictionary {name} = {dictionary(value)}"
    if isinstance(value, str):
        return f"string {name} = {string(value)}"
    if isinstance(value, (bool, np.bool_)):
        return f"bool {name} = {number(value)}"
    if isinstance(value, (int, np.integer)):
        return f"int {name} = {number(value)}"
    if isinstance(value, (float, np.floating)):
        return f"double {name} = {number(value)}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return f"double[] {name} = [{', '.join(map(number, value))}]"
    raise TypeError(f"customData value of type {type(value).__name__} cannot be written to USD")


def dictionary(d: dict) -> str:
    """A typed usda dictionary (``customData``): strings, bools, ints, doubles, ``double[]``
    (lists and arrays of numbers) and nested dictionaries."""
    return "{" + "; ".join(_typed(str(k), v) for k, v in d.items()) + "}"


def time_samples(values: list) -> str:
    """``{0: v0, 1: v1, ...}``: one sample per frame, from Python values whose ``repr`` is
    their usda text -- floats, lists of floats (``float[]``), lists of float tuples
    (``color3f[]``). Formatted by ``repr`` of a dict, in C, which matters at 100,000s of samples."""
    return repr(dict(enumerate(values)))


_KEYS: list[str] = []


def time_samples_text(texts: list[str]) -> str:
    """``{0: t0, 1: t1, ...}`` from per-frame value texts that are already usda (for values
    formatted once and reused, such as the entries of a colour table)."""
    while len(_KEYS) < len(texts):
        _KEYS.append(f"{len(_KEYS)}: ")
    return "{" + ", ".join(map(str.__add__, _KEYS, texts)) + "}"


def float32_texts(values) -> list[str]:
    """Each value rounded to float32, as the shortest text that reads back as that float32
    (USD's parser reads a double, then rounds it to float): ``0.1`` rather than
    ``0.10000000149011612``. ``nan``, ``inf``, ``-inf`` and ``-0.0`` included."""
    with np.errstate(over="ignore"):
        v32 = np.asarray(values, dtype=np.float64).astype(np.float32).ravel()
    texts = []
    for x, x32 in zip(v32.tolist(), v32):
        text = str(x32)  # NumPy's shortest round-trip text of a float32
        if not (math.isnan(x) or np.float32(float(text)) == x32):
            text = f"{x:.9g}"  # pragma: no cover - 9 significant digits always read back
        texts.append(text)
    return texts


def float32_array_samples(values) -> list[str]:
    """Time samples of one-element ``float[]`` values, one text per row of ``values`` (rows:
    attributes, columns: frames): ``{0: [v0], 1: [v1], ...}``. Each value is rounded to
    float32 and printed with 9 significant digits, which always reads back as the same
    float32 (``nan``/``inf`` as such); formatted by one C-level ``%`` per row."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"expected a 2-D array (attributes x frames), got shape {v.shape}")
    with np.errstate(over="ignore"):
        rows = v.astype(np.float32).tolist()
    template = "{" + ", ".join(f"{k}: [%.9g]" for k in range(v.shape[1])) + "}"
    return [template % tuple(row) for row in rows]
