"""glTF 2.0 writer (``.glb`` binary, ``.gltf`` JSON + ``.bin``).

What a file holds:

* **Node tree.** One root node named after the scene carries the axis change (a Z-up
  scene is rotated -90 degrees about X into glTF's +Y up; a Y-up scene has none); below
  it one node per asset, named after the asset, with the asset's own transform as
  translation/rotation/scale — groups are parent nodes, as in the scene. A transform
  that is not translation-rotation-scale (a sheared matrix read from another tool) is
  baked into the geometry below it instead, so every node is valid glTF.
* **Metres.** Vertex positions and node translations are converted to metres.
* **Meshes.** One glTF mesh per asset, named after its path (``line/cnc_mill_01``), with
  ``POSITION``, ``NORMAL`` (split at sharp edges) and, when it has them, ``COLOR_0``
  and ``TEXCOORD_0``. Assets that share a mesh (repeated equipment) share its
  accessors, so the geometry is stored once.
* **Colours** of the chosen frame (:func:`twin3d.colors.asset_colors`): a field
  colouring an asset per vertex gives ``COLOR_0``; otherwise the material's
  ``baseColorFactor`` — one primitive per part when parts have their own colours.
  Metallic and roughness come from the material; an opacity below 1 gives
  ``alphaMode: BLEND``. glTF colours are linear, so twin3d's display (sRGB) colours are
  converted (:func:`twin3d.io.flatten.srgb_to_linear`). Materials are double-sided,
  as the VTK renderer draws them.
* **Extras.** Each asset node's ``extras.twin3d`` holds its path, type, semantic label
  and the value of the colouring field at the frame.

``.gltf`` writes the JSON and its buffer as ``<name>.bin`` beside it (referenced by a
relative URI); ``.glb`` holds both in one file. Every file passes the Khronos
glTF-Validator with no errors (tested). The JSON is written directly with :mod:`json`
(a glTF library's object model would cost seconds for 10,000 assets); the tests read
the files back with pygltflib and trimesh.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import warnings
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ..errors import InputError
from ..scene import Asset, Scene
from .flatten import FlatAsset, Surface, conversion, flatten, srgb_to_linear, transform_surface
from .writers import atomic_outputs, split_folder, split_names

__all__ = ["write_gltf", "gltf_document", "trs_from_matrix"]

_ARRAY_BUFFER = 34962
_ELEMENT_ARRAY_BUFFER = 34963
_FLOAT = 5126
_UNSIGNED_SHORT = 5123
_UNSIGNED_INT = 5125
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def _quaternion(r: np.ndarray) -> np.ndarray:
    """Unit quaternion ``(x, y, z, w)`` of a rotation matrix."""
    m = r
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = np.sqrt(tr + 1.0) * 2
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] > m[2, 2]:
        s = np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
    q = np.asarray(q, dtype=np.float64)
    q /= np.linalg.norm(q)
    return q if q[3] >= 0 else -q


def trs_from_matrix(matrix: np.ndarray, tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(translation, rotation xyzw, scale)`` of a 4x4 matrix ``T @ R @ S``, or None (shear, projection)."""
    m = np.asarray(matrix, dtype=np.float64)
    if np.abs(m[3] - (0, 0, 0, 1)).max() > tol:
        return None
    a = m[:3, :3]
    s = np.sqrt((a * a).sum(axis=0))
    if s.min() < 1e-12:
        return None
    r = a / s
    if np.linalg.det(r) < 0:
        s[0], r[:, 0] = -s[0], -r[:, 0]
    if np.abs(r.T @ r - np.eye(3)).max() > max(tol, 1e-5):
        return None
    return m[:3, 3].copy(), _quaternion(r), s


def _srgb_to_linear(c: float) -> float:
    """One display (sRGB) value -> linear (the scalar form of :func:`~twin3d.io.flatten.srgb_to_linear`)."""
    c = min(max(c, 0.0), 1.0)
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _euler_xyz_quaternion(degrees) -> tuple[float, float, float, float]:
    """Quaternion ``(x, y, z, w)`` of twin3d's rotation (X, then Y, then Z: ``Rz @ Ry @ Rx``)."""
    hx, hy, hz = (math.radians(float(v)) / 2 for v in degrees)
    cx, sx, cy, sy, cz, sz = math.cos(hx), math.sin(hx), math.cos(hy), math.sin(hy), math.cos(hz), math.sin(hz)
    # q = qz * qy * qx
    w = cz * cy * cx + sz * sy * sx
    x = cz * cy * sx - sz * sy * cx
    y = cz * sy * cx + sz * cy * sx
    z = sz * cy * cx - cz * sy * sx
    n = math.sqrt(w * w + x * x + y * y + z * z)
    q = (x / n, y / n, z / n, w / n)
    return q if q[3] >= 0 else tuple(-v for v in q)


