"""Anatomy: label tables and label map -> named organ surfaces in world millimetres.

A segmentation (a label map :class:`~twin3d.io.volumes.Volume`) becomes one triangle
surface per label, named and coloured from a :class:`LabelTable`, in the label
map's RAS+ world frame (millimetres), with per-organ volume, area and centroid.
:func:`organs_to_scene` turns them into a :class:`~twin3d.scene.Scene` (units
``"mm"``, one ``"organ"`` asset per label with its semantic label) for the USD and
render backends.

Methods
-------
``"surface_nets"`` (default)
    One multi-label pass of VTK's ``vtkSurfaceNets3D`` over the whole (cropped)
    label map: every wall between two labels is generated once and shared by both
    organs, so neighbouring organs fit without gaps or overlaps. The shared mesh is
    smoothed once with ``vtkWindowedSincPolyDataFilter`` (a low-pass filter that,
    unlike the surface-nets built-in smoother, does not shrink small organs), then
    split per organ. A wall face is oriented from the lower to the higher label, so
    it points *into* the higher-labelled organ; those faces are flipped for that
    organ, giving every organ outward-facing triangles.
``"flying_edges"``
    Per label, ``vtkDiscreteFlyingEdges3D`` on the label's bounding box (plus one
    voxel of padding), then the same smoothing. Every surface is closed, but
    neighbours are smoothed independently, so their walls no longer coincide.

Both build surfaces in voxel-index space and map them with the full affine
(origin, spacing, direction cosines); the triangle winding is reversed when the
affine mirrors (negative determinant) so normals stay outward in world space.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyvista as pv
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic import Field as PField

from ._util import progress_bar
from .errors import InputError
from .io.volumes import Volume, as_labelmap
from .scene import Asset, Material, Scene, make_name

__all__ = [
    "LabelInfo",
    "LabelTable",
    "load_label_table",
    "builtin_table",
    "totalsegmentator_table",
    "conventional_color",
    "OrganSurface",
    "labelmap_to_surfaces",
    "organs_to_scene",
    "SURFACE_METHODS",
    "AnatomySpec",
    "apply_anatomy_spec",
]

#: Surface extraction methods accepted by :func:`labelmap_to_surfaces`.
SURFACE_METHODS = ("surface_nets", "flying_edges")

#: Default windowed-sinc smoothing: iterations and pass band (as in 3D Slicer's
#: closed-surface conversion with smoothing factor 0.5).
DEFAULT_SMOOTHING_ITERATIONS = 20
DEFAULT_PASSBAND = 0.01


# =========================================================================== colours
def _rgb(r: int, g: int, b: int) -> tuple[float, float, float]:
    return (r / 255.0, g / 255.0, b / 255.0)


# Conventional anatomical colours (the palette used by 3D Slicer's generic anatomy
# colour table and most atlases: bone ivory, liver brown-red, arteries red, veins blue...).
_BONE = _rgb(241, 214, 145)
_CARTILAGE = _rgb(111, 184, 210)
_ARTERY = _rgb(216, 101, 79)
_VEIN = _rgb(0, 151, 206)
_MUSCLE = _rgb(192, 104, 88)
_LUNG = _rgb(197, 165, 145)
_KIDNEY = _rgb(185, 102, 83)
_HEART = _rgb(206, 110, 84)
_BOWEL = _rgb(205, 167, 142)

# Keyword rules for names outside the tables, checked in order (first match wins).
_COLOR_RULES: tuple[tuple[str, tuple[float, float, float]], ...] = (
    ("body", _rgb(177, 122, 101)),
    ("skin", _rgb(177, 122, 101)),
    ("liver", _rgb(221, 130, 101)),
    ("spleen", _rgb(157, 108, 162)),
    ("cyst", _rgb(205, 205, 100)),
    ("kidney", _KIDNEY),
    ("adrenal", _rgb(249, 186, 150)),
    ("gallbladder", _rgb(139, 150, 98)),
    ("pancrea", _rgb(249, 180, 111)),
    ("stomach", _rgb(216, 132, 105)),
    ("duoden", _rgb(255, 253, 229)),
    ("bowel", _BOWEL),
    ("colon", _rgb(204, 168, 143)),
    ("esophag", _rgb(211, 171, 143)),
    ("bladder", _rgb(222, 154, 132)),
    ("prostate", _rgb(230, 158, 140)),
    ("trachea", _rgb(182, 228, 255)),
    ("lung", _LUNG),
    ("thyroid", _rgb(220, 245, 20)),
    ("spinal_cord", _rgb(244, 214, 49)),
    ("brain", _rgb(250, 250, 225)),
    ("cartilage", _CARTILAGE),
    ("atrial", _HEART),
    ("heart", _HEART),
    ("aorta", _ARTERY),
    ("artery", _ARTERY),
    ("trunk", _ARTERY),
    ("vein", _VEIN),
    ("vena", _VEIN),
    ("gluteus", _MUSCLE),
    ("autochthon", _MUSCLE),
    ("iliopsoas", _MUSCLE),
    ("muscle", _MUSCLE),
    ("fat", _rgb(230, 220, 70)),
    ("tumor", _rgb(255, 60, 60)),
    ("lesion", _rgb(255, 60, 60)),
    ("spine", _BONE),
    ("vertebra", _BONE),
    ("sacrum", _BONE),
    ("rib", _BONE),
    ("sternum", _BONE),
    ("skull", _BONE),
    ("femur", _BONE),
    ("humerus", _BONE),
    ("hip", _BONE),
    ("scapula", _BONE),
    ("clavicula", _BONE),
    ("bone", _BONE),
)

# A qualitative palette for labels no rule recognises (Tableau-like, picked by id).
_PALETTE = tuple(
    _rgb(*c)
    for c in (
        (78, 121, 167), (242, 142, 43), (225, 87, 89), (118, 183, 178), (89, 161, 79),
        (237, 201, 72), (176, 122, 161), (255, 157, 167), (156, 117, 95), (186, 176, 172),
    )
)


def conventional_color(name: str, label: int = 0) -> tuple[float, float, float]:
    """The conventional colour for an organ ``name`` (RGB in [0, 1]).

    Names are matched by keyword (``kidney_left`` -> kidney, ``vertebrae_L3`` ->
    bone, ``iliac_vena_left`` -> vein...). Unknown names get a palette colour chosen
    by ``label`` so that neighbouring labels differ.
    """
    key = str(name).lower()
    for word, color in _COLOR_RULES:
        if word in key:
            return color
    return _PALETTE[int(label) % len(_PALETTE)]


def _parse_color(value: Any, where: str) -> tuple[float, float, float]:
    """A colour given as ``[r, g, b]`` in [0, 1] or [0, 255], or ``"#rrggbb"``."""
    if isinstance(value, str):
        m = re.fullmatch(r"#?([0-9a-fA-F]{6})", value.strip())
        if not m:
            raise InputError(f"{where}: colour {value!r} is not '#rrggbb'")
        h = m.group(1)
        return _rgb(int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))
    try:
        c = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        c = np.array([])
    if c.shape != (3,) or not np.all(np.isfinite(c)) or np.any(c < 0):
        raise InputError(f"{where}: colour {value!r} must be 3 numbers in [0, 1] or [0, 255], or '#rrggbb'")
    if np.any(c > 1.0):
        if np.any(c > 255):
            raise InputError(f"{where}: colour {value!r} has a component above 255")
        c = c / 255.0
    return (float(c[0]), float(c[1]), float(c[2]))


# =========================================================================== tables
@dataclass(frozen=True)
class LabelInfo:
    """One entry of a label table: label id, organ name and display colour (RGB 0-1)."""

    id: int
    name: str
    color: tuple[float, float, float]


class LabelTable(Mapping[int, LabelInfo]):
    """Label id -> :class:`LabelInfo` (name and colour).

    Parameters
    ----------
    entries
        ``{id: name}``, ``{id: {"name": ..., "color": ...}}``, ``{id: LabelInfo}`` or
        an iterable of :class:`LabelInfo`. Ids are integers >= 1 (an entry for the
        background id 0 is ignored); names must be unique. Colours missing from an
        entry come from :func:`conventional_color`.
    name
        A name for the table (shown in messages).
    source
        Where the entries came from (a file path), used in error messages.
    """

    def __init__(self, entries: Mapping[Any, Any] | Iterable[LabelInfo], *, name: str = "custom", source: str | None = None):
        self.name = name
        where = source or f"label table {name!r}"
        items: dict[int, LabelInfo] = {}
        if isinstance(entries, Mapping):
            pairs: Iterable[tuple[Any, Any]] = entries.items()
        else:
            pairs = []
            for e in entries:
                if not isinstance(e, LabelInfo):
                    raise InputError(f"{where}: expected LabelInfo entries, got {type(e).__name__}")
                pairs.append((e.id, e))  # type: ignore[union-attr]
        for key, value in pairs:
            try:
                ident = int(key)
                if isinstance(key, float) and key != ident:
                    raise ValueError
                if isinstance(key, str) and key.strip() != str(ident):
                    raise ValueError
            except (TypeError, ValueError):
                raise InputError(f"{where}: key {key!r} is not an integer label id") from None
            if ident < 0:
                raise InputError(f"{where}: label id {ident} is negative; ids are integers >= 1 (0 is background)")
            if ident == 0:
                continue  # background
            items[ident] = self._entry(ident, value, f"{where}, label {ident}")
        names: dict[str, int] = {}
        for info in items.values():
            if info.name in names:
                raise InputError(
                    f"{where}: organ name {info.name!r} is used by labels {names[info.name]} and {info.id}; names must be unique"
                )
            names[info.name] = info.id
        self._items = dict(sorted(items.items()))
        self._by_name = names

    @staticmethod
    def _entry(ident: int, value: Any, where: str) -> LabelInfo:
        if isinstance(value, LabelInfo):
            return LabelInfo(ident, value.name, _parse_color(value.color, where))
        color: Any = None
        if isinstance(value, str):
            name = value
        elif isinstance(value, Mapping):
            unknown = set(value) - {"name", "color"}
            if unknown:
                raise InputError(f"{where}: unknown key(s) {sorted(unknown)}; valid: 'name', 'color'")
            if "name" not in value:
                raise InputError(f"{where}: entry has no 'name'")
            name, color = value["name"], value.get("color")
        elif isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str):
            name, color = value
        else:
            raise InputError(f"{where}: entry must be a name or {{'name': ..., 'color': ...}}, got {value!r}")
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{where}: organ name must be a non-empty string, got {name!r}")
        name = name.strip()
        rgb = conventional_color(name, ident) if color is None else _parse_color(color, where)
        return LabelInfo(ident, name, rgb)

    # -- constructors
    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "LabelTable":
        """Read ``{"1": "liver", ...}`` or ``{"1": {"name": "liver", "color": [r, g, b]}, ...}``."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"{p}: label table file not found") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"{p}: label table is not UTF-8 text ({exc})") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{p}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
        if not isinstance(data, dict):
            raise InputError(
                f"{p}: a label table must be a JSON object {{id: name}} or {{id: {{name, color}}}}, got {type(data).__name__}"
            )
        if not data:
            raise InputError(f"{p}: the label table is empty")
        return cls(data, name=p.stem, source=str(p))

    # -- mapping protocol
    def __getitem__(self, label: int) -> LabelInfo:
        return self._items[int(label)]

    def __iter__(self) -> Iterator[int]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"LabelTable({self.name!r}, {len(self)} labels)"

    # -- lookups
    @property
    def names(self) -> dict[int, str]:
        """``{id: name}`` for every label."""
        return {i: e.name for i, e in self._items.items()}

    def id_of(self, name: str) -> int:
        """The label id of organ ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no organ {name!r} in label table {self.name!r}; names: {sorted(self._by_name)}") from None

    def info(self, label: int) -> LabelInfo:
        """The entry for ``label``, or a generic ``label_<id>`` entry if the table lacks it."""
        label = int(label)
        if label in self._items:
            return self._items[label]
        return LabelInfo(label, f"label_{label}", _PALETTE[label % len(_PALETTE)])

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """JSON-ready ``{"id": {"name": ..., "color": [r, g, b]}}`` (colours 0-255)."""
        return {
            str(i): {"name": e.name, "color": [int(round(c * 255)) for c in e.color]} for i, e in self._items.items()
        }


def _builtin_entries() -> dict[int, tuple[str, tuple[int, int, int]]]:
    # twin3d's own anatomical table (ids used by twin3d.phantom and the demo).
    return {
        1: ("body", (177, 122, 101)),
        2: ("liver", (221, 130, 101)),
        3: ("spleen", (157, 108, 162)),
        4: ("kidney_left", (185, 102, 83)),
        5: ("kidney_right", (185, 102, 83)),
        6: ("spine", (241, 214, 145)),
        7: ("aorta", (216, 101, 79)),
        8: ("inferior_vena_cava", (0, 151, 206)),
        9: ("portal_vein", (0, 122, 190)),
        10: ("pancreas", (249, 180, 111)),
        11: ("gallbladder", (139, 150, 98)),
        12: ("stomach", (216, 132, 105)),
        13: ("duodenum", (255, 253, 229)),
        14: ("small_bowel", (205, 167, 142)),
        15: ("colon", (204, 168, 143)),
        16: ("esophagus", (211, 171, 143)),
        17: ("urinary_bladder", (222, 154, 132)),
        18: ("adrenal_gland_left", (249, 186, 150)),
        19: ("adrenal_gland_right", (249, 186, 150)),
        20: ("lung_left", (197, 165, 145)),
        21: ("lung_right", (197, 165, 145)),
        22: ("heart", (206, 110, 84)),
        23: ("ribs", (241, 214, 145)),
        24: ("sternum", (241, 214, 145)),
        25: ("spinal_cord", (244, 214, 49)),
        26: ("trachea", (182, 228, 255)),
        27: ("prostate", (230, 158, 140)),
        28: ("muscle", (192, 104, 88)),
        29: ("fat", (230, 220, 70)),
        30: ("tumor", (255, 60, 60)),
    }


def builtin_table() -> LabelTable:
    """twin3d's built-in anatomical table (ids 1-30, conventional colours).

    Ids: 1 body, 2 liver, 3 spleen, 4 kidney_left, 5 kidney_right, 6 spine,
    7 aorta, 8 inferior_vena_cava, 9 portal_vein, 10 pancreas, 11 gallbladder,
    12 stomach, 13 duodenum, 14 small_bowel, 15 colon, 16 esophagus,
    17 urinary_bladder, 18/19 adrenal_gland_left/right, 20/21 lung_left/right,
    22 heart, 23 ribs, 24 sternum, 25 spinal_cord, 26 trachea, 27 prostate,
    28 muscle, 29 fat, 30 tumor. The phantom of :mod:`twin3d.phantom` uses these
    names.
    """
    return LabelTable({i: {"name": n, "color": c} for i, (n, c) in _builtin_entries().items()}, name="builtin")


def _totalsegmentator_names() -> dict[int, str]:
    # TotalSegmentator (v2) task "total": 117 classes, ids 1-117.
    names = [
        "spleen", "kidney_right", "kidney_left", "gallbladder", "liver", "stomach", "pancreas",
        "adrenal_gland_right", "adrenal_gland_left",
        "lung_upper_lobe_left", "lung_lower_lobe_left", "lung_upper_lobe_right", "lung_middle_lobe_right",
        "lung_lower_lobe_right", "esophagus", "trachea", "thyroid_gland", "small_bowel", "duodenum", "colon",
        "urinary_bladder", "prostate", "kidney_cyst_left", "kidney_cyst_right", "sacrum",
    ]  # 1-25
    names += ["vertebrae_S1"] + [f"vertebrae_L{i}" for i in range(5, 0, -1)]  # 26-31
    names += [f"vertebrae_T{i}" for i in range(12, 0, -1)] + [f"vertebrae_C{i}" for i in range(7, 0, -1)]  # 32-50
    names += [
        "heart", "aorta", "pulmonary_vein", "brachiocephalic_trunk",
        "subclavian_artery_right", "subclavian_artery_left",
        "common_carotid_artery_right", "common_carotid_artery_left",
        "brachiocephalic_vein_left", "brachiocephalic_vein_right", "atrial_appendage_left",
        "superior_vena_cava", "inferior_vena_cava", "portal_vein_and_splenic_vein",
        "iliac_artery_left", "iliac_artery_right", "iliac_vena_left", "iliac_vena_right",
    ]  # 51-68
    for bone in ("humerus", "scapula", "clavicula", "femur", "hip"):
        names += [f"{bone}_left", f"{bone}_right"]  # 69-78
    names += ["spinal_cord"]  # 79
    for muscle in ("gluteus_maximus", "gluteus_medius", "gluteus_minimus", "autochthon", "iliopsoas"):
        names += [f"{muscle}_left", f"{muscle}_right"]  # 80-89
    names += ["brain", "skull"]  # 90-91
    names += [f"rib_left_{i}" for i in range(1, 13)] + [f"rib_right_{i}" for i in range(1, 13)]  # 92-115
    names += ["sternum", "costal_cartilages"]  # 116-117
    return {i + 1: n for i, n in enumerate(names)}


def totalsegmentator_table() -> LabelTable:
    """TotalSegmentator's ``total`` task label ids (117 classes) with conventional colours."""
    return LabelTable(_totalsegmentator_names(), name="totalsegmentator")


