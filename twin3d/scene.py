"""The scene model: a tree of named assets with geometry, transforms and fields.

A :class:`Scene` knows nothing of USD or VTK; backends in :mod:`twin3d.usd` and
:mod:`twin3d.render` translate it. Geometry is a triangle :class:`pyvista.PolyData`
in the asset's local coordinates (scene units); parts of an asset are marked by the
integer cell array ``"part_id"`` indexing :attr:`Asset.parts`.

Time: a scene has one timeline (:attr:`Scene.times`, seconds of *data* time). Every
animated field and sensor series is sampled on it, one value row per frame. Playback
speed is separate (:attr:`Scene.fps`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Sequence

import numpy as np
import pyvista as pv

from .errors import InputError

__all__ = ["Scene", "Asset", "Field", "Part", "Transform", "Material", "UNITS"]

#: Length units understood by the scene, in metres per unit.
UNITS: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "um": 1e-6, "in": 0.0254, "ft": 0.3048}

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def valid_name(name: str) -> str:
    """Return ``name`` if it is a valid asset/field identifier, else raise.

    Names must start with a letter or ``_`` and contain only letters, digits and
    ``_`` (they become USD prim names and primvar names).
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InputError(
            f"invalid name {name!r}: use letters, digits and '_' and start with a letter or '_'"
        )
    return name


def make_name(text: str) -> str:
    """Turn arbitrary text (an organ name, a file stem) into a valid name."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", str(text)).strip("_") or "asset"
    if not (name[0].isalpha() or name[0] == "_"):
        name = "_" + name
    return name


# --------------------------------------------------------------------------- transform
@dataclass
class Transform:
    """Translate / rotate (Euler XYZ, degrees, applied X then Y then Z) / scale.

    The composed matrix is ``T @ R @ S`` (scale first, then rotate, then translate),
    acting on column vectors, the same order as USD's ``translate, rotateXYZ, scale``
    op stack. A transform read from a foreign file may carry a raw ``matrix`` instead.
    """

    translate: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotate: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    matrix_override: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.translate = tuple(float(v) for v in np.broadcast_to(self.translate, 3))
        self.rotate = tuple(float(v) for v in np.broadcast_to(self.rotate, 3))
        self.scale = tuple(float(v) for v in np.broadcast_to(self.scale, 3))
        if self.matrix_override is not None:
            m = np.asarray(self.matrix_override, dtype=float)
            if m.shape != (4, 4):
                raise InputError(f"transform matrix must be 4x4, got shape {m.shape}")
            self.matrix_override = m

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> "Transform":
        """A transform given by a 4x4 matrix (column-vector convention)."""
        m = np.asarray(matrix, dtype=float)
        if np.allclose(m, np.eye(4)):
            return cls()
        return cls(matrix_override=m)

    @property
    def is_identity(self) -> bool:
        if self.matrix_override is None:
            return self.translate == (0.0, 0.0, 0.0) and self.rotate == (0.0, 0.0, 0.0) and self.scale == (1.0, 1.0, 1.0)
        return bool(np.allclose(self.matrix_override, np.eye(4)))

    @property
    def matrix(self) -> np.ndarray:
        """The 4x4 matrix (column vectors: ``p_parent = M @ p_local``)."""
        if self.matrix_override is not None:
            return self.matrix_override.copy()
        rx, ry, rz = np.radians(self.rotate)
        cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
        Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
        Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
        m = np.eye(4)
        m[:3, :3] = Rz @ Ry @ Rx @ np.diag(self.scale)
        m[:3, 3] = self.translate
        return m


# --------------------------------------------------------------------------- material
@dataclass
class Material:
    """A simple PBR material (UsdPreviewSurface subset).

    ``texture`` is an optional diffuse image file (PNG, JPEG...) mapped through the
    mesh's texture coordinates ``mesh.point_data["st"]`` (float32 (n, 2), USD's
    convention: origin at the image's lower-left corner); where it is drawn it replaces
    ``base_color``. Meshes may also carry explicit colours, ``point_data`` or
    ``cell_data["displayColor"]`` (float32 RGB in [0, 1], optionally ``displayOpacity``
    beside it); colours of a field (risk, temperature) take precedence when a field
    colours the scene.
    """

    name: str = "default"
    base_color: tuple[float, float, float] = (0.7, 0.7, 0.7)
    roughness: float = 0.5
    metallic: float = 0.0
    opacity: float = 1.0
    texture: str | None = None

    def __post_init__(self) -> None:
        c = np.asarray(self.base_color, dtype=float)
        if c.shape != (3,) or np.any(c < 0) or np.any(c > 1):
            raise InputError(f"material {self.name!r}: base_color must be 3 values in [0, 1], got {self.base_color!r}")
        self.base_color = tuple(float(v) for v in c)
        for attr in ("roughness", "metallic", "opacity"):
            v = float(getattr(self, attr))
            if not 0.0 <= v <= 1.0:
                raise InputError(f"material {self.name!r}: {attr} must be in [0, 1], got {v}")
            setattr(self, attr, v)
        if self.texture is not None:
            self.texture = str(self.texture)


@dataclass
class Part:
    """A named part of an asset's mesh (cells with ``part_id`` == its index)."""

    name: str
    color: tuple[float, float, float] | None = None


