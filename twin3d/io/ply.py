"""PLY reader (ASCII, binary little- and big-endian) in NumPy: no native code touches the file.

The header (``ply``, ``format``, ``element NAME COUNT``, ``property TYPE NAME``,
``property list COUNT_TYPE ITEM_TYPE NAME``, ``comment``/``obj_info``, ``end_header``;
at most 1 MiB) is parsed first; then every element is located in order, and its size
checked against the bytes left in the file *before* anything is read, so a header
claiming 10^9 vertices in a small file is refused at once (and a plausible one larger
than the memory budget is refused with the estimate).

* ``vertex``: ``x y z`` (any numeric type; ``float`` gives float32 points, ``double``
  float64, as VTK), ``nx ny nz`` -> ``point_data["Normals"]`` (float32, dropped if not
  finite), ``red green blue [alpha]`` (or ``diffuse_red``...; ``uchar`` /255, ``ushort``
  /65535, floats as they are) -> ``point_data["displayColor"]`` float32 RGB in [0, 1]
  (+ ``displayOpacity``), twin3d's convention for colours read from other tools.
* ``face``: ``vertex_indices`` or ``vertex_index`` (a list); polygons become fan
  triangles. Binary faces are read through a structured dtype (a strided view) when
  every face has the same number of corners — all triangles, all quads — else record by
  record; ASCII faces line by line.
* Other elements and properties are skipped (their sizes still checked).

Vertex indices are checked against the vertex count; a file without faces "contains no
surface geometry". Points match VTK's ``vtkPLYReader`` (every vertex, in file order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .meshcheck import (
    check_budget,
    check_count,
    fan_triangles,
    parse_numbers,
    read_exactly,
    token_starts,
    triangle_mesh,
)

__all__ = ["read_ply", "PLY_TYPES"]

#: PLY scalar types and their NumPy codes (both spellings of the PLY 1.0 spec).
PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_FORMATS = {"ascii": None, "binary_little_endian": "<", "binary_big_endian": ">"}
_MAX_HEADER = 1 << 20
_FACE_LISTS = ("vertex_indices", "vertex_index")
_COLOR_NAMES = (("red", "green", "blue", "alpha"), ("diffuse_red", "diffuse_green", "diffuse_blue", "alpha"))


@dataclass
class _Property:
    name: str
    type: str  # numpy code without byte order
    count_type: str | None = None  # set for a list property

    @property
    def is_list(self) -> bool:
        return self.count_type is not None


@dataclass
class _Element:
    name: str
    count: int
    line: int
    props: list[_Property] = field(default_factory=list)

    def fixed_dtype(self, order: str, list_len: int | None = None) -> np.dtype:
        """The record dtype (packed), every list holding ``list_len`` items."""
        fields = []
        for i, p in enumerate(self.props):
            if p.is_list:
                fields.append((f"n{i}", order + p.count_type))
                fields.append((f"p{i}", order + p.type, (list_len,)))
            else:
                fields.append((f"p{i}", order + p.type))
        return np.dtype(fields)

    def index(self, name: str) -> int | None:
        for i, p in enumerate(self.props):
            if p.name == name:
                return i
        return None


def _parse_header(path: Path, f) -> tuple[str | None, list[_Element], int]:
    """(byte order or None for ASCII, elements, offset of the body)."""
    head = f.read(_MAX_HEADER)
    if not head.startswith(b"ply") or head[3:4] not in (b"\n", b"\r"):
        raise InputError(f"{path}: not a PLY file (it must start with a 'ply' line)")
    end = head.find(b"end_header")
    if end < 0:
        raise InputError(f"{path}: PLY header has no 'end_header' line in its first {_MAX_HEADER // 1024} KiB")
    body = end + len(b"end_header")
    if head[body:body + 2] == b"\r\n":
        body += 2
    elif head[body:body + 1] in (b"\n", b"\r"):
        body += 1
    else:
        raise InputError(f"{path}: PLY 'end_header' must end its line")
    try:
        lines = head[:end].decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{path}: PLY header is not ASCII text") from None
    order: str | None = "?"
    elements: list[_Element] = []
    for lineno, line in enumerate(lines, start=1):
        words = line.split()
        if not words or words[0] in ("comment", "obj_info", "ply"):
            continue
        where = f"{path}: PLY header line {lineno}"
        if words[0] == "format":
            if len(words) != 3 or words[1] not in _FORMATS or words[2] not in ("1.0", "1"):
                raise InputError(f"{where}: expected 'format ascii|binary_little_endian|binary_big_endian 1.0', "
                                 f"got {line.strip()!r}")
            order = _FORMATS[words[1]]
        elif words[0] == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise InputError(f"{where}: expected 'element NAME COUNT', got {line.strip()!r}")
            elements.append(_Element(words[1], int(words[2]), lineno))
        elif words[0] == "property":
            if not elements:
                raise InputError(f"{where}: 'property' before any 'element'")
            if len(words) == 5 and words[1] == "list":
                ct, it = PLY_TYPES.get(words[2]), PLY_TYPES.get(words[3])
                if ct is None or it is None or ct[0] not in "iu":
                    raise InputError(f"{where}: bad list types in {line.strip()!r}; the count type must be an "
                                     f"integer type and both one of {', '.join(PLY_TYPES)}")
                elements[-1].props.append(_Property(words[4], it, ct))
            elif len(words) == 3 and words[1] in PLY_TYPES:
                elements[-1].props.append(_Property(words[2], PLY_TYPES[words[1]]))
            else:
                raise InputError(f"{where}: expected 'property TYPE NAME' or 'property list COUNT_TYPE ITEM_TYPE "
                                 f"NAME' (types: {', '.join(PLY_TYPES)}), got {line.strip()!r}")
        else:
            raise InputError(f"{where}: unknown keyword {words[0]!r} (valid: format, element, property, comment, "
                             f"obj_info, end_header)")
    if order == "?":
        raise InputError(f"{path}: PLY header has no 'format' line")
    return order, elements, body


def read_ply(path: str | Path):
    """Read a PLY file (ASCII or binary) into a triangle :class:`pyvista.PolyData`."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        order, elements, body = _parse_header(path, f)
        vertex = next((e for e in elements if e.name == "vertex"), None)
        face = next((e for e in elements if e.name == "face"), None)
        if vertex is None or vertex.count == 0:
            raise InputError(f"{path}: contains no surface geometry (no 'vertex' element)")
        missing = [c for c in "xyz" if vertex.index(c) is None]
        if missing:
            raise InputError(f"{path}: the PLY 'vertex' element has no {', '.join(missing)} property")
        if face is None or face.count == 0:
            raise InputError(f"{path}: contains no surface geometry (no faces; a point cloud)")
        fi = next((face.index(n) for n in _FACE_LISTS if face.index(n) is not None), None)
        if fi is None or not face.props[fi].is_list:
            raise InputError(f"{path}: the PLY 'face' element has no 'vertex_indices' list")
        if face.props[fi].type[0] not in "iu":
            raise InputError(f"{path}: PLY face indices must be integers, not {face.props[fi].type}")
        _check_sizes(path, order, elements, size - body)
        xyz_bytes = 8 if any(vertex.props[vertex.index(c)].type == "f8" for c in "xyz") else 4
        check_budget(path, vertex.count * (3 * xyz_bytes + 3 * 4 + 4 + 12) + face.count * (3 * 8 * 2),
                     detail=f"{vertex.count:,} vertices and {face.count:,} faces in the header")
        if order is None:
            records = _read_ascii(path, f, body, size, elements, (vertex, face))
        else:
            records = _read_binary(path, f, body, size, order, elements, (vertex, face))
    return _mesh(path, vertex, records[vertex.name], face, fi, records[face.name])