def _set_trs(node: dict, t, r, s) -> None:
    """Write non-default translation / rotation / scale into a glTF node."""
    if any(float(v) != 0.0 for v in t):
        node["translation"] = [float(v) for v in t]
    if max(abs(float(a) - b) for a, b in zip(r, (0.0, 0.0, 0.0, 1.0))) > 1e-12:
        node["rotation"] = [float(v) for v in r]
    if max(abs(float(v) - 1.0) for v in s) > 1e-12:
        node["scale"] = [float(v) for v in s]


class _Builder:
    """Collects the glTF JSON (plain dicts) and one binary buffer."""

    def __init__(self, scene: Scene, *, frame: int, color_by: str) -> None:
        self.scene = scene
        self.frame = frame
        self.color_by = color_by
        self.doc: dict = {"asset": {"version": "2.0", "generator": "twin3d"}, "scene": 0, "scenes": [], "nodes": [],
                          "meshes": [], "materials": [], "textures": [], "images": [], "samplers": [],
                          "accessors": [], "bufferViews": [], "buffers": []}
        self.blob = bytearray()
        self._accessors: dict[object, int] = {}
        self._materials: dict[tuple, int] = {}
        self._images: dict[str, int | None] = {}

    def _add(self, kind: str, item: dict) -> int:
        self.doc[kind].append(item)
        return len(self.doc[kind]) - 1

    # -- buffer
    def _view(self, data: bytes, target: int | None) -> int:
        while len(self.blob) % 4:
            self.blob.append(0)
        view = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.blob.extend(data)
        return self._add("bufferViews", view)

    def accessor(self, key, array: np.ndarray, kind: str, *, indices: bool = False, bounds: bool = False) -> int:
        if key in self._accessors:
            return self._accessors[key]
        if indices:
            flat = np.asarray(array).reshape(-1)
            big = flat.size and int(flat.max()) >= 65535
            data = flat.astype(np.uint32 if big else np.uint16)
            acc = {"bufferView": self._view(data.tobytes(), _ELEMENT_ARRAY_BUFFER),
                   "componentType": _UNSIGNED_INT if big else _UNSIGNED_SHORT, "count": int(data.size),
                   "type": "SCALAR"}
        else:
            data = np.ascontiguousarray(array, dtype=np.float32)
            acc = {"bufferView": self._view(data.tobytes(), _ARRAY_BUFFER), "componentType": _FLOAT,
                   "count": int(len(data)), "type": kind}
            if bounds:
                acc["min"] = [float(v) for v in data.min(axis=0)]
                acc["max"] = [float(v) for v in data.max(axis=0)]
        self._accessors[key] = self._add("accessors", acc)
        return self._accessors[key]

    # -- materials
    def image(self, path: str) -> int | None:
        if path in self._images:
            return self._images[path]
        src = Path(path)
        index = None
        if not src.is_file():
            warnings.warn(f"texture {src} not found; the material is written without it", stacklevel=3)
        else:
            mime = _IMAGE_TYPES.get(src.suffix.lower())
            if mime is None:  # convert other image formats to PNG
                import io

                import imageio.v3 as iio

                buf = io.BytesIO()
                iio.imwrite(buf, iio.imread(src), extension=".png")
                data, mime = buf.getvalue(), "image/png"
            else:
                data = src.read_bytes()
            image = self._add("images", {"bufferView": self._view(data, None), "mimeType": mime, "name": src.name})
            if not self.doc["samplers"]:
                self._add("samplers", {})
            index = self._add("textures", {"sampler": 0, "source": image})
        self._images[path] = index
        return index

    def material(self, name: str, rgba, flat: FlatAsset, blend: bool, texture: int | None) -> int:
        m = flat.material
        lin = [_srgb_to_linear(float(v)) for v in rgba[:3]] + [min(max(float(rgba[3]), 0.0), 1.0)]
        key = (tuple(round(v, 6) for v in lin), m.metallic, m.roughness, blend, texture)
        if key in self._materials:
            return self._materials[key]
        pbr = {"baseColorFactor": lin, "metallicFactor": float(m.metallic), "roughnessFactor": float(m.roughness)}
        if texture is not None:
            pbr["baseColorTexture"] = {"index": texture, "texCoord": 0}
        mat = {"name": name, "pbrMetallicRoughness": pbr, "doubleSided": True}
        if blend:
            mat["alphaMode"] = "BLEND"
        self._materials[key] = self._add("materials", mat)
        return self._materials[key]

    # -- meshes
    def mesh(self, flat: FlatAsset, surface: Surface) -> int:
        attrs = {
            "POSITION": self.accessor(("p", id(surface.points)), surface.points, "VEC3", bounds=True),
            "NORMAL": self.accessor(("n", id(surface.normals)), surface.normals, "VEC3"),
        }
        vertex_alpha = False
        if surface.rgba is not None:
            vertex_alpha = bool((surface.rgba[:, 3] < 1.0).any())
            lin = np.empty((surface.n_points, 4 if vertex_alpha else 3), np.float32)
            lin[:, :3] = srgb_to_linear(surface.rgba[:, :3])
            if vertex_alpha:
                lin[:, 3] = np.clip(surface.rgba[:, 3], 0, 1)
            attrs["COLOR_0"] = self.accessor(("c", id(surface.rgba)), lin, "VEC4" if vertex_alpha else "VEC3")
        texture = None
        if flat.texture is not None:
            texture = self.image(flat.texture)
            if texture is not None:
                uv = np.array(surface.st, dtype=np.float32)
                uv[:, 1] = 1.0 - uv[:, 1]  # glTF's UV origin is the image's top-left corner
                attrs["TEXCOORD_0"] = self.accessor(("t", id(surface.st)), uv, "VEC2")
        primitives = []
        for g in surface.groups:
            faces = np.ascontiguousarray(g.faces)
            whole = len(faces) == surface.n_faces and (len(faces) == 0 or (faces[0] == 0 and faces[-1] == len(faces) - 1))
            digest = "all" if whole else hashlib.blake2b(faces.tobytes(), digest_size=16).hexdigest()
            idx = self.accessor(("i", id(surface.faces), digest), surface.faces[faces], "SCALAR", indices=True)
            name = flat.path if not g.name else f"{flat.path}/{g.name}"
            blend = vertex_alpha or g.rgba[3] < 1.0
            rgba = g.rgba if texture is None else (1.0, 1.0, 1.0, g.rgba[3])  # the texture replaces the colour
            primitives.append({"attributes": attrs, "indices": idx,
                               "material": self.material(name, rgba, flat, blend, texture)})
        return self._add("meshes", {"name": flat.path, "primitives": primitives})

    # -- nodes
    def node(self, name: str, matrix: np.ndarray | None, extras: dict | None = None) -> tuple[int, bool]:
        """A node with ``matrix`` as TRS; returns (index, True) or (index, False) if it must be baked."""
        node: dict = {"name": name}
        if extras:
            node["extras"] = extras
        ok = True
        if matrix is not None and np.abs(matrix - np.eye(4)).max() > 1e-12:
            trs = trs_from_matrix(matrix)
            if trs is None:
                ok = False
            else:
                _set_trs(node, *trs)
        return self._add("nodes", node), ok

    def extras(self, path: str, asset: Asset) -> dict:
        info = {"path": path, "type": asset.asset_type}
        if asset.semantic_label:
            info["label"] = asset.semantic_label
        f = asset.fields.get(self.color_by)
        if f is not None and f.association == "asset":
            v = float(f.frame(self.frame))
            if np.isfinite(v):
                info[self.color_by] = v
        return {"twin3d": info}

    def add_asset(self, path: str, asset: Asset, carry: np.ndarray | None,
                  flats: dict[str, FlatAsset]) -> int | None:
        """Node of ``asset`` and its subtree (None when nothing below it is visible).

        ``carry`` is a transform pushed down from a parent that is not TRS (None: identity).
        """
        extras = self.extras(path, asset) if asset.mesh is not None else None
        tr = asset.transform
        if carry is None and tr.matrix_override is None:
            # translate / Euler XYZ / scale: the node's TRS directly
            m = None
            index, ok = self.node(asset.name, None, extras)
            _set_trs(self.doc["nodes"][index], tuple(v * self.scene.meters_per_unit for v in tr.translate),
                     _euler_xyz_quaternion(tr.rotate), tr.scale)
        else:
            m = self.local(asset) if carry is None else carry @ self.local(asset)
            index, ok = self.node(asset.name, m, extras)
        below = None if ok else m
        node = self.doc["nodes"][index]
        flat = flats.get(path)
        if flat is not None:
            node["mesh"] = self.mesh(flat, flat.surface if ok else transform_surface(flat.surface, m))
        children = []
        for child in asset.children:
            if child.visible:
                c = self.add_asset(f"{path}/{child.name}", child, below, flats)
                if c is not None:
                    children.append(c)
        if children:
            node["children"] = children
        if flat is None and not children:
            return None  # a group with nothing visible: dropped in finish()
        return index

    def local(self, asset: Asset) -> np.ndarray:
        """The asset's transform with its translation in metres."""
        if asset.transform.is_identity:
            return np.eye(4)
        out = asset.transform.matrix
        out[:3, 3] *= self.scene.meters_per_unit
        return out

    def finish(self, roots: list[int]) -> None:
        root, _ = self.node(self.scene.name, conversion(self.scene, units=self.scene.units, up="Y"))
        nodes = self.doc["nodes"]
        if roots:
            nodes[root]["children"] = roots
        # keep only nodes reachable from the root (empty groups are dropped), renumbered
        used, stack = set(), [root]
        while stack:
            n = stack.pop()
            used.add(n)
            stack.extend(nodes[n].get("children", []))
        order = sorted(used)
        remap = {old: new for new, old in enumerate(order)}
        self.doc["nodes"] = [nodes[i] for i in order]
        for node in self.doc["nodes"]:
            if "children" in node:
                node["children"] = [remap[c] for c in node["children"]]
        self.doc["scenes"] = [{"name": self.scene.name, "nodes": [remap[root]]}]
        while len(self.blob) % 4:
            self.blob.append(0)
        self.doc["buffers"] = [{"byteLength": len(self.blob)}]

    def json_bytes(self, uri: str | None) -> bytes:
        doc = {k: v for k, v in self.doc.items() if not (isinstance(v, list) and not v)}
        if uri is not None:
            doc["buffers"] = [dict(self.doc["buffers"][0], uri=uri)]
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("utf-8")


