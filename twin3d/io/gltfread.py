"""glTF 2.0 reader (``.gltf`` + buffers, ``.glb``) in NumPy: no native code touches the file.

(:mod:`twin3d.io.gltf` is the writer.) What is checked before any geometry is built:

* **Container.** A ``.glb``'s header (magic ``glTF``, version 2, total length within the
  file) and chunk lengths; the JSON (an error gives its line and column).
* **References.** Every ``buffers[].uri`` and ``images[].uri`` that is not a ``data:``
  URI goes through :func:`twin3d.confine.check_reference` ("glTF buffer" / "glTF
  image"): a URI resolving outside the glTF's folder and the allowed folders
  (``--allow-path``) is refused with :class:`~twin3d.errors.ConfinementError`, and its
  file is never opened. A missing buffer file is a
  :class:`~twin3d.errors.MissingFileError` naming the glTF and the URI. Images are not
  read (textures are not used for meshes read as assets).
* **Sizes.** Buffer byte lengths against the real bytes (file, GLB chunk, decoded
  ``data:`` URI); buffer views inside their buffer; accessors (offset, stride, count)
  inside their view; index values below the vertex count; the instanced triangle count
  against the memory budget; node trees without cycles and with at most
  :data:`MAX_NODE_INSTANCES` instances.

Geometry: every primitive of mode TRIANGLES, TRIANGLE_STRIP or TRIANGLE_FAN (points and
lines are skipped) of every mesh instance in the default scene, with its node's world
transform (``matrix`` or TRS) applied, each primitive keeping only the vertices its
indices use — the points, triangles and order VTK's ``vtkGLTFReader`` (what
:func:`pyvista.read` used) gives, for twin3d's own exports. Positions may be float or,
with ``KHR_mesh_quantization``, (normalized) integers; Draco/meshopt-compressed files are
refused. When a primitive has ``COLOR_0``, the colours (times the material's
``baseColorFactor``, converted from glTF's linear values to display sRGB) become
``point_data["displayColor"]`` (+ ``displayOpacity`` for RGBA) and primitives without it
get their material's colour; files without ``COLOR_0`` carry no colours (the spec's
``color`` applies, as before).
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from pathlib import Path

import numpy as np

from ..errors import InputError, MissingFileError, UnsupportedFormatError
from .meshcheck import check_budget, read_exactly, triangle_mesh

__all__ = ["read_gltf", "MAX_NODE_INSTANCES"]

#: Most node instances a scene may expand to (a node reused under many parents multiplies).
MAX_NODE_INSTANCES = 1_000_000

_COMPONENTS = {5120: "i1", 5121: "u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
_TYPES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_TRIANGLE_MODES = (4, 5, 6)
_COMPRESSION = ("KHR_draco_mesh_compression", "EXT_meshopt_compression", "KHR_meshopt_compression")
_JSON_CHUNK, _BIN_CHUNK = 0x4E4F534A, 0x004E4942


class _Doc:
    """The parsed glTF: JSON, buffers (read on first use) and checked accessors."""

    def __init__(self, path: Path, doc: dict, glb_bin: tuple[int, int] | None):
        self.path = path
        self.doc = doc
        self.glb_bin = glb_bin  # (offset, length) of the GLB's BIN chunk
        self.buffers: dict[int, bytes] = {}
        self._check_references()

    # ----------------------------------------------------------------- helpers
    def error(self, where: str, message: str) -> InputError:
        return InputError(f"{self.path}: {where}: {message}")

    def items(self, key: str) -> list:
        value = self.doc.get(key, [])
        if not isinstance(value, list):
            raise self.error(key, "must be a list")
        return value

    def item(self, key: str, index, where: str) -> dict:
        items = self.items(key)
        if type(index) is not int or not 0 <= index < len(items):
            raise self.error(where, f"{index!r} is not an index into {key} (0 to {len(items) - 1})")
        value = items[index]
        if not isinstance(value, dict):
            raise self.error(f"{key}[{index}]", "must be an object")
        return value

    def integer(self, obj: dict, key: str, where: str, *, default=None, low: int = 0) -> int:
        value = obj.get(key, default)
        if type(value) is not int or value < low:
            raise self.error(f"{where}.{key}", f"expected a whole number >= {low}, got {value!r}")
        return value

    # ----------------------------------------------------------------- references and buffers
    def _check_references(self) -> None:
        from ..confine import check_reference

        for key, what in (("buffers", "glTF buffer"), ("images", "glTF image")):
            for i, item in enumerate(self.items(key)):
                uri = item.get("uri") if isinstance(item, dict) else None
                if uri is None:
                    continue
                if not isinstance(uri, str):
                    raise self.error(f"{key}[{i}].uri", "must be a string")
                if not uri.startswith("data:"):
                    check_reference(uri, referrer=self.path, what=what, uri=True)

    def buffer(self, index: int, where: str) -> bytes:
        if index in self.buffers:
            return self.buffers[index]
        buf = self.item("buffers", index, where)
        name = f"buffers[{index}]"
        length = self.integer(buf, "byteLength", name, low=1)
        uri = buf.get("uri")
        if uri is None:
            if self.glb_bin is None or index != 0:
                raise self.error(name, "has no uri (only the first buffer of a .glb may use the BIN chunk)")
            offset, size = self.glb_bin
            if length > size:
                raise self.error(name, f"byteLength {length:,} is larger than the GLB's BIN chunk ({size:,} bytes)")
            check_budget(self.path, length, detail=f"{name}: {length:,} bytes")
            with open(self.path, "rb") as f:
                data = read_exactly(f, offset, length, self.path, f"{name} (BIN chunk)")
        elif uri.startswith("data:"):
            head, comma, payload = uri.partition(",")
            if not comma or not head.endswith(";base64"):
                raise self.error(f"{name}.uri", "a data: URI must be base64 (data:...;base64,...)")
            check_budget(self.path, len(payload), detail=f"{name}: a {len(payload):,}-character data: URI")
            try:
                data = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                raise self.error(f"{name}.uri", "the data: URI is not valid base64") from None
            if len(data) < length:
                raise self.error(name, f"byteLength {length:,} but the data: URI holds {len(data):,} bytes")
        else:
            from ..confine import check_reference

            target = check_reference(uri, referrer=self.path, what="glTF buffer", uri=True)
            if not target.is_file():
                raise MissingFileError(target, f"{self.path}: glTF buffer {uri!r}: no such file ({target})",
                                       what="glTF buffer")
            have = target.stat().st_size
            if have < length:
                raise self.error(name, f"byteLength {length:,} but {uri!r} has {have:,} bytes; it is truncated")
            check_budget(self.path, length, detail=f"{name} ({uri}): {length:,} bytes")
            with open(target, "rb") as f:
                data = read_exactly(f, 0, length, target, f"glTF buffer of {self.path.name}")
        self.buffers[index] = data[:length]
        return self.buffers[index]

    def accessor(self, index, where: str) -> np.ndarray:
        """The accessor's elements as an array ``(count, components)`` (a copy), every range checked."""
        acc = self.item("accessors", index, where)
        name = f"accessors[{index}]"
        if "sparse" in acc:
            raise UnsupportedFormatError(f"{self.path}: {name}: sparse accessors are not supported")
        ctype = acc.get("componentType")
        if ctype not in _COMPONENTS:
            raise self.error(f"{name}.componentType", f"{ctype!r} is not one of {sorted(_COMPONENTS)}")
        kind = acc.get("type")
        if kind not in _TYPES:
            raise self.error(f"{name}.type", f"{kind!r} is not one of {', '.join(_TYPES)}")
        count = self.integer(acc, "count", name, low=1)
        dtype = np.dtype(_COMPONENTS[ctype])
        ncomp = _TYPES[kind]
        elem = dtype.itemsize * ncomp
        if "bufferView" not in acc:  # all zeros
            check_budget(self.path, count * elem, detail=f"{name}: {count:,} elements")
            return np.zeros((count, ncomp), dtype)
        vi = acc["bufferView"]
        view = self.item("bufferViews", vi, f"{name}.bufferView")
        vname = f"bufferViews[{vi}]"
        voff = self.integer(view, "byteOffset", vname, default=0)
        vlen = self.integer(view, "byteLength", vname, low=1)
        stride = view.get("byteStride", elem)
        if type(stride) is not int or stride < elem or stride > 252 + elem:
            raise self.error(f"{vname}.byteStride", f"{stride!r} is not a valid stride for {elem}-byte elements")
        aoff = self.integer(acc, "byteOffset", name, default=0)
        need = aoff + stride * (count - 1) + elem
        if need > vlen:
            raise self.error(name, f"{count:,} elements of {elem} bytes (stride {stride}) from byte {aoff:,} need "
                                   f"{need:,} bytes but {vname} has {vlen:,}")
        data = self.buffer(view.get("buffer"), f"{vname}.buffer")
        if voff + vlen > len(data):
            raise self.error(vname, f"bytes {voff:,} to {voff + vlen:,} lie outside buffers[{view.get('buffer')}] "
                                    f"({len(data):,} bytes)")
        arr = np.ndarray((count, ncomp), dtype, buffer=data, offset=voff + aoff, strides=(stride, dtype.itemsize))
        out = np.array(arr, dtype=dtype.newbyteorder("="))
        if acc.get("normalized") and dtype.kind in "iu":
            out = np.maximum(out / float(np.iinfo(dtype).max), -1.0).astype(np.float32)
        return out


