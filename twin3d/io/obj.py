"""Wavefront OBJ reader in NumPy: no native code touches the file.

The text is classified line by line on its bytes (vectorised, no Python loop per
line): ``v x y z [w | r g b]`` vertices, ``vn`` normals, ``f`` faces with corners
``a``, ``a/b``, ``a//c`` or ``a/b/c``, positive (1-based) or negative (relative: ``-1``
is the last vertex defined before the face) indices. Polygons become fan triangles.
Groups, objects, smoothing groups, materials (``usemtl``), texture coordinates, lines
and curves are ignored — the mesh is the faces' geometry.

* ``v`` lines with six numbers (``x y z r g b``, as twin3d and MeshLab write vertex
  colours) in [0, 1] give ``point_data["displayColor"]``.
* Normals become ``point_data["Normals"]`` when every corner uses the same index for its
  vertex and its normal (as VTK's reader keeps them); otherwise they are dropped and
  recomputed downstream.
* ``mtllib`` references are confined (:func:`twin3d.confine.check_reference`, "OBJ
  material library"): one that resolves outside the OBJ's folder and the allowed folders
  is refused with :class:`~twin3d.errors.ConfinementError` even though twin3d does not
  read ``.mtl`` files (colours come from the spec), so a hostile file's reference is
  reported, never followed. A missing ``.mtl`` is fine.

Every face index is checked against the vertex count (the error names the line);
coordinates must be finite (the error names the vertex, numbered from 0, and its line);
an OBJ without faces "contains no surface geometry". Points are float64 and in file
order, as VTK's ``vtkOBJReader`` gives them for files whose corners share indices.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from .meshcheck import check_budget, fan_triangles, parse_decimals, parse_numbers, triangle_mesh

__all__ = ["read_obj"]

_OTHER, _V, _VN, _F = 0, 1, 2, 3


def read_obj(path: str | Path):
    """Read a Wavefront OBJ file into a triangle :class:`pyvista.PolyData`."""
    path = Path(path)
    size = path.stat().st_size
    check_budget(path, 8 * size, detail=f"a {size:,}-byte OBJ text")
    data = path.read_bytes()
    if not data:
        raise InputError(f"{path}: contains no surface geometry (the file is empty)")
    if b"\0" in data[:65536]:
        raise InputError(f"{path}: not an OBJ file (binary data; OBJ is text)")
    buf = np.frombuffer(data, np.uint8)
    starts, ends = _lines(buf)
    first = buf[np.minimum(starts, len(buf) - 1)]
    if np.any(((first == 32) | (first == 9)) & (starts < ends)):  # indented lines: strip the indentation
        data = re.sub(rb"(?m)^[ \t]+", b"", data)
        buf = np.frombuffer(data, np.uint8)
        starts, ends = _lines(buf)
    kind = _classify(buf, starts, ends)
    _check_material_libraries(path, data, starts, ends, buf)

    v_lines = np.flatnonzero(kind == _V)
    f_lines = np.flatnonzero(kind == _F)
    if len(v_lines) == 0:
        raise InputError(f"{path}: contains no surface geometry (no 'v' vertex lines)")
    if len(f_lines) == 0:
        raise InputError(f"{path}: contains no surface geometry (no 'f' face lines)")

    def byte_kind() -> np.ndarray:  # each byte's line kind (only for files that interleave kinds a lot)
        return np.repeat(kind, np.diff(np.append(starts, len(buf))))

    values, counts = _numbers(path, buf, byte_kind, _V, starts, v_lines, "vertex")
    bad = counts < 3
    if bad.any():
        line = int(v_lines[np.argmax(bad)]) + 1
        raise InputError(f"{path}: line {line}: a vertex needs 3 coordinates, got {int(counts[np.argmax(bad)])}")
    base = np.concatenate([[0], np.cumsum(counts)[:-1]])
    if np.all(counts == 3):
        points = values.reshape(-1, 3)
    else:
        points = np.stack([values[base], values[base + 1], values[base + 2]], axis=1)
    finite = np.isfinite(points).all(axis=1)
    if not finite.all():
        i = int(np.argmax(~finite))
        coords = ", ".join(f"{float(c):g}" for c in points[i])
        raise InputError(f"{path}: vertex {i} (line {int(v_lines[i]) + 1}) has a non-finite coordinate ({coords}); "
                         f"every coordinate must be a finite number")
    point_data = {}
    if np.all(counts >= 6):
        rgb = np.stack([values[base + 3], values[base + 4], values[base + 5]], axis=1)
        if np.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1:
            point_data["displayColor"] = rgb.astype(np.float32)

    corners, per_line, normal_index = _faces(path, buf, byte_kind, starts, f_lines)
    vertex = _resolve(path, corners, per_line, f_lines, np.cumsum(kind == _V), len(points), "vertex")
    triangles = fan_triangles(vertex, per_line, path, what="face on line", names=f_lines + 1)

    vn_lines = np.flatnonzero(kind == _VN)
    if normal_index is not None and len(vn_lines) == len(points):
        normals_idx = _resolve(path, normal_index, per_line, f_lines, np.cumsum(kind == _VN), len(vn_lines),
                               "normal", strict=False)
        if normals_idx is not None and np.array_equal(normals_idx, vertex):
            nvals, ncounts = _numbers(path, buf, byte_kind, _VN, starts, vn_lines, "normal")
            if np.all(ncounts == 3):
                normals = nvals.reshape(-1, 3).astype(np.float32)
                if np.isfinite(normals).all():
                    point_data["Normals"] = normals
    return triangle_mesh(path, points, triangles, point_data=point_data, checked_indices=True)


def _lines(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive, without the newline) of every line."""
    nl = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], nl + 1])
    ends = np.concatenate([nl, [len(buf)]])
    if len(starts) > 1 and starts[-1] == len(buf):  # the text ends with a newline: no last empty line
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


