"""STL reader (binary and ASCII) in NumPy: no native code touches the file.

* **Binary**: an 80-byte header, a little-endian ``uint32`` triangle count, then 50 bytes
  per triangle (normal, three vertices as ``float32``, a 2-byte attribute). The count is
  checked against the file size before anything is read; the triangles are read in
  chunks through a structured dtype, so a huge (even sparse) file never needs its size
  in memory at once. Trailing bytes after the last triangle are ignored.
* **ASCII** (``solid`` ... ``facet normal`` ... ``vertex x y z`` ... ``endsolid``): the
  keywords are blanked out and the numbers parsed in C; every facet must have three
  vertices.

The result matches VTK's ``vtkSTLReader`` (what :func:`pyvista.read` gives): exactly
equal vertices are merged (``-0.0`` equals ``0.0``), in the order of first appearance,
and degenerate triangles (two corners at the same point) are dropped — so an STL whose
triangles are all degenerate (an all-zero file) "contains no surface geometry". Unlike
VTK, points used only by dropped triangles are not kept. Facet normals and attribute
bytes are ignored (as VTK does). Non-finite coordinates are refused naming the first
bad vertex (file order: triangle × 3 + corner).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..errors import InputError
from .meshcheck import check_budget, check_count, check_points, parse_numbers, read_exactly, triangle_mesh

__all__ = ["read_stl", "merge_vertices"]

_RECORD = np.dtype([("normal", "<f4", (3,)), ("v", "<f4", (9,)), ("attr", "<u2")])
#: a float32 point as two integer keys (its bits): x and y together, then z
_PACKED = np.dtype([("xy", "<u8"), ("z", "<u4")])
_CHUNK = 1 << 20  # triangles per read: 50 MiB
#: bytes per kept triangle while merging its vertices (float32 corners, bit keys, hashes, sort order, inverse)
_MERGE_BYTES_PER_TRIANGLE = 36 + 3 * (12 + 8 + 8 + 8 + 8)


def read_stl(path: str | Path):
    """Read a binary or ASCII STL file into a triangle :class:`pyvista.PolyData`."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(84)
        if len(head) < 84 and not head.lstrip().lower().startswith(b"solid"):
            raise InputError(f"{path}: not an STL file: {size} bytes, shorter than a binary STL's 84-byte header")
        count = struct.unpack("<I", head[80:84])[0] if len(head) == 84 else -1
        binary = len(head) == 84 and size >= 84 + 50 * count
        if not binary and head.lstrip().lower().startswith(b"solid") and _looks_like_text(f):
            return _read_ascii(path, size)
        if len(head) < 84:
            raise InputError(f"{path}: not an STL file")
        check_count(path, "triangles", count, 50, size - 84)
        corners = _read_binary(f, path, count)
    return _mesh(path, corners)


def _looks_like_text(f) -> bool:
    f.seek(0)
    sample = f.read(4096)
    return b"\0" not in sample and (b"facet" in sample.lower() or b"endsolid" in sample.lower() or len(sample) < 4096)


def _read_binary(f, path: Path, count: int) -> np.ndarray:
    """The corners ``(n, 3, 3)`` float32 of the non-degenerate triangles, read chunk by chunk.

    A chunk that lies in a hole of a sparse file (all zeros: only degenerate triangles)
    is skipped without reading it.
    """
    check_budget(path, count * _MERGE_BYTES_PER_TRIANGLE + min(count, _CHUNK) * 50 * 2,
                 detail=f"{count:,} triangles in the header")
    kept = []
    holes = _Holes(path) if count > _CHUNK else None
    try:
        for start in range(0, count, _CHUNK):
            n = min(_CHUNK, count - start)
            offset = 84 + 50 * start
            if holes is not None and holes.covers(offset, 50 * n):
                continue  # zeros: degenerate triangles only
            block = np.frombuffer(read_exactly(f, offset, 50 * n, path, f"triangles {start:,}-{start + n - 1:,}"),
                                  dtype=_RECORD)
            corners = np.ascontiguousarray(block["v"]).reshape(n, 3, 3)
            del block
            if not np.isfinite(corners).all():
                check_points(path, corners.reshape(-1, 3), offset=3 * start)
            kept.append(_non_degenerate(corners))
    finally:
        if holes is not None:
            holes.close()
    return np.concatenate(kept) if kept else np.zeros((0, 3, 3), np.float32)