# --------------------------------------------------------------------------- container
def _load(path: Path) -> _Doc:
    size = path.stat().st_size
    with open(path, "rb") as f:
        magic = f.read(4)
        if magic == b"glTF":
            text, glb_bin = _glb_chunks(path, f, size)
        elif path.suffix.lower() == ".glb":
            raise InputError(f"{path}: not a GLB file (it must start with 'glTF')")
        else:
            check_budget(path, 4 * size, detail=f"a {size:,}-byte glTF JSON")
            text, glb_bin = read_exactly(f, 0, size, path, "the glTF JSON"), None
    try:
        doc = json.loads(text.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: the glTF JSON is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: the glTF JSON is invalid at line {exc.lineno} column {exc.colno}: "
                         f"{exc.msg}") from None
    except RecursionError:
        raise InputError(f"{path}: the glTF JSON is nested too deeply") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: the glTF JSON must be an object")
    version = str((doc.get("asset") or {}).get("version", "")) if isinstance(doc.get("asset"), dict) else ""
    if not version.startswith("2"):
        raise InputError(f"{path}: asset.version is {version or 'missing'!r}; only glTF 2.0 is supported")
    required = doc.get("extensionsRequired", [])
    for ext in required if isinstance(required, list) else []:
        if ext in _COMPRESSION:
            raise UnsupportedFormatError(f"{path}: the geometry is compressed ({ext}), which twin3d does not read; "
                                         f"export it without compression")
    return _Doc(path, doc, glb_bin)