def _check_sizes(path: Path, order: str | None, elements: list[_Element], available: int) -> None:
    """Every element's smallest possible size (lists empty; ASCII: a digit and a space per
    number), summed in file order, must fit in the bytes after the header."""
    used = 0
    for el in elements:
        per = el.fixed_dtype(order, 0).itemsize if order is not None else 2 * max(len(el.props), 1)
        check_count(path, f"'{el.name}' records ({per} bytes each at least)", el.count, per, available - used,
                    where=f"PLY header line {el.line}: ")
        used += el.count * per


# --------------------------------------------------------------------------- binary
def _read_binary(path: Path, f, offset: int, size: int, order: str, elements: list[_Element],
                 wanted: tuple[_Element, ...]) -> dict:
    """The wanted elements' records: a structured array, or for variable lists a list of columns."""
    out = {}
    for el in elements:
        where = f"element '{el.name}' (header line {el.line}): "
        if not any(p.is_list for p in el.props):
            dt = el.fixed_dtype(order)
            check_count(path, f"'{el.name}' records of {dt.itemsize} bytes", el.count, dt.itemsize, size - offset)
            if el in wanted:
                data = read_exactly(f, offset, el.count * dt.itemsize, path, f"{where}records")
                out[el.name] = np.frombuffer(data, dt)
            offset += el.count * dt.itemsize
            continue
        min_size = el.fixed_dtype(order, 0).itemsize
        check_count(path, f"'{el.name}' records of at least {min_size} bytes", el.count, min_size, size - offset)
        recs, offset = _binary_lists(path, f, offset, size, order, el, read=el in wanted)
        if el in wanted:
            out[el.name] = recs
        if all(w.name in out for w in wanted):
            break
    return out