def gltf_document(scene: Scene, *, frame: int, color_by: str, flats: list[FlatAsset] | None = None,
                  only: FlatAsset | None = None):
    """The glTF JSON (a dict, ``builder.doc``) and its binary buffer (``builder.blob``).

    ``flats`` are the scene's :func:`~twin3d.io.flatten.flatten` assets in metres (computed
    when not given); ``only`` puts just that one asset under the root, at its world position.
    """
    if flats is None:
        flats = flatten(scene, frame=frame, color_by=color_by, units="m", up=scene.up_axis)
    if not flats:
        raise InputError(f"scene {scene.name!r} has no visible meshes to write to glTF")
    b = _Builder(scene, frame=frame, color_by=color_by)
    roots = []
    if only is not None:
        world = scene.world_matrix(only.path)
        world[:3, 3] *= scene.meters_per_unit
        index, ok = b.node(only.name, world, b.extras(only.path, only.asset))
        b.doc["nodes"][index]["mesh"] = b.mesh(only, only.surface if ok else transform_surface(only.surface, world))
        roots.append(index)
    else:
        by_path = {f.path: f for f in flats}
        for child in scene.root.children:
            if child.visible:
                r = b.add_asset(child.name, child, None, by_path)
                if r is not None:
                    roots.append(r)
    b.finish(roots)
    return b