def _glb_chunks(path: Path, f, size: int) -> tuple[bytes, tuple[int, int] | None]:
    head = read_exactly(f, 0, 12, path, "the GLB header")
    _, version, length = struct.unpack("<4sII", head)
    if version != 2:
        raise InputError(f"{path}: GLB version {version}; only version 2 is supported")
    if length > size or length < 20:
        raise InputError(f"{path}: the GLB header gives a length of {length:,} bytes but the file has {size:,}; "
                         f"the file is truncated or corrupt")
    offset, text, glb_bin = 12, None, None
    while offset + 8 <= length:
        clen, ctype = struct.unpack("<II", read_exactly(f, offset, 8, path, "a GLB chunk header"))
        if offset + 8 + clen > length:
            raise InputError(f"{path}: GLB chunk at byte {offset:,} claims {clen:,} bytes, past the end of the "
                             f"file ({length:,} bytes); the file is truncated or corrupt")
        if text is None:
            if ctype != _JSON_CHUNK:
                raise InputError(f"{path}: the first GLB chunk must be JSON")
            check_budget(path, 4 * clen, detail=f"a {clen:,}-byte GLB JSON chunk")
            text = read_exactly(f, offset + 8, clen, path, "the GLB JSON chunk")
        elif ctype == _BIN_CHUNK and glb_bin is None:
            glb_bin = (offset + 8, clen)
        offset += 8 + clen
    if text is None:
        raise InputError(f"{path}: the GLB has no JSON chunk")
    return text, glb_bin