def _binary_lists(path: Path, f, offset: int, size: int, order: str, el: _Element, *, read: bool):
    """An element with list properties: ``(records, end offset)``.

    Fast path: the first record's list lengths hold for every record (all triangles),
    so the block is one structured array. Else the records are walked one by one.
    """
    first_lists = _first_list_lengths(path, f, offset, size, order, el)
    if first_lists is not None and len(set(first_lists)) == 1:
        dt = el.fixed_dtype(order, first_lists[0])
        nbytes = el.count * dt.itemsize
        if offset + nbytes <= size:
            data = read_exactly(f, offset, nbytes, path, f"element '{el.name}'")
            recs = np.frombuffer(data, dt)
            if all(np.all(recs[f"n{i}"] == first_lists[0]) for i, p in enumerate(el.props) if p.is_list):
                return (recs if read else None), offset + nbytes
    return _walk_records(path, f, offset, size, order, el, read)


def _first_list_lengths(path, f, offset, size, order, el) -> list[int] | None:
    f.seek(offset)
    head = f.read(4096)
    pos = 0
    lengths = []
    for p in el.props:
        if p.is_list:
            ct = np.dtype(order + p.count_type)
            if pos + ct.itemsize > len(head):
                return None
            n = int(np.frombuffer(head, ct, 1, pos)[0])
            lengths.append(n)
            pos += ct.itemsize + n * np.dtype(p.type).itemsize
        else:
            pos += np.dtype(p.type).itemsize
    return lengths