# --------------------------------------------------------------------------- fields
@dataclass
class Field:
    """A named quantity on an asset.

    Parameters
    ----------
    name
        Identifier (``risk``, ``temperature``, ...); becomes ``primvars:twin:<name>``.
    values
        ``association="asset"``: shape ``()`` static or ``(T,)`` animated.
        ``association="vertex"``: shape ``(n_points,)`` static or ``(T, n_points)``.
    association
        ``"asset"`` (one value per asset) or ``"vertex"`` (one per mesh point).
    times
        Frame times in seconds, shape ``(T,)``; ``None`` for a static field.
    unit
        Physical unit for legends (``"1"``, ``"degC"``, ``"K"``...).
    colormap, clim
        Preferred colormap name (see :mod:`twin3d.colors`) and value range.
    """

    name: str
    values: np.ndarray
    association: Literal["asset", "vertex"] = "vertex"
    times: np.ndarray | None = None
    unit: str = ""
    colormap: str | None = None
    clim: tuple[float, float] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        valid_name(self.name)
        if self.association not in ("asset", "vertex"):
            raise InputError(f"field {self.name!r}: association must be 'asset' or 'vertex', got {self.association!r}")
        self.values = np.asarray(self.values, dtype=np.float32 if self.association == "vertex" else np.float64)
        static_ndim = 0 if self.association == "asset" else 1
        if self.times is not None:
            times = np.asarray(self.times, dtype=np.float64)  # no copy when already float64
            self.times = times if times.ndim == 1 else times.reshape(-1)
            if self.values.ndim != static_ndim + 1 or self.values.shape[0] != self.times.shape[0]:
                raise InputError(
                    f"field {self.name!r}: animated {self.association} values must have shape "
                    f"({self.times.shape[0]},{' n_points' if static_ndim else ''}) to match times, got {self.values.shape}"
                )
            if self.times.size > 1 and np.any(np.diff(self.times) <= 0):
                raise InputError(f"field {self.name!r}: times must be strictly increasing")
        elif self.values.ndim != static_ndim:
            raise InputError(
                f"field {self.name!r}: static {self.association} values must have {static_ndim} dimension(s), "
                f"got shape {self.values.shape} (pass times=... for an animated field)"
            )
        if self.clim is not None:
            lo, hi = (float(v) for v in self.clim)
            if not hi > lo:
                raise InputError(f"field {self.name!r}: clim must be (low, high) with high > low, got {self.clim}")
            self.clim = (lo, hi)

    @property
    def animated(self) -> bool:
        return self.times is not None

    @property
    def n_frames(self) -> int:
        return 1 if self.times is None else int(self.times.shape[0])

    def frame(self, index: int) -> np.ndarray:
        """Values at frame ``index`` (a static field returns its values for any frame)."""
        if self.times is None:
            return self.values
        return self.values[int(np.clip(index, 0, self.n_frames - 1))]

    def value_range(self) -> tuple[float, float]:
        """``clim`` if set, else the finite min/max over all frames."""
        if self.clim is not None:
            return self.clim
        finite = self.values[np.isfinite(self.values)]
        if finite.size == 0:
            return (0.0, 1.0)
        lo, hi = float(finite.min()), float(finite.max())
        return (lo, hi if hi > lo else lo + 1.0)