class _Holes:
    """Where a sparse file has holes (``SEEK_DATA``), on a descriptor of its own (the reader's
    buffered file keeps its position)."""

    def __init__(self, path: Path):
        import os

        self.seek_data = getattr(os, "SEEK_DATA", None)
        self.fd = os.open(path, os.O_RDONLY) if self.seek_data is not None else None

    def covers(self, offset: int, nbytes: int) -> bool:
        """Whether ``nbytes`` at ``offset`` all lie in a hole (they read as zeros)."""
        import errno
        import os

        if self.fd is None:
            return False
        try:
            return os.lseek(self.fd, offset, self.seek_data) >= offset + nbytes
        except OSError as exc:  # ENXIO: no data after offset; anything else: no hole support
            return exc.errno == errno.ENXIO

    def close(self) -> None:
        import os

        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _non_degenerate(corners: np.ndarray) -> np.ndarray:
    """The triangles ``(n, 3, 3)`` float32 whose three corners have different bits.

    Corners differing only as ``-0.0`` / ``0.0`` pass here; :func:`_mesh` drops those
    triangles once the points are merged (as VTK compares values).
    """
    packed = np.ascontiguousarray(corners, dtype=np.float32).view(_PACKED).reshape(len(corners), 3)
    xy, z = packed["xy"], packed["z"]
    degenerate = (xy[:, 0] == xy[:, 1]) & (z[:, 0] == z[:, 1])
    degenerate |= (xy[:, 1] == xy[:, 2]) & (z[:, 1] == z[:, 2])
    degenerate |= (xy[:, 0] == xy[:, 2]) & (z[:, 0] == z[:, 2])
    return corners[~degenerate] if degenerate.any() else corners


def _read_ascii(path: Path, size: int) -> np.ndarray:
    """ASCII STL: the keywords (words of two or more letters) become spaces, so the numbers
    remain (12 per facet: a normal and three vertices); ``solid NAME`` lines are blanked
    whole. Keyword counts are checked: every facet has one ``normal`` and three ``vertex``."""
    check_budget(path, 6 * size, detail=f"a {size:,}-byte ASCII STL")
    raw = np.frombuffer(path.read_bytes(), np.uint8)
    folded = raw | 32  # lower case letters (and other bytes shifted; only letters are used)
    letter = (folded >= ord("a")) & (folded <= ord("z"))
    word = letter.copy()  # letters with a letter beside them: keywords, not the 'e' of an exponent
    word[1:] &= letter[:-1]
    word[:-1] |= letter[:-1] & letter[1:]
    word_starts = np.flatnonzero(word & ~np.concatenate([[False], word[:-1]]))
    solid_lines = _solid_lines(folded, raw)  # 'solid NAME' / 'endsolid NAME': the name may hold anything
    if solid_lines:
        on_solid_line = np.zeros(len(word_starts), bool)
        for a, b in solid_lines:
            on_solid_line[np.searchsorted(word_starts, a):np.searchsorted(word_starts, b)] = True
        word_starts = word_starts[~on_solid_line]
    initials = folded[word_starts]
    n_facets = int(np.count_nonzero(initials == ord("f")))
    n_vertices = int(np.count_nonzero(initials == ord("v")))
    n_normals = int(np.count_nonzero(initials == ord("n")))
    if n_vertices != 3 * n_facets or n_normals not in (0, n_facets):
        raise InputError(f"{path}: malformed ASCII STL: {n_facets:,} facets, {n_normals:,} normals and "
                         f"{n_vertices:,} vertices; every facet must have a normal and exactly 3 vertices")
    text = np.where(word, np.uint8(32), raw)
    del folded, letter, word
    for a, b in solid_lines:
        text[a:b] = 32
    per = 12 if n_normals else 9
    values = parse_numbers(text, np.float32, per * n_facets, path,
                           f"ASCII STL facets ({per} numbers each{': a normal and 3 vertices' if n_normals else ''})")
    corners = values.reshape(n_facets, per)[:, -9:].reshape(-1, 3, 3)
    check_points(path, corners.reshape(-1, 3))
    return _mesh(path, _non_degenerate(corners))