def _walk_records(path: Path, f, offset: int, size: int, order: str, el: _Element, read: bool):
    """Records of mixed list lengths, one by one (quads and triangles mixed, several lists)."""
    nbytes = size - offset
    check_budget(path, 10 * nbytes, detail=f"the {nbytes:,} bytes after the header, walked record by record")
    data = read_exactly(f, offset, nbytes, path, f"element '{el.name}'")
    steps = []  # per property: (is_list, count dtype or None, item size)
    for p in el.props:
        size_item = np.dtype(p.type).itemsize
        steps.append((np.dtype(order + p.count_type) if p.is_list else None, size_item))
    pos = 0
    starts = {i: np.empty(el.count, np.int64) for i, p in enumerate(el.props)}
    counts = {i: np.empty(el.count, np.int64) for i, p in enumerate(el.props) if p.is_list}
    view = memoryview(data)
    simple = [(i, ct.itemsize, ct.kind == "u" and ct.itemsize == 1, item) for i, (ct, item) in enumerate(steps)
              if ct is not None]
    fixed = [(i, item) for i, (ct, item) in enumerate(steps) if ct is None]
    if len(simple) == 1 and not fixed and simple[0][2]:
        # the common case: one list of uchar counts, nothing else: a tight loop
        i, _, _, item = simple[0]
        st, cn = starts[i], counts[i]
        for r in range(el.count):
            if pos >= nbytes:
                raise _truncated(path, el, r)
            n = view[pos]
            st[r] = pos + 1
            cn[r] = n
            pos += 1 + n * item
    else:
        for r in range(el.count):
            for i, (ct, item) in enumerate(steps):
                if ct is None:
                    starts[i][r] = pos
                    pos += item
                    continue
                if pos + ct.itemsize > nbytes:
                    raise _truncated(path, el, r)
                n = int(np.frombuffer(data, ct, 1, pos)[0])
                if n < 0:
                    raise InputError(f"{path}: element '{el.name}' record {r}: negative list length {n}")
                starts[i][r] = pos + ct.itemsize
                counts[i][r] = n
                pos += ct.itemsize + n * item
    if pos > nbytes:
        raise _truncated(path, el, el.count - 1)
    if not read:
        return None, offset + pos
    columns = {}
    for i, p in enumerate(el.props):
        item_dt = np.dtype(order + p.type)
        raw = np.frombuffer(data, np.uint8)
        if p.is_list:
            idx = _ranges(starts[i], counts[i] * item_dt.itemsize)
            columns[i] = (raw[idx].view(item_dt), counts[i])
        else:
            idx = _ranges(starts[i], np.full(el.count, item_dt.itemsize))
            columns[i] = raw[idx].view(item_dt)
    return columns, offset + pos


def _truncated(path: Path, el: _Element, record: int) -> InputError:
    return InputError(f"{path}: the file ends inside record {record:,} of element '{el.name}' "
                      f"({el.count:,} records in the header); the file is truncated")


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + n)`` for every (start, length), vectorised."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(lengths)
    out = np.ones(total, np.int64)
    nonzero = lengths > 0
    s, l, e = starts[nonzero], lengths[nonzero], ends[nonzero]
    out[0] = s[0]
    out[(e - l)[1:]] = s[1:] - (s[:-1] + l[:-1] - 1)
    return np.cumsum(out)


# --------------------------------------------------------------------------- ASCII
def _read_ascii(path: Path, f, offset: int, size: int, elements: list[_Element], wanted) -> dict:
    """ASCII records (one per line, as the PLY spec writes them), parsed in C."""
    nbytes = size - offset
    check_budget(path, 8 * nbytes, detail=f"a {nbytes:,}-byte ASCII PLY body")
    text = read_exactly(f, offset, nbytes, path, "the PLY body")
    buf = np.frombuffer(text, np.uint8)
    positions = token_starts(buf)
    line_of = np.searchsorted(np.flatnonzero(buf == 10), positions)
    per_line = np.bincount(line_of) if len(line_of) else np.zeros(0, np.int64)
    del line_of
    per_line = per_line[per_line > 0]  # blank lines carry no record
    needed = sum(el.count for el in elements)
    if len(per_line) < needed:
        raise InputError(f"{path}: the PLY body has {len(per_line):,} records but the header declares {needed:,}; "
                         f"the file is truncated")
    out = {}
    line = 0
    token = 0
    for el in elements:
        counts = per_line[line:line + el.count]
        n_tokens = int(counts.sum())
        if el in wanted:
            lo = positions[token] if n_tokens else 0
            hi = positions[token + n_tokens] if token + n_tokens < len(positions) else len(text)
            values = parse_numbers(text[lo:hi], np.float64, n_tokens, path, f"PLY element '{el.name}'")
            out[el.name] = _ascii_records(path, values, counts, el)
        line += el.count
        token += n_tokens
        if all(w.name in out for w in wanted):
            break
    return out