# --------------------------------------------------------------------------- assets
@dataclass(eq=False)
class Asset:
    """A named node in the scene tree: a group (no mesh) or a piece of equipment/organ.

    Attributes
    ----------
    name
        Identifier unique among its siblings.
    mesh
        Triangle mesh in local coordinates (scene units), or ``None`` for a group.
    transform
        Placement relative to the parent.
    material
        Base color and PBR parameters.
    asset_type
        What it is (``"electric_motor"``, ``"organ"``, ``"group"``...).
    semantic_label
        Class label for semantics (``"liver"``, ``"pump"``).
    parts
        Named parts; cells of ``mesh`` carry ``part_id`` indexing this list.
    fields
        Named :class:`Field` objects (risk, temperature, volume...).
    sensors
        Sensor series as asset-associated :class:`Field` objects, keyed by name.
    metadata
        Free-form JSON-serialisable key/values (written as USD customData).
    """

    name: str
    mesh: pv.PolyData | None = None
    transform: Transform = field(default_factory=Transform)
    material: Material = field(default_factory=Material)
    asset_type: str = ""
    semantic_label: str = ""
    parts: list[Part] = field(default_factory=list)
    fields: dict[str, Field] = field(default_factory=dict)
    sensors: dict[str, Field] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    children: list["Asset"] = field(default_factory=list)
    visible: bool = True

    def __post_init__(self) -> None:
        valid_name(self.name)
        if self.mesh is not None:
            self.mesh = _as_triangles(self.mesh, self.name)
        if not self.asset_type:
            self.asset_type = "group" if self.mesh is None else "mesh"

    # -- tree
    @property
    def is_group(self) -> bool:
        return self.mesh is None

    def _index(self) -> dict[str, "Asset"]:
        idx = self.__dict__.get("_child_index")
        if idx is None or len(idx) != len(self.children) or any(
            idx.get(c.name) is not c for c in self.children[-1:]
        ):
            idx = {c.name: c for c in self.children}
            self.__dict__["_child_index"] = idx
        return idx

    def add(self, child: "Asset") -> "Asset":
        """Add a child asset; names must be unique among siblings. Returns the child."""
        idx = self._index()
        if child.name in idx:
            raise InputError(f"asset {self.name!r} already has a child named {child.name!r}")
        self.children.append(child)
        idx[child.name] = child
        return child

    def child(self, name: str) -> "Asset | None":
        """The direct child called ``name`` (None if there is none)."""
        found = self._index().get(name)
        if found is None or found.name != name:  # renamed since indexed
            self.__dict__.pop("_child_index", None)
            found = self._index().get(name)
        return found

    def walk(self, prefix: str = "") -> Iterator[tuple[str, "Asset"]]:
        """Depth-first ``(path, asset)`` pairs, path like ``line/motor_01``."""
        path = f"{prefix}/{self.name}" if prefix else self.name
        yield path, self
        for c in self.children:
            yield from c.walk(path)

    # -- fields
    @property
    def n_points(self) -> int:
        return 0 if self.mesh is None else int(self.mesh.n_points)

    def set_field(self, f: Field) -> Field:
        """Attach (or replace) a field, checking its size against the mesh."""
        if f.association == "vertex":
            if self.mesh is None:
                raise InputError(f"asset {self.name!r} is a group: it cannot carry the vertex field {f.name!r}")
            if f.values.shape[-1] != self.mesh.n_points:
                raise InputError(
                    f"vertex field {f.name!r} has {f.values.shape[-1]} values per frame but asset "
                    f"{self.name!r} has {self.mesh.n_points} vertices"
                )
        self.fields[f.name] = f
        return f

    def set_sensor(self, name: str, values: Sequence[float] | np.ndarray, times: np.ndarray, unit: str = "") -> Field:
        """Attach a sensor series (one value per frame)."""
        f = Field(name, np.asarray(values, dtype=float), association="asset", times=times, unit=unit)
        self.sensors[name] = f
        return f

    def part_index(self, name: str) -> int:
        for i, p in enumerate(self.parts):
            if p.name == name:
                return i
        raise InputError(f"asset {self.name!r} has no part {name!r}; parts: {[p.name for p in self.parts]}")

    def part_point_mask(self, name: str) -> np.ndarray:
        """Boolean mask of mesh points belonging to part ``name``."""
        if self.mesh is None:
            raise InputError(f"asset {self.name!r} has no mesh")
        pid = self.part_index(name)
        cells = np.asarray(self.mesh.cell_data["part_id"]) == pid
        faces = self.mesh.regular_faces[cells]
        mask = np.zeros(self.mesh.n_points, dtype=bool)
        mask[faces.ravel()] = True
        return mask

    def face_colors(self) -> np.ndarray | None:
        """Per-face RGB from part colors (falls back to the material color), or None."""
        if self.mesh is None or not self.parts or "part_id" not in self.mesh.cell_data:
            return None
        table = np.array([p.color if p.color is not None else self.material.base_color for p in self.parts], dtype=float)
        return table[np.asarray(self.mesh.cell_data["part_id"], dtype=int)]