_TABLE_ALIASES = {"builtin": builtin_table, "totalsegmentator": totalsegmentator_table, "total": totalsegmentator_table}


def load_label_table(table: LabelTable | Mapping[Any, Any] | str | os.PathLike | None = None) -> LabelTable:
    """Resolve a label table argument.

    Parameters
    ----------
    table
        ``None`` or ``"builtin"`` (twin3d's table), ``"totalsegmentator"`` (alias
        ``"total"``), a path to a JSON table, a mapping ``{id: name}`` /
        ``{id: {"name", "color"}}``, or a :class:`LabelTable`.
    """
    if table is None:
        return builtin_table()
    if isinstance(table, LabelTable):
        return table
    if isinstance(table, Mapping):
        return LabelTable(table)
    if isinstance(table, str) and table.lower() in _TABLE_ALIASES:
        return _TABLE_ALIASES[table.lower()]()
    p = Path(table)
    if p.suffix.lower() == ".json" or p.exists():
        return LabelTable.from_json(p)
    raise InputError(
        f"unknown label table {str(table)!r}; valid: 'builtin', 'totalsegmentator', or a path to a JSON file "
        f"{{id: name}} / {{id: {{name, color}}}}"
    )


# =========================================================================== surfaces
@dataclass(eq=False)
class OrganSurface:
    """One organ's surface in world millimetres (RAS+), with its measurements.

    Attributes
    ----------
    label, name, color
        Label id, organ name and RGB colour (0-1) from the label table.
    mesh
        Closed-or-shared-wall triangle surface, outward-facing, world mm; carries
        point normals (``"Normals"``).
    volume_ml
        Volume enclosed by the surface (divergence theorem), millilitres.
    area_mm2
        Surface area, mm^2.
    centroid_mm
        Centroid of the enclosed *volume* (not the mean of the vertices), world mm.
    voxel_count, voxel_volume_ml
        Number of voxels with this label and their total volume.
    """

    label: int
    name: str
    color: tuple[float, float, float]
    mesh: pv.PolyData
    volume_ml: float
    area_mm2: float
    centroid_mm: np.ndarray
    voxel_count: int
    voxel_volume_ml: float
    method: str = "surface_nets"

    @property
    def n_triangles(self) -> int:
        return int(self.mesh.n_cells)

    def summary(self) -> dict[str, Any]:
        """JSON-ready measurements."""
        return {
            "label": self.label,
            "name": self.name,
            "volume_ml": round(self.volume_ml, 4),
            "voxel_volume_ml": round(self.voxel_volume_ml, 4),
            "area_mm2": round(self.area_mm2, 2),
            "centroid_mm": [round(float(v), 3) for v in self.centroid_mm],
            "voxels": self.voxel_count,
            "triangles": self.n_triangles,
        }