def _ascii_records(path: Path, values: np.ndarray, counts: np.ndarray, el: _Element) -> dict:
    """The numbers of one element's lines as columns (like :func:`_walk_records`)."""
    line_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    end = line_start + counts
    pos = line_start.copy()
    columns = {}
    for i, p in enumerate(el.props):
        if pos.size and np.any(pos >= end):
            bad = int(np.argmax(pos >= end))
            raise InputError(f"{path}: PLY element '{el.name}' record {bad}: too few numbers on its line")
        if p.is_list:
            raw_n = values[pos]
            n = raw_n.astype(np.int64)
            bad_n = (raw_n < 0) | (n != raw_n) | (pos + 1 + n > end)
            if bad_n.any():
                bad = int(np.argmax(bad_n))
                raise InputError(f"{path}: PLY element '{el.name}' record {bad}: list length {raw_n[bad]:g} does "
                                 f"not match the {int(counts[bad])} numbers on its line")
            columns[i] = (values[_ranges(pos + 1, n)], n)
            pos = pos + 1 + n
        else:
            columns[i] = values[pos]
            pos = pos + 1
    if np.any(pos != end):
        bad = int(np.argmax(pos != end))
        raise InputError(f"{path}: PLY element '{el.name}' record {bad}: {int(counts[bad])} numbers on its line, "
                         f"expected {int(pos[bad] - line_start[bad])}")
    return columns


# --------------------------------------------------------------------------- to a mesh
def _column(recs, i: int):
    """Property ``i`` of records: a structured array field or a walked/ASCII column."""
    if isinstance(recs, np.ndarray):
        return recs[f"p{i}"]
    return recs[i]


def _mesh(path: Path, vertex: _Element, vrecs, face: _Element, fi: int, frecs):
    dtype = np.float64 if any(vertex.props[vertex.index(c)].type == "f8" for c in "xyz") else np.float32
    points = np.empty((vertex.count, 3), dtype)
    for k, c in enumerate("xyz"):
        points[:, k] = _column(vrecs, vertex.index(c))
    point_data = {}
    if all(vertex.index(c) is not None for c in ("nx", "ny", "nz")):
        normals = np.stack([_column(vrecs, vertex.index(c)) for c in ("nx", "ny", "nz")], axis=1).astype(np.float32)
        if np.isfinite(normals).all():
            point_data["Normals"] = normals
    for names in _COLOR_NAMES:
        if all(vertex.index(c) is not None for c in names[:3]):
            rgb = np.stack([_color(vertex, vrecs, c) for c in names[:3]], axis=1)
            point_data["displayColor"] = rgb
            if vertex.index(names[3]) is not None:
                point_data["displayOpacity"] = _color(vertex, vrecs, names[3])
            break
    if isinstance(frecs, np.ndarray):
        lists = frecs[f"p{fi}"]
        k = lists.shape[1]
        indices, corner_counts = lists.reshape(-1), np.full(face.count, k, np.int64)
    else:
        indices, corner_counts = frecs[fi]
    if indices.dtype.kind == "f" and indices.size and not np.array_equal(indices, np.floor(indices)):
        raise InputError(f"{path}: PLY face indices must be whole numbers")
    triangles = fan_triangles(indices.astype(np.int64), corner_counts, path, what="face")
    return triangle_mesh(path, points, triangles, point_data=point_data)


def _color(vertex: _Element, vrecs, name: str) -> np.ndarray:
    """A colour channel in [0, 1]: integers divided by their type's maximum, floats clipped."""
    prop = vertex.props[vertex.index(name)]
    values = np.asarray(_column(vrecs, vertex.index(name)))
    dt = np.dtype(prop.type)
    if dt.kind in "iu":
        values = values / float(np.iinfo(dt).max)
    values = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(values, 0.0, 1.0)