def _solid_lines(folded: np.ndarray, raw: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of every line holding ``solid`` (``solid NAME``, ``endsolid NAME``)."""
    data = folded.tobytes()
    hits = []
    pos = data.find(b"solid")
    while pos >= 0:
        hits.append(pos)
        pos = data.find(b"solid", pos + 5)
    if not hits:
        return []
    newlines = np.flatnonzero(raw == 10)
    at = np.searchsorted(newlines, hits)
    starts = np.where(at > 0, newlines[np.maximum(at - 1, 0)] + 1, 0) if len(newlines) else np.zeros(len(hits), int)
    ends = np.where(at < len(newlines), newlines[np.minimum(at, len(newlines) - 1)], len(raw)) \
        if len(newlines) else np.full(len(hits), len(raw))
    return sorted(set(zip(starts.tolist(), ends.tolist())))


def merge_vertices(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge exactly equal float32 points: ``(points, inverse)``, points in order of first appearance.

    ``corners`` is ``(m, 3)`` float32; ``points[inverse] == corners``. ``-0.0`` and ``0.0``
    are the same point (VTK's point merging compares values). One sort of 64-bit keys
    (a hash of the point in the high bits, the position in the low bits); a hash
    collision between different points falls back to an exact lexicographic sort.
    """
    pts = np.ascontiguousarray(corners, dtype=np.float32) + np.float32(0)  # -0.0 -> 0.0
    m = len(pts)
    if m == 0:
        return pts, np.zeros(0, np.int64)
    packed = pts.view(_PACKED).reshape(m)
    xy, z = np.ascontiguousarray(packed["xy"]), np.ascontiguousarray(packed["z"])
    del packed
    h = z.astype(np.uint64)
    h *= np.uint64(0x9E3779B97F4A7C15)
    h ^= xy
    h *= np.uint64(0xC2B2AE3D27D4EB4F)  # mix the coordinates into the high bits
    shift = max(int(m - 1).bit_length(), 1)
    low = np.uint64((1 << shift) - 1)
    h &= ~low
    h |= np.arange(m, dtype=np.uint64)
    h.sort()
    order = (h & low).astype(np.int64)
    xs, zs = np.take(xy, order), np.take(z, order)
    same = (xs[1:] == xs[:-1]) & (zs[1:] == zs[:-1])
    h >>= np.uint64(shift)
    if ((h[1:] == h[:-1]) & ~same).any():  # different points share a hash: sort exactly
        order = np.lexsort((z, xy))
        xs, zs = xy[order], z[order]
        same = (xs[1:] == xs[:-1]) & (zs[1:] == zs[:-1])
    del h, xs, zs
    starts = np.empty(m, bool)
    starts[0] = True
    np.logical_not(same, out=starts[1:])
    first = order[starts]  # the smallest position of each point (positions ascend within a group)
    is_first = np.zeros(m, bool)
    is_first[first] = True
    rank = np.cumsum(is_first) - 1  # rank of a first position among all first positions
    group = np.cumsum(starts) - 1
    inverse = np.empty(m, np.int64)
    inverse[order] = rank[first][group]
    return pts[is_first], inverse


def _mesh(path: Path, corners: np.ndarray):
    empty = f"{path}: contains no surface geometry (no triangles, or only degenerate ones)"
    if len(corners) == 0:
        raise InputError(empty)
    points, inverse = merge_vertices(corners.reshape(-1, 3))
    tri = inverse.reshape(-1, 3)
    degenerate = (tri[:, 0] == tri[:, 1]) | (tri[:, 1] == tri[:, 2]) | (tri[:, 0] == tri[:, 2])
    if degenerate.any():  # corners that differ only as -0.0 / 0.0
        tri = tri[~degenerate]
        if len(tri) == 0:
            raise InputError(empty)
    return triangle_mesh(path, points, tri, checked_indices=True)