# --------------------------------------------------------------------------- scene graph
def _local_matrix(g: _Doc, node: dict, where: str) -> np.ndarray:
    def numbers(key, n, default):
        value = node.get(key, default)
        try:
            ok = isinstance(value, list) and len(value) == n and all(type(v) in (int, float) for v in value)
            arr = np.asarray(value, dtype=np.float64) if ok else None
        except (TypeError, ValueError):
            arr = None
        if arr is None or not np.isfinite(arr).all():
            raise g.error(f"{where}.{key}", f"expected {n} finite numbers, got {value!r}")
        return arr

    if "matrix" in node:
        return numbers("matrix", 16, None).reshape(4, 4).T  # column-major
    t = numbers("translation", 3, [0.0, 0.0, 0.0])
    x, y, z, w = numbers("rotation", 4, [0.0, 0.0, 0.0, 1.0])
    s = numbers("scale", 3, [1.0, 1.0, 1.0])
    r = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                  [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                  [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    m = np.eye(4)
    m[:3, :3] = r * s
    m[:3, 3] = t
    return m


def _mesh_instances(g: _Doc) -> list[tuple[int, np.ndarray]]:
    """(mesh index, world matrix) of every mesh instance of the default scene, in traversal order."""
    nodes = g.items("nodes")
    scenes = g.items("scenes")
    if scenes:
        index = g.doc.get("scene", 0)
        roots = g.item("scenes", index, "scene").get("nodes", [])
    else:  # no scene: every node that is no one's child
        children = {c for n in nodes if isinstance(n, dict) for c in n.get("children", []) if type(c) is int}
        roots = [i for i in range(len(nodes)) if i not in children]
    if not isinstance(roots, list):
        raise g.error("scenes", "nodes must be a list")
    out = []
    visited = 0
    stack = [(r, np.eye(4), ()) for r in reversed(roots)]
    while stack:
        index, parent, ancestors = stack.pop()
        where = f"nodes[{index}]"
        node = g.item("nodes", index, where if ancestors else "scene nodes")
        if index in ancestors:
            raise g.error(where, "is its own ancestor (a cycle in the node tree)")
        visited += 1
        if visited > MAX_NODE_INSTANCES:
            raise g.error("nodes", f"the node tree expands to more than {MAX_NODE_INSTANCES:,} node instances")
        world = parent @ _local_matrix(g, node, where)
        if "mesh" in node:
            g.item("meshes", node["mesh"], f"{where}.mesh")
            out.append((node["mesh"], world))
        children = node.get("children", [])
        if not isinstance(children, list):
            raise g.error(f"{where}.children", "must be a list")
        for child in reversed(children):
            stack.append((child, world, ancestors + (index,)))
    return out


# --------------------------------------------------------------------------- primitives
def _triangles(g: _Doc, prim: dict, n_vertices: int, where: str) -> np.ndarray | None:
    mode = prim.get("mode", 4)
    if mode not in range(7):
        raise g.error(f"{where}.mode", f"{mode!r} is not a glTF primitive mode (0-6)")
    if mode not in _TRIANGLE_MODES:
        return None
    if "indices" in prim:
        idx = g.accessor(prim["indices"], f"{where}.indices")
        if idx.shape[1] != 1 or idx.dtype.kind != "u":
            raise g.error(f"{where}.indices", "must be an accessor of unsigned integer scalars")
        idx = idx[:, 0].astype(np.int64)
        if len(idx) and idx.max() >= n_vertices:
            bad = int(np.argmax(idx >= n_vertices))
            raise g.error(f"{where}.indices", f"index {bad} is {int(idx[bad])}, but POSITION has {n_vertices:,} "
                                              f"vertices (valid 0 to {n_vertices - 1:,})")
    else:
        idx = np.arange(n_vertices, dtype=np.int64)
    if mode == 4:
        return idx[: len(idx) // 3 * 3].reshape(-1, 3)
    if len(idx) < 3:
        return np.zeros((0, 3), np.int64)
    k = np.arange(len(idx) - 2)
    if mode == 5:  # strip: every other triangle flips to keep the winding
        tri = np.stack([idx[k], idx[k + 1], idx[k + 2]], axis=1)
        odd = k % 2 == 1
        tri[odd] = tri[odd][:, [1, 0, 2]]
        return tri
    return np.stack([np.full(len(k), idx[0]), idx[k + 1], idx[k + 2]], axis=1)  # fan


def _linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def _base_color(g: _Doc, prim: dict, where: str) -> np.ndarray:
    if "material" not in prim:
        return np.ones(4)
    mat = g.item("materials", prim["material"], f"{where}.material")
    pbr = mat.get("pbrMetallicRoughness", {})
    factor = pbr.get("baseColorFactor", [1.0, 1.0, 1.0, 1.0]) if isinstance(pbr, dict) else None
    ok = isinstance(factor, list) and len(factor) == 4 and all(type(v) in (int, float) for v in factor)
    arr = np.asarray(factor, dtype=np.float64) if ok else None
    if arr is None or not np.isfinite(arr).all():
        raise g.error(f"materials[{prim['material']}].baseColorFactor", f"expected 4 numbers, got {factor!r}")
    return np.clip(arr, 0.0, 1.0)


def read_gltf(path: str | Path):
    """Read a ``.gltf`` or ``.glb`` file into one triangle :class:`pyvista.PolyData` (world space)."""
    path = Path(path)
    g = _load(path)
    instances = _mesh_instances(g)
    pieces = []  # (points float32, triangles local, linear rgba or None, base rgba)
    cache: dict[tuple, tuple] = {}
    total_triangles = 0
    any_color = False
    for mesh_index, world in instances:
        mesh = g.item("meshes", mesh_index, "nodes[].mesh")
        prims = mesh.get("primitives", [])
        if not isinstance(prims, list):
            raise g.error(f"meshes[{mesh_index}].primitives", "must be a list")
        for p, prim in enumerate(prims):
            where = f"meshes[{mesh_index}].primitives[{p}]"
            if not isinstance(prim, dict) or not isinstance(prim.get("attributes"), dict):
                raise g.error(where, "must be an object with attributes")
            key = (mesh_index, p)
            if key not in cache:
                cache[key] = _primitive(g, prim, where)
            local = cache[key]
            if local is None:
                continue
            points, tri, rgba, base = local
            total_triangles += len(tri)
            check_budget(path, total_triangles * 3 * (12 + 8 + 16),
                         detail=f"{total_triangles:,} triangles in {len(instances):,} mesh instances")
            any_color |= rgba is not None
            pieces.append((points, tri, rgba, base, world))
    if not pieces:
        raise InputError(f"{path}: contains no surface geometry (no triangle primitives in the scene)")
    points_out, tris_out, colors = [], [], []
    offset = 0
    for points, tri, rgba, base, world in pieces:
        moved = points if np.array_equal(world, np.eye(4)) else points @ world[:3, :3].T + world[:3, 3]
        points_out.append(moved.astype(np.float32))
        tris_out.append(tri + offset)
        offset += len(points)
        if any_color:
            colors.append(rgba * base if rgba is not None else np.broadcast_to(base, (len(points), 4)))
    points = np.concatenate(points_out)
    triangles = np.concatenate(tris_out)
    point_data = {}
    if any_color:
        rgba = np.concatenate(colors)
        point_data["displayColor"] = _linear_to_srgb(rgba[:, :3]).astype(np.float32)
        if np.any(rgba[:, 3] < 1):
            point_data["displayOpacity"] = np.clip(rgba[:, 3], 0, 1).astype(np.float32)
    return triangle_mesh(path, points, triangles, point_data=point_data, checked_indices=True)


def _primitive(g: _Doc, prim: dict, where: str):
    """(used points float64, triangles into them, linear RGBA or None, base colour RGBA) or None."""
    if "POSITION" not in prim["attributes"]:
        return None
    positions = g.accessor(prim["attributes"]["POSITION"], f"{where}.attributes.POSITION")
    if positions.shape[1] != 3:
        raise g.error(f"{where}.attributes.POSITION", "must be a VEC3 accessor")
    tri = _triangles(g, prim, len(positions), where)
    if tri is None or len(tri) == 0:
        return None
    mark = np.zeros(len(positions), bool)
    mark[tri] = True
    if mark.all():  # every vertex used (the usual case): no compaction
        used, local = np.arange(len(positions)), tri
    else:  # keep the used vertices in their order (as VTK does), renumbered
        used = np.flatnonzero(mark)
        local = (np.cumsum(mark) - 1)[tri]
    points = positions[used].astype(np.float64)
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        i = int(used[np.argmax(bad)])
        raise g.error(f"{where}.attributes.POSITION", f"vertex {i} has a non-finite coordinate; every coordinate "
                                                       f"must be a finite number")
    rgba = None
    if "COLOR_0" in prim["attributes"]:
        col = g.accessor(prim["attributes"]["COLOR_0"], f"{where}.attributes.COLOR_0")
        if len(col) != len(positions) or col.shape[1] not in (3, 4):
            raise g.error(f"{where}.attributes.COLOR_0", f"must be VEC3 or VEC4 with {len(positions):,} elements")
        col = col[used].astype(np.float64)
        if col.shape[1] == 3:
            col = np.concatenate([col, np.ones((len(col), 1))], axis=1)
        rgba = np.nan_to_num(np.clip(col, 0.0, 1.0))
    return points, local.reshape(-1, 3), rgba, _base_color(g, prim, where)