def _glb(json_data: bytes, blob: bytes) -> bytes:
    json_data = json_data + b" " * ((4 - len(json_data) % 4) % 4)
    blob = blob + b"\0" * ((4 - len(blob) % 4) % 4)
    chunks = struct.pack("<I4s", len(json_data), b"JSON") + json_data
    if blob:
        chunks += struct.pack("<I4s", len(blob), b"BIN\0") + blob
    return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks


def write_gltf(scene: Scene, path: Path, *, frame: int, split: bool = False, color_by: str = "material",
               units: str | None = None) -> list[Path]:
    """Write ``.glb`` or ``.gltf`` (+ ``.bin``); returns the files written (see the module docstring)."""
    path = Path(path)
    ext = path.suffix.lower()
    if units not in (None, "m"):
        raise InputError(f"{path}: glTF is always in metres; units= is for .obj, .ply, .stl")
    flats = flatten(scene, frame=frame, color_by=color_by, units="m", up=scene.up_axis)
    if not flats:
        raise InputError(f"{path}: scene {scene.name!r} has no visible meshes to write")
    if split:
        folder = split_folder(path)
        targets = [(folder / f"{name}{ext}", f) for name, f in zip(split_names([f.path for f in flats]), flats)]
    else:
        targets = [(path, None)]
    files: list[tuple[Path, bytes]] = []
    for target, only in targets:
        b = gltf_document(scene, frame=frame, color_by=color_by, flats=flats, only=only)
        if ext == ".glb":
            files.append((target, _glb(b.json_bytes(None), bytes(b.blob))))
        else:
            bin_path = target.with_suffix(".bin")
            files.append((target, b.json_bytes(quote(bin_path.name))))  # a URI: spaces etc. escaped
            files.append((bin_path, bytes(b.blob)))
    with atomic_outputs([p for p, _ in files]) as temps:
        for tmp, (_, data) in zip(temps, files):
            tmp.write_bytes(data)
    return [p for p, _ in files]