def _classify(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Each line's kind from its first bytes: ``v``, ``vn``, ``f`` or anything else."""
    n = len(buf)

    def char(k: int) -> np.ndarray:
        pos = starts + k
        c = buf[np.minimum(pos, n - 1)].astype(np.int16)
        return np.where(pos < ends, c, 32)  # past the line's end: like a space

    c0, c1, c2 = char(0), char(1), char(2)
    kind = np.zeros(len(starts), np.int8)
    kind[(c0 == ord("v")) & (c1 <= 32)] = _V
    kind[(c0 == ord("v")) & (c1 == ord("n")) & (c2 <= 32)] = _VN
    kind[(c0 == ord("f")) & (c1 <= 32)] = _F
    return kind


def _check_material_libraries(path: Path, data: bytes, starts, ends, buf) -> None:
    from ..confine import check_reference

    candidates = np.flatnonzero(buf[np.minimum(starts, len(buf) - 1)] == ord("m"))
    for i in candidates:
        line = data[starts[i]:ends[i]]
        if not line.startswith(b"mtllib") or len(line) > 6 and line[6] > 32:
            continue
        text = line[6:].decode("utf-8", "replace").strip()
        for ref in dict.fromkeys([text, *text.split()]):
            if ref:
                check_reference(ref, referrer=path, what="OBJ material library")


def _kind_bytes(buf, byte_kind, which: int, starts, lines) -> tuple[np.ndarray, np.ndarray]:
    """The lines of one kind as one byte array (a copy, newlines kept) with the keyword blanked,
    comments blanked, and the offset of each line in it."""
    next_start = np.append(starts, len(buf))
    breaks = np.flatnonzero(np.diff(lines) != 1)
    run_first = lines[np.concatenate([[0], breaks + 1])]
    run_last = lines[np.concatenate([breaks, [len(lines) - 1]])]
    if len(run_first) <= 4096:  # the usual layout: all vertices, then all faces (per object)
        sub = np.concatenate([buf[starts[a]:next_start[b + 1]] for a, b in zip(run_first, run_last)])
    else:
        sub = buf[byte_kind() == which]
    line_len = next_start[lines + 1] - starts[lines]
    offsets = np.concatenate([[0], np.cumsum(line_len)[:-1]]).astype(np.int64)
    sub[offsets] = 32  # the keyword: 'v', 'f'
    if which == _VN:
        sub[offsets + 1] = 32
    if np.any(sub == ord("#")):  # comments after the numbers
        text = re.sub(rb"#[^\n]*", lambda m: b" " * len(m.group()), sub.tobytes())
        sub = np.frombuffer(text, np.uint8).copy()
    return sub, offsets


def _numbers(path: Path, buf, byte_kind, which: int, starts, lines, what: str):
    """All numbers (float64) on the lines of one kind, and how many each line has."""
    sub, offsets = _kind_bytes(buf, byte_kind, which, starts, lines)
    counts, positions = _tokens_per_line(sub, offsets, positions=True)
    values = parse_decimals(sub, positions)
    if values is None:  # exponents, nan, words...: the general parser (and its errors)
        values = parse_numbers(sub, np.float64, int(counts.sum()), path, f"OBJ {what} lines")
    return values, counts


def _tokens_per_line(sub: np.ndarray, offsets: np.ndarray, positions: bool = False):
    """How many whitespace-separated tokens each line (starting at ``offsets``) has
    (and, with ``positions``, where every token starts)."""
    space = sub <= 32
    start = ~space
    start[1:] &= space[:-1]
    where = np.flatnonzero(start)
    counts = np.diff(np.searchsorted(where, np.append(offsets, len(sub))))
    return (counts, where) if positions else counts


def _faces(path: Path, buf, byte_kind, starts, f_lines):
    """(vertex index per corner as written, corners per face, normal index per corner or None)."""
    sub, offsets = _kind_bytes(buf, byte_kind, _F, starts, f_lines)
    per_line = _tokens_per_line(sub, offsets)
    slash = sub == ord("/")
    if not slash.any():
        values = parse_numbers(sub, np.int64, int(per_line.sum()), path, "OBJ face lines")
        return values, per_line, None
    double_slash = bool(np.any(slash[1:] & slash[:-1]))
    sub[slash] = 32
    numbers = _tokens_per_line(sub, offsets)
    k = int(numbers.sum()) // max(int(per_line.sum()), 1)
    if k in (2, 3) and np.array_equal(numbers, k * per_line):
        values = parse_numbers(sub, np.int64, int(numbers.sum()), path, "OBJ face lines").reshape(-1, k)
        normal = values[:, 2] if k == 3 else (values[:, 1] if double_slash else None)
        return values[:, 0], per_line, normal
    # corners written in different forms (a, a/b, a//c mixed): keep what precedes each corner's first '/'
    sub, offsets = _kind_bytes(buf, byte_kind, _F, starts, f_lines)
    text = re.sub(rb"/\S*", b"", sub.tobytes())
    values = parse_numbers(text, np.int64, int(per_line.sum()), path, "OBJ face lines")
    return values, per_line, None


def _resolve(path: Path, raw: np.ndarray, per_line: np.ndarray, f_lines: np.ndarray, defined_upto: np.ndarray,
             total: int, what: str, strict: bool = True):
    """OBJ indices (1-based, or negative: relative to the items defined before the line) -> 0-based."""
    idx = raw - 1
    negative = raw < 0
    if negative.any():
        before = np.repeat(defined_upto[f_lines], per_line)  # items defined up to each face's line
        idx = np.where(negative, before + raw, idx)
    bad = (raw == 0) | (idx < 0) | (idx >= total)
    if bad.any():
        if not strict:
            return None
        i = int(np.argmax(bad))
        line = int(np.repeat(f_lines, per_line)[i]) + 1
        if raw[i] == 0:
            raise InputError(f"{path}: line {line}: face {what} index 0 is not valid; OBJ indices start at 1 "
                             f"(or are negative, counting back from the last {what})")
        raise InputError(f"{path}: line {line}: face refers to {what} {int(raw[i])}, but the file has "
                         f"{total:,} {'vertices' if what == 'vertex' else what + 's'} (valid 1 to {total:,}, or "
                         f"-1 back to the first {what} defined before the face)")
    return idx