def _enable_smp() -> None:
    """Use all cores in VTK's threaded filters unless the user chose a backend."""
    from vtkmodules.vtkCommonCore import vtkSMPTools

    if os.environ.get("VTK_SMP_BACKEND_IN_USE"):
        return
    if vtkSMPTools.GetBackend() == "Sequential":
        vtkSMPTools.SetBackend("STDThread")


def _label_counts(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label ids present (excluding 0) and their voxel counts."""
    hi = int(arr.max()) if arr.size else 0
    if hi == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if hi < 1 << 16:
        counts = np.zeros(hi + 1, np.int64)
        for plane in arr:  # slab-wise: bincount converts to intp, keep that small
            counts += np.bincount(plane.ravel(), minlength=hi + 1)
        ids = np.flatnonzero(counts)
        ids = ids[ids != 0]
        return ids.astype(np.int64), counts[ids]
    ids, counts = np.unique(arr, return_counts=True)
    keep = ids != 0
    return ids[keep].astype(np.int64), counts[keep].astype(np.int64)


def _crop_box(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounding box ``[lo, hi)`` of the non-zero voxels of a 3D array (two passes over it)."""
    ij = arr.any(axis=2)
    ranges = [np.flatnonzero(ij.any(axis=1)), np.flatnonzero(ij.any(axis=0)), np.flatnonzero(arr.any(axis=(0, 1)))]
    lo = np.array([r[0] for r in ranges])
    hi = np.array([r[-1] + 1 for r in ranges])
    return lo, hi


def _padded_fortran(sub: np.ndarray, dtype: np.dtype | None = None) -> np.ndarray:
    """``sub`` with one voxel of zeros on every side, in Fortran order (VTK's x-fastest layout)."""
    out = np.zeros(tuple(s + 2 for s in sub.shape), dtype=dtype or sub.dtype, order="F")
    out[1:-1, 1:-1, 1:-1] = sub
    return out


def _image_data(arr_f: np.ndarray):
    """A vtkImageData (unit spacing, origin 0) whose point scalars view ``arr_f``."""
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonDataModel import vtkImageData

    img = vtkImageData()
    img.SetDimensions(*arr_f.shape)
    flat = arr_f.ravel(order="F")
    scal = numpy_to_vtk(flat, deep=False)
    scal.SetName("labels")
    img.GetPointData().SetScalars(scal)  # numpy_to_vtk keeps a reference to ``flat``
    return img


def _windowed_sinc(poly, iterations: int, passband: float):
    from vtkmodules.vtkFiltersCore import vtkWindowedSincPolyDataFilter

    ws = vtkWindowedSincPolyDataFilter()
    ws.SetInputData(poly)
    ws.SetNumberOfIterations(int(iterations))
    ws.SetPassBand(float(passband))
    ws.BoundarySmoothingOff()
    ws.FeatureEdgeSmoothingOff()
    ws.NonManifoldSmoothingOn()
    ws.NormalizeCoordinatesOn()
    ws.Update()
    return ws.GetOutput()


def _poly_arrays(poly) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points (float64), cell offsets and connectivity of a vtkPolyData's polygons."""
    from vtkmodules.util.numpy_support import vtk_to_numpy

    pts = vtk_to_numpy(poly.GetPoints().GetData()).copy() if poly.GetPoints() else np.zeros((0, 3), np.float32)
    polys = poly.GetPolys()
    offsets = vtk_to_numpy(polys.GetOffsetsArray()).astype(np.int64, copy=False)
    conn = vtk_to_numpy(polys.GetConnectivityArray()).astype(np.int64, copy=False)
    return pts, offsets, conn


def _triangles(points: np.ndarray, offsets: np.ndarray, conn: np.ndarray) -> tuple[np.ndarray, int]:
    """Triangulate the polygons of a VTK mesh; returns ``(int32 triangles, per)``.

    Every input cell becomes ``per`` consecutive triangles (1 for triangles, 2 for
    quads, which are split along their shorter diagonal, keeping the winding).
    """
    sizes = np.diff(offsets)
    if sizes.size == 0:
        return np.zeros((0, 3), np.int32), 1
    if np.all(sizes == 3):
        return conn.reshape(-1, 3).astype(np.int32), 1
    if np.all(sizes == 4):
        q = conn.reshape(-1, 4).astype(np.int32)
        p = points.astype(np.float32, copy=False)
        d = p[q[:, 0]] - p[q[:, 2]]
        d02 = np.einsum("ij,ij->i", d, d)
        d = p[q[:, 1]] - p[q[:, 3]]
        use02 = d02 <= np.einsum("ij,ij->i", d, d)
        # quad (0,1,2,3) -> (0,1,2)+(0,2,3) or (0,1,3)+(1,2,3): same winding either way
        tris = np.empty((len(q), 2, 3), np.int32)
        tris[:, 0, 0] = q[:, 0]
        tris[:, 0, 1] = q[:, 1]
        tris[:, 0, 2] = np.where(use02, q[:, 2], q[:, 3])
        tris[:, 1, 0] = np.where(use02, q[:, 0], q[:, 1])
        tris[:, 1, 1] = q[:, 2]
        tris[:, 1, 2] = q[:, 3]
        return tris.reshape(-1, 3), 2
    raise RuntimeError(f"unexpected polygon sizes {np.unique(sizes).tolist()} from a VTK filter (expected triangles or quads)")


def _decimate_pro(points: np.ndarray, tris: np.ndarray, reduction: float, *, keep_boundary: bool):
    """vtkDecimatePro (topology preserved); returns ``(triangles in input point ids)``."""
    from vtkmodules.vtkFiltersCore import vtkDecimatePro

    mesh = pv.PolyData.from_regular_faces(points, tris)
    mesh.point_data["twin3d_id"] = np.arange(len(points), dtype=np.float64)  # exact for < 2**53 points
    dec = vtkDecimatePro()
    dec.SetInputData(mesh)
    dec.SetTargetReduction(float(reduction))
    dec.PreserveTopologyOn()
    dec.SplittingOff()
    dec.SetFeatureAngle(60.0)
    dec.SetBoundaryVertexDeletion(not keep_boundary)
    dec.Update()
    out = pv.wrap(dec.GetOutput())
    if out.n_cells == 0:
        return tris
    ids = np.asarray(out.point_data["twin3d_id"]).astype(np.int64)
    return ids[out.regular_faces]


@dataclass
class _SharedMesh:
    """Output of the multi-label surface-nets pass (index space)."""

    points: np.ndarray  # smoothed vertices, label-map index coordinates
    raw: np.ndarray | None  # vertices before smoothing, padded-crop coordinates (add ``offset``)
    offset: np.ndarray
    tris: np.ndarray  # int32 triangles, ``per`` consecutive ones per cell
    per: int
    pairs: np.ndarray  # (label0, label1) per cell; faces are oriented from label0 to label1


def _surface_nets(
    arr: np.ndarray, labels: np.ndarray, iterations: int, passband: float, decimate: float | None, advance
) -> _SharedMesh:
    """One multi-label surface-nets pass over the cropped label map, smoothed once."""
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkFiltersCore import vtkSurfaceNets3D

    lo, hi = _crop_box(arr)
    sub = arr[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    padded = _padded_fortran(sub)
    img = _image_data(padded)
    sn = vtkSurfaceNets3D()
    sn.SetInputData(img)
    sn.SetBackgroundLabel(0)
    for i, lab in enumerate(labels):
        sn.SetLabel(i, float(lab))
    sn.SmoothingOff()  # its constrained smoother shrinks small organs; windowed sinc below
    sn.SetOutputMeshTypeToQuads()  # smoothing quads is cheaper; split into triangles afterwards
    sn.Update()
    poly = sn.GetOutput()
    advance(1, step="surface nets")
    raw = None
    if iterations > 0 and poly.GetNumberOfPoints():
        raw = vtk_to_numpy(poly.GetPoints().GetData())  # a view: the filter output stays referenced
        poly = _windowed_sinc(poly, iterations, passband)
        advance(1, step="smoothing")
    points, offsets, conn = _poly_arrays(poly)
    pairs = vtk_to_numpy(poly.GetCellData().GetArray("BoundaryLabels")).reshape(-1, 2)
    tris, per = _triangles(points, offsets, conn)
    if decimate:
        # Per wall (pair of labels) with its border vertices kept: walls stay shared.
        key = pairs[:, 0].astype(np.int64) * (int(labels.max()) + 1) + pairs[:, 1]
        order = np.argsort(key, kind="stable")
        key_s = key[order]
        starts = np.flatnonzero(np.r_[True, key_s[1:] != key_s[:-1]])
        ends = np.r_[starts[1:], len(key_s)]
        tris3 = tris.reshape(-1, per, 3)
        new_tris, new_pairs = [], []
        lut = np.empty(len(points), np.int64)
        for a, b in zip(starts, ends):
            sel = order[a:b]
            t = tris3[sel].reshape(-1, 3)
            used = np.unique(t)
            lut[used] = np.arange(len(used))
            dt = _decimate_pro(points[used], lut[t], decimate, keep_boundary=True)
            new_tris.append(used[dt].astype(np.int32))
            new_pairs.append(np.repeat(pairs[sel[:1]], len(dt), axis=0))
        tris, pairs, per = np.concatenate(new_tris), np.concatenate(new_pairs), 1
        advance(1, step="decimation")
    points += lo - 1  # padded-crop index -> label map index
    return _SharedMesh(points, raw, lo - 1, tris, per, pairs)


def _shared_measures(
    world: np.ndarray, tris: np.ndarray, per: int, k0: np.ndarray, k1: np.ndarray, nb: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-label volume, area and volume moment of the shared mesh, each triangle measured once.

    A cell (``per`` triangles) counts with its own orientation for label index ``k0``
    and reversed for ``k1`` (bin ``nb - 1`` collects the background). Returns ``(ref,
    volume, area, moment, cross)``: moments are about ``ref``; ``cross`` is twice each
    triangle's area-weighted normal.
    """
    ref = world.mean(axis=0, dtype=np.float64)  # shift for accuracy; results do not depend on it
    # Per-triangle terms in float32, structure-of-arrays, in place: this is memory-bound and
    # float32 halves the traffic; sums are accumulated in float64 by bincount (relative
    # error of the organ volumes ~1e-7).
    t0, t1, t2 = (np.ascontiguousarray(tris[:, i]) for i in range(3))
    comps = []
    for c in range(3):
        x = (world[:, c] - ref[c]).astype(np.float32)
        p0 = x.take(t0)
        e1 = x.take(t1)
        e1 -= p0
        e2 = x.take(t2)
        e2 -= p0
        comps.append((p0, e1, e2))
    (x0, ex1, ex2), (y0, ey1, ey2), (z0, ez1, ez2) = comps
    cross = np.empty((len(tris), 3), np.float32)
    np.multiply(ey1, ez2, out=cross[:, 0])
    cross[:, 0] -= ez1 * ey2
    np.multiply(ez1, ex2, out=cross[:, 1])
    cross[:, 1] -= ex1 * ez2
    np.multiply(ex1, ey2, out=cross[:, 2])
    cross[:, 2] -= ey1 * ex2
    cx, cy, cz = cross[:, 0], cross[:, 1], cross[:, 2]
    area = np.sqrt(cx * cx + cy * cy + cz * cz)
    area *= 0.5
    tet = x0 * cx  # signed volume of (ref, v0, v1, v2), times 6
    tet += y0 * cy
    tet += z0 * cz
    tet /= 6.0
    quarter = tet / 4.0
    moments = []  # tet volume x tet centroid
    for p0, e1, e2 in comps:
        m = p0 * 3.0
        m += e1
        m += e2
        m *= quarter
        moments.append(m)
    del comps, x0, ex1, ex2, y0, ey1, ey2, z0, ez1, ez2, quarter
    if per > 1:  # per cell
        tet, area = tet.reshape(-1, per).sum(1), area.reshape(-1, per).sum(1)
        moments = [m.reshape(-1, per).sum(1) for m in moments]
    vol = np.bincount(k0, tet, nb) - np.bincount(k1, tet, nb)
    areas = np.bincount(k0, area, nb) + np.bincount(k1, area, nb)
    mom = np.stack([np.bincount(k0, m, nb) - np.bincount(k1, m, nb) for m in moments], 1)
    return ref, vol, areas, mom, cross


#: A smoothed organ keeping less than this share of its voxel volume is too small for
#: the low-pass filter (e.g. a single voxel collapses to a point); it keeps its
#: unsmoothed, voxel-exact vertices.
MIN_SMOOTHED_VOLUME_RATIO = 0.5


def _shared_organs(
    world: np.ndarray,
    tris: np.ndarray,
    per: int,
    pairs: np.ndarray,
    present: np.ndarray,
    selected: np.ndarray,
    *,
    voxel_mm3: np.ndarray | None = None,
    raw_world: Callable[[], np.ndarray] | None = None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray, float, float, np.ndarray]]:
    """Measure and split the shared multi-label mesh.

    ``world`` are the world-space points, ``tris`` the triangles (``per`` per cell)
    oriented from ``pairs[:, 0]`` towards ``pairs[:, 1]`` in world space. Every
    triangle is measured once; a wall counts with its own orientation for the first
    label and reversed for the second. With ``raw_world`` (returns the points before
    smoothing) and ``voxel_mm3`` (voxel volume per label of ``present``), organs that
    smoothing collapsed get their unsmoothed vertices back. Yields, per selected
    label, ``(label, points, outward faces, vertex normals, volume mm^3, area mm^2,
    volume centroid)``.
    """
    n_lab = len(present)
    lut = np.full(int(max(present.max(), pairs.max())) + 1, n_lab, np.int64)  # background -> spare bin
    lut[present] = np.arange(n_lab)
    k0, k1 = lut[pairs[:, 0]], lut[pairs[:, 1]]
    nb = n_lab + 1
    ref, vol, areas, mom, cross = _shared_measures(world, tris, per, k0, k1, nb)
    tris3 = tris.reshape(-1, per, 3)
    if raw_world is not None and voxel_mm3 is not None:
        collapsed = np.zeros(nb, bool)
        collapsed[:n_lab] = vol[:n_lab] < MIN_SMOOTHED_VOLUME_RATIO * voxel_mm3
        if collapsed.any():
            restore = np.unique(tris3[collapsed[k0] | collapsed[k1]])
            world = world.copy()
            world[restore] = raw_world()[restore]
            ref, vol, areas, mom, cross = _shared_measures(world, tris, per, k0, k1, nb)
    cross3 = cross.reshape(-1, per, 3)

    n = len(pairs)
    k = np.concatenate([k0, k1])
    sort_dtype = np.uint16 if nb < 1 << 16 else np.int64  # 16-bit keys: numpy uses a radix sort
    order = np.argsort(k.astype(sort_dtype), kind="stable")
    k_sorted = k[order]
    starts = np.searchsorted(k_sorted, np.arange(n_lab), side="left")
    ends = np.searchsorted(k_sorted, np.arange(n_lab), side="right")
    mark = np.zeros(len(world), bool)
    lut_pts = np.empty(len(world), np.int64)
    for label in selected:
        i = int(lut[label])
        entries = order[starts[i] : ends[i]]
        second = entries >= n
        cells = np.where(second, entries - n, entries)
        faces = tris3[cells]
        faces[second] = faces[second][..., ::-1]
        faces = faces.reshape(-1, 3)
        fn = cross3[cells]
        fn[second] *= -1.0
        fn = fn.reshape(-1, 3)
        if faces.size * 16 < len(world):  # small organ: sorting its few indices is cheaper
            used = np.unique(faces)
        else:
            mark[:] = False
            mark[faces.ravel()] = True
            used = np.flatnonzero(mark)
        lut_pts[used] = np.arange(len(used))
        faces = lut_pts[faces]
        normals = _vertex_normals(len(used), faces, fn)
        v = float(vol[i])
        centroid = ref + mom[i] / v if v != 0 else np.full(3, np.nan)
        yield int(label), world[used], faces, normals, v, float(areas[i]), centroid


def _flying_edges(
    arr: np.ndarray, labels: np.ndarray, iterations: int, passband: float, decimate: float | None, advance
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Per-label closed surfaces: index-space points and outward triangles."""
    from scipy import ndimage
    from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D

    if int(labels.max()) < 1 << 20:
        compact, boxes_for = arr, {int(lab): int(lab) for lab in labels}
    else:  # huge ids: find_objects allocates one slot per id
        uniq, inv = np.unique(arr, return_inverse=True)
        compact = inv.reshape(arr.shape).astype(np.int64)
        boxes_for = {int(v): int(i) for i, v in enumerate(uniq)}
    boxes = ndimage.find_objects(compact)
    for label in labels:
        sl = boxes[boxes_for[int(label)] - 1]
        lo = np.array([s.start for s in sl])
        mask = compact[sl] == boxes_for[int(label)]
        padded = _padded_fortran(mask, np.uint8)
        img = _image_data(padded)
        fe = vtkDiscreteFlyingEdges3D()
        fe.SetInputData(img)
        fe.ComputeNormalsOff()
        fe.ComputeGradientsOff()
        fe.ComputeScalarsOff()
        fe.SetValue(0, 1.0)
        fe.Update()
        poly = fe.GetOutput()
        points, offsets, conn = _poly_arrays(poly)
        points = points.astype(np.float64)
        tris, _ = _triangles(points, offsets, conn)
        raw_volume = _signed_volume(points, tris)
        if raw_volume < 0:  # make the faces outward (the filter's winding is not documented)
            tris = tris[:, ::-1].copy()
            raw_volume = -raw_volume
        if iterations > 0 and len(tris):
            smoothed = _poly_arrays(_windowed_sinc(poly, iterations, passband))[0].astype(np.float64)
            # same points and cells, moved; organs too small for the filter keep their raw surface
            if _signed_volume(smoothed, tris) >= MIN_SMOOTHED_VOLUME_RATIO * raw_volume:
                points = smoothed
        if decimate and len(tris):
            tris = _decimate_pro(points, tris, decimate, keep_boundary=False)
            if _signed_volume(points, tris) < 0:
                tris = tris[:, ::-1].copy()
        advance(1, organ=int(label))
        yield int(label), points + (lo - 1), tris


def _signed_volume(points: np.ndarray, tris: np.ndarray) -> float:
    if len(tris) == 0:
        return 0.0
    ref = points.mean(axis=0)
    v0, v1, v2 = points[tris[:, 0]] - ref, points[tris[:, 1]] - ref, points[tris[:, 2]] - ref
    return float(np.einsum("ij,ij->i", v0, np.cross(v1, v2)).sum() / 6.0)


def _compact(points: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep only the points ``faces`` use; renumber faces."""
    mark = np.zeros(len(points), bool)
    mark[faces.ravel()] = True
    used = np.flatnonzero(mark)
    lut = np.empty(len(points), np.int64)
    lut[used] = np.arange(len(used))
    return points[used], lut[faces]


def _measure(points: np.ndarray, faces: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Enclosed volume (mm^3), area (mm^2), volume centroid and area-weighted face normals."""
    if len(faces) == 0:
        return 0.0, 0.0, np.full(3, np.nan), np.zeros((0, 3))
    ref = points.mean(axis=0)  # shift for numerical accuracy; results do not depend on it
    v0, v1, v2 = points[faces[:, 0]] - ref, points[faces[:, 1]] - ref, points[faces[:, 2]] - ref
    cross = np.cross(v1 - v0, v2 - v0)
    area = 0.5 * float(np.linalg.norm(cross, axis=1).sum())
    tet = np.einsum("ij,ij->i", v0, np.cross(v1, v2)) / 6.0  # signed volumes of (ref, v0, v1, v2)
    vol = float(tet.sum())
    if abs(vol) > 0:
        centroid = ref + (tet[:, None] * (v0 + v1 + v2)).sum(axis=0) / (4.0 * vol)
    else:
        centroid = np.full(3, np.nan)
    return vol, area, centroid, cross


def _vertex_normals(n_points: int, faces: np.ndarray, face_normals: np.ndarray) -> np.ndarray:
    normals = np.zeros((n_points, 3))
    for c in range(3):
        normals[:, c] = sum(np.bincount(faces[:, k], weights=face_normals[:, c], minlength=n_points) for k in range(3))
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    norm[norm == 0] = 1.0
    return (normals / norm).astype(np.float32)


def _check_smoothing(smoothing: bool | int | None) -> int:
    if smoothing is None or smoothing is False:
        return 0
    if smoothing is True:
        return DEFAULT_SMOOTHING_ITERATIONS
    if isinstance(smoothing, (int, np.integer)) and 0 <= int(smoothing) <= 1000:
        return int(smoothing)
    raise InputError(
        f"smoothing must be True/False or a number of windowed-sinc iterations in [0, 1000], got {smoothing!r}"
    )


def labelmap_to_surfaces(
    labelmap: Volume,
    table: LabelTable | Mapping[Any, Any] | str | os.PathLike | None = None,
    *,
    method: Literal["surface_nets", "flying_edges"] = "surface_nets",
    smoothing: bool | int | None = True,
    passband: float = DEFAULT_PASSBAND,
    decimate: float | None = None,
    labels: Iterable[int] | None = None,
    progress: bool | None = None,
) -> dict[str, OrganSurface]:
    """Turn a label map into one named surface per label, in world millimetres.

    Parameters
    ----------
    labelmap
        Integer label map (0 = background); see :func:`~twin3d.io.volumes.read_labelmap`.
        LPS volumes are converted to RAS; the surfaces are in the RAS+ world frame.
    table
        Label names and colours (see :func:`load_label_table`); labels missing from
        the table are named ``label_<id>``.
    method
        ``"surface_nets"`` (default: one multi-label pass, shared walls, no gaps) or
        ``"flying_edges"`` (per label, closed surfaces; neighbours may leave gaps).
    smoothing
        Windowed-sinc iterations (``True`` = 20, ``False``/0 = none: staircase
        surfaces that enclose the voxels exactly).
    passband
        Windowed-sinc pass band (0 < passband < 2; smaller = smoother). 0.01 as 3D
        Slicer's default smoothing.
    decimate
        Optional target reduction in [0, 1) of the triangle count (``vtkDecimatePro``
        with topology preserved). With surface nets each wall is decimated on its own
        with its border kept, so neighbours still share their walls.
    labels
        Only these label ids (default: every non-zero label present). With surface
        nets all labels still shape the walls.
    progress
        Show a progress bar (default: only on an interactive terminal).

    Returns
    -------
    dict[str, OrganSurface]
        Organ name -> surface, in label order.

    Raises
    ------
    InputError
        Not a label map (float values, negative ids), an empty label map, unknown
        ``labels``, or bad parameters.
    """
    if method not in SURFACE_METHODS:
        raise InputError(f"unknown surface method {method!r}; valid: {list(SURFACE_METHODS)}")
    iterations = _check_smoothing(smoothing)
    if iterations and not (0.0 < float(passband) < 2.0):
        raise InputError(f"passband must be in (0, 2), got {passband!r}")
    if decimate is not None and not (0.0 <= float(decimate) < 1.0):
        raise InputError(f"decimate must be a target reduction in [0, 1), got {decimate!r}")
    decimate = float(decimate) if decimate else None
    lm = as_labelmap(labelmap).to_ras()
    tbl = load_label_table(table)
    arr = lm.array
    present, counts = _label_counts(arr)
    if present.size == 0:
        raise InputError(
            f"the label map is empty: all {arr.size} voxels are background (0); there are no organs to extract"
        )
    count_of = dict(zip(present.tolist(), counts.tolist()))
    if labels is not None:
        wanted = np.unique(np.asarray(list(labels), dtype=np.int64))
        missing = [int(v) for v in wanted if int(v) not in count_of]
        if missing:
            raise InputError(f"label(s) {missing} are not in the label map; present: {present.tolist()}")
        selected = wanted
    else:
        selected = present

    _enable_smp()
    affine = lm.affine
    lin, shift = affine[:3, :3], affine[:3, 3]
    mirrored = np.linalg.det(lin) < 0
    voxel_ml = lm.voxel_volume_mm3 / 1000.0

    def make(label, world, faces, normals, vol, area, centroid) -> OrganSurface:
        mesh = pv.PolyData.from_regular_faces(world, faces)
        if len(faces):
            mesh.point_data["Normals"] = normals
            mesh.point_data.active_normals_name = "Normals"
        info = tbl.info(label)
        return OrganSurface(
            label=label,
            name=info.name,
            color=info.color,
            mesh=mesh,
            volume_ml=vol / 1000.0,
            area_mm2=area,
            centroid_mm=np.asarray(centroid, dtype=np.float64),
            voxel_count=int(count_of[label]),
            voxel_volume_ml=count_of[label] * voxel_ml,
            method=method,
        )

    out: dict[str, OrganSurface] = {}
    if method == "surface_nets":
        total = 1 + (iterations > 0) + (decimate is not None) + len(selected)
        with progress_bar("organ surfaces", total, enabled=progress) as advance:
            shared = _surface_nets(arr, present, iterations, passband, decimate, advance)
            lin32, shift32 = lin.T.astype(np.float32), shift.astype(np.float32)
            world = shared.points @ lin32 + shift32
            tris = shared.tris[:, ::-1] if mirrored else shared.tris
            raw = shared.raw

            def raw_world() -> np.ndarray:
                return (raw + shared.offset) @ lin32 + shift32

            voxel_mm3 = counts * lm.voxel_volume_mm3
            for item in _shared_organs(
                world, tris, shared.per, shared.pairs, present, selected,
                voxel_mm3=voxel_mm3, raw_world=None if raw is None else raw_world,
            ):
                s = make(*item)
                out[s.name] = s
                advance(1, organ=s.name)
    else:
        with progress_bar("organ surfaces", len(selected), enabled=progress) as advance:
            for label, points, faces in _flying_edges(arr, selected, iterations, passband, decimate, advance):
                pts, faces = _compact(points, faces)
                world = pts @ lin.T + shift
                if mirrored:
                    faces = faces[:, ::-1]
                vol, area, centroid, fn = _measure(world, faces)
                s = make(label, world, faces, _vertex_normals(len(world), faces, fn), vol, area, centroid)
                out[s.name] = s
    return out


# =========================================================================== scene
def organs_to_scene(
    surfaces: Mapping[str, OrganSurface] | Iterable[OrganSurface],
    *,
    scene: Scene | None = None,
    name: str = "anatomy",
    group: str | None = "organs",
    opacity: float = 1.0,
    metadata: Mapping[str, Any] | None = None,
) -> Scene:
    """Put organ surfaces into a :class:`~twin3d.scene.Scene` (millimetres, RAS+).

    Each organ becomes an :class:`~twin3d.scene.Asset` with ``asset_type="organ"``,
    ``semantic_label`` = the organ name (the USD writer turns it into a
    ``UsdSemantics`` label), the table colour as material base colour, and metadata
    ``label``, ``volume_ml``, ``voxel_volume_ml``, ``area_mm2``, ``centroid_mm``.

    Parameters
    ----------
    surfaces
        Output of :func:`labelmap_to_surfaces` (or any iterable of OrganSurface).
    scene
        Add to this scene (its units must be ``"mm"``) instead of a new one.
    name
        Name of the new scene.
    group
        Group under which the organs go (``None``: directly under the root).
    opacity
        Material opacity of every organ.
    metadata
        Extra scene metadata (e.g. the source file).
    """
    items = list(surfaces.values()) if isinstance(surfaces, Mapping) else list(surfaces)
    if not items:
        raise InputError("no organ surfaces to put in a scene")
    if scene is None:
        scene = Scene(name=name, units="mm", up_axis="Z")
    elif scene.units != "mm":
        raise InputError(f"organ surfaces are in millimetres but scene {scene.name!r} uses {scene.units!r}")
    scene.metadata.setdefault("coordinate_system", "RAS")
    if metadata:
        scene.metadata.update(dict(metadata))
    parent = scene.group(group) if group else scene.root
    taken = {c.name for c in parent.children}
    for s in items:
        if not isinstance(s, OrganSurface):
            raise InputError(f"expected OrganSurface items, got {type(s).__name__}")
        asset_name = make_name(s.name)
        base, k = asset_name, 2
        while asset_name in taken:
            asset_name, k = f"{base}_{k}", k + 1
        taken.add(asset_name)
        asset = Asset(
            asset_name,
            mesh=s.mesh,
            material=Material(name=f"{asset_name}_material", base_color=s.color, roughness=0.6, opacity=opacity),
            asset_type="organ",
            semantic_label=s.name,
            metadata={
                "label": int(s.label),
                "organ": s.name,
                "volume_ml": float(s.volume_ml),
                "voxel_volume_ml": float(s.voxel_volume_ml),
                "area_mm2": float(s.area_mm2),
                "centroid_mm": [float(v) for v in s.centroid_mm],
                "coordinate_system": "RAS",
                "surface_method": s.method,
            },
        )
        scene.add(asset, parent=parent)
    return scene


# =========================================================================== spec
class AnatomySpec(BaseModel):
    """The ``anatomy`` section of a scene spec: an existing segmentation -> organ assets.

    Example (YAML)::

        units: mm
        anatomy:
          labelmap: data/abdomen_seg.nii.gz   # NIfTI file or DICOM folder, relative to the spec
          labels: totalsegmentator            # builtin | totalsegmentator | table.json | {id: name}
          organs: [liver, spleen, kidney_left, kidney_right]   # optional subset (names)
          method: surface_nets                # or flying_edges (closed surfaces)
          smoothing: 20                       # windowed-sinc iterations; false = none
          decimate: 0.5                       # optional target reduction
    """

    model_config = ConfigDict(extra="forbid")

    labelmap: str = PField(description="label map: NIfTI file or DICOM series folder, relative to the spec file")
    labels: str | dict[int, str | dict[str, Any]] = PField(
        default="builtin", description="label table: builtin, totalsegmentator, a JSON file, or {id: name}"
    )
    organs: list[str] | None = PField(default=None, description="only these organ names (default: every label)")
    method: Literal["surface_nets", "flying_edges"] = "surface_nets"
    smoothing: bool | int = PField(default=True, description="windowed-sinc iterations (true = 20, false/0 = none)")
    passband: float = PField(default=DEFAULT_PASSBAND, gt=0.0, lt=2.0)
    decimate: float | None = PField(default=None, ge=0.0, lt=1.0)
    group: str | None = PField(default="organs", description="group the organs go under (null: the root)")
    opacity: float = PField(default=1.0, ge=0.0, le=1.0)
    series_uid: str | None = PField(default=None, description="DICOM SeriesInstanceUID when the folder has several")

    @field_validator("smoothing")
    @classmethod
    def _smoothing(cls, v: bool | int) -> bool | int:
        if not isinstance(v, bool) and not 0 <= v <= 1000:
            raise ValueError("smoothing must be true/false or a number of iterations in [0, 1000]")
        return v


def apply_anatomy_spec(
    spec: AnatomySpec | Mapping[str, Any], scene: Scene, *, base_dir: str | os.PathLike = "."
) -> Scene:
    """Read the spec's label map and add one organ asset per label to ``scene`` (units ``"mm"``).

    Parameters
    ----------
    spec
        An :class:`AnatomySpec` or the raw mapping of the ``anatomy`` section.
    scene
        The scene to extend; it must use millimetres.
    base_dir
        Folder that relative paths in the spec are resolved against.
    """
    from .io.volumes import read_labelmap

    if not isinstance(spec, AnatomySpec):
        try:
            spec = AnatomySpec.model_validate(spec)
        except ValidationError as exc:
            problems = "; ".join(f"anatomy.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
            raise InputError(f"invalid anatomy spec: {problems}") from None
    base = Path(base_dir)
    labels: Any = spec.labels
    if isinstance(labels, str) and labels.lower() not in _TABLE_ALIASES:
        labels = base / labels
    table = load_label_table(labels)
    lm = read_labelmap(base / spec.labelmap, series_uid=spec.series_uid)
    subset = None
    if spec.organs is not None:
        unknown = [n for n in spec.organs if n not in table.names.values()]
        if unknown:
            raise InputError(
                f"anatomy.organs: {unknown} not in label table {table.name!r}; names: {sorted(table.names.values())}"
            )
        subset = [table.id_of(n) for n in spec.organs]
    surfaces = labelmap_to_surfaces(
        lm, table, method=spec.method, smoothing=spec.smoothing, passband=spec.passband,
        decimate=spec.decimate, labels=subset,
    )
    return organs_to_scene(
        surfaces, scene=scene, group=spec.group, opacity=spec.opacity,
        metadata={"labelmap": spec.labelmap, "label_table": table.name},
    )