def _as_triangles(mesh: pv.DataSet, name: str) -> pv.PolyData:
    if not isinstance(mesh, pv.PolyData):
        try:
            mesh = mesh.extract_surface(algorithm="dataset_surface")
        except TypeError:
            mesh = mesh.extract_surface()
    if mesh.n_cells and not mesh.is_all_triangles:
        part = mesh.cell_data.get("part_id")
        mesh = mesh.triangulate()
        if part is not None and "part_id" not in mesh.cell_data:
            raise InputError(f"asset {name!r}: lost part ids while triangulating")
    return mesh


# --------------------------------------------------------------------------- scene
@dataclass(eq=False)
class Scene:
    """A digital-twin scene: a root group of assets plus units, axis and timeline.

    Parameters
    ----------
    name
        Scene name (becomes the USD default prim's documentation).
    units
        Length unit of all coordinates (``"m"`` for factories, ``"mm"`` for anatomy).
    up_axis
        ``"Z"`` (default) or ``"Y"``.
    fps
        Playback frames per second for animations.
    """

    name: str = "scene"
    units: str = "m"
    up_axis: Literal["Y", "Z"] = "Z"
    fps: float = 10.0
    root: Asset = field(default_factory=lambda: Asset("World"))
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.units not in UNITS:
            raise InputError(f"unknown units {self.units!r}; valid: {sorted(UNITS)}")
        if self.up_axis not in ("Y", "Z"):
            raise InputError(f"up_axis must be 'Y' or 'Z', got {self.up_axis!r}")
        if not self.fps > 0:
            raise InputError(f"fps must be positive, got {self.fps}")

    @property
    def meters_per_unit(self) -> float:
        return UNITS[self.units]

    def add(self, asset: Asset, parent: str | Asset | None = None) -> Asset:
        """Add ``asset`` under ``parent`` (a path like ``"line"``, an Asset, or the root)."""
        if parent is None:
            node = self.root
        elif isinstance(parent, Asset):
            node = parent
        else:
            node = self.get(parent)
        return node.add(asset)

    def group(self, name: str, parent: str | Asset | None = None) -> Asset:
        """Get or create a group ``name`` under ``parent``."""
        node = self.root if parent is None else (parent if isinstance(parent, Asset) else self.get(parent))
        for c in node.children:
            if c.name == name:
                return c
        return node.add(Asset(name, asset_type="group"))

    def walk(self) -> Iterator[tuple[str, Asset]]:
        """``(path, asset)`` for every asset below the root (paths without ``World/``)."""
        for c in self.root.children:
            yield from c.walk()

    def assets(self, *, with_mesh: bool = True) -> list[Asset]:
        """All assets (by default only those with a mesh), depth first."""
        return [a for _, a in self.walk() if (a.mesh is not None or not with_mesh)]

    def get(self, path_or_name: str) -> Asset:
        """An asset by path (``line/motor_01``) or by unique name (``motor_01``)."""
        hits = []
        for path, a in self.walk():
            if path == path_or_name:
                return a
            if a.name == path_or_name:
                hits.append(a)
        if len(hits) == 1:
            return hits[0]
        if not hits:
            names = [p for p, _ in self.walk()]
            shown = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
            raise KeyError(f"no asset {path_or_name!r} in scene {self.name!r}; assets: {shown}")
        raise KeyError(f"asset name {path_or_name!r} is ambiguous; use its path")

    def world_matrix(self, path: str) -> np.ndarray:
        """The 4x4 local-to-world matrix of the asset at ``path``."""
        m = np.eye(4)
        node = self.root
        for name in path.split("/"):
            node = node.child(name)
            if node is None:
                raise KeyError(f"no asset at path {path!r}")
            if not node.transform.is_identity:
                m = m @ node.transform.matrix
        return m

    def walk_world(self) -> Iterator[tuple[str, Asset, np.ndarray, bool]]:
        """``(path, asset, local-to-world matrix, visible)`` for every asset, in one pass."""

        def rec(node: Asset, prefix: str, parent: np.ndarray, visible: bool):
            for c in node.children:
                path = f"{prefix}/{c.name}" if prefix else c.name
                m = parent if c.transform.is_identity else parent @ c.transform.matrix
                vis = visible and c.visible
                yield path, c, m, vis
                yield from rec(c, path, m, vis)

        yield from rec(self.root, "", np.eye(4), True)

    # -- time
    @property
    def times(self) -> np.ndarray | None:
        """The scene timeline (seconds) shared by all animated fields, or None if static."""
        ref = None
        for path, a in self.walk():
            for f in list(a.fields.values()) + list(a.sensors.values()):
                if f.times is None:
                    continue
                if ref is None:
                    ref = f.times
                elif f.times is not ref and not (
                    f.times.shape == ref.shape and (np.array_equal(f.times, ref) or np.allclose(f.times, ref))
                ):
                    raise InputError(
                        f"field {f.name!r} on {path!r} has {f.times.size} frames that do not match the "
                        f"scene timeline ({ref.size} frames); resample it onto the same times"
                    )
        return ref

    @property
    def n_frames(self) -> int:
        t = self.times
        return 1 if t is None else int(t.size)

    def field_names(self) -> list[str]:
        """Names of all fields on any asset (sorted)."""
        return sorted({n for _, a in self.walk() for n in a.fields})

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """World-space axis-aligned bounding box ``(min, max)`` of all meshes."""
        lo = np.full(3, np.inf)
        hi = np.full(3, -np.inf)
        for path, a, m, _ in self.walk_world():
            if a.mesh is None or a.mesh.n_points == 0:
                continue
            b = np.array(a.mesh.bounds).reshape(3, 2)
            corners = np.array([[x, y, z, 1.0] for x in b[0] for y in b[1] for z in b[2]])
            w = (m @ corners.T).T[:, :3]
            lo = np.minimum(lo, w.min(0))
            hi = np.maximum(hi, w.max(0))
        if not np.all(np.isfinite(lo)):
            return np.zeros(3), np.zeros(3)
        return lo, hi

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly description (used by ``twin3d info``)."""
        t = self.times
        assets = []
        for path, a in self.walk():
            assets.append(
                {
                    "path": path,
                    "type": a.asset_type,
                    "label": a.semantic_label,
                    "vertices": a.n_points,
                    "triangles": 0 if a.mesh is None else int(a.mesh.n_cells),
                    "parts": [p.name for p in a.parts],
                    "fields": {
                        n: {"association": f.association, "frames": f.n_frames, "unit": f.unit}
                        for n, f in a.fields.items()
                    },
                    "sensors": sorted(a.sensors),
                }
            )
        return {
            "name": self.name,
            "units": self.units,
            "meters_per_unit": self.meters_per_unit,
            "up_axis": self.up_axis,
            "fps": self.fps,
            "frames": self.n_frames,
            "time_range_s": None if t is None else [float(t[0]), float(t[-1])],
            "fields": self.field_names(),
            "assets": assets,
        }
