"""How a USD mesh looks, in twin3d's colour convention.

USD decides a face's colour the way Hydra (usdview, Omniverse) does:

* a bound ``UsdPreviewSurface`` material (the mesh's binding, or a ``GeomSubset``'s
  ``materialBind`` binding for its faces) gives the colour: a constant
  ``diffuseColor``; a ``UsdUVTexture`` image read through a ``st`` primvar; or a
  primvar read by a ``UsdPrimvarReader_float3`` (``displayColor`` in twin3d's files);
  ``opacity``, ``metallic`` and ``roughness`` likewise;
* with no material (or one twin3d cannot evaluate: MaterialX, MDL), the mesh's
  ``primvars:displayColor`` / ``displayOpacity`` give it, with any interpolation,
  indexed or not.

:func:`analyse_mesh` turns that into one :class:`MeshLook` per mesh: parts (subsets)
with their colours, and per-corner colours, opacities and texture coordinates;
:meth:`MeshLook.build` writes them in the smallest exact form of the convention shared
by twin3d's readers, writers and renderer:

* colours constant per part -> :attr:`twin3d.scene.Part.color` (and the material colour);
* else per triangle -> ``cell_data["displayColor"]``, else per point ->
  ``point_data["displayColor"]`` (float32 RGB in [0, 1]; a point whose faces disagree is
  split so each face corner keeps its colour); ``displayOpacity`` alike;
* a diffuse texture -> ``point_data["st"]`` (float32 (n, 2)) and
  :attr:`twin3d.scene.Material.texture` (a local image file; images inside a
  ``.usdz`` are extracted to a folder kept until the process exits; an image outside
  the stage's folder and the allowed folders is refused, :mod:`twin3d.confine`); textured faces are
  white in the colour arrays (the texture replaces the colour). :attr:`MeshLook.textures`
  and ``texture_of_tri`` say which faces show which image, so the reader can give each
  texture an asset of its own.

``displayColor`` that twin3d itself derived from a field (marked with
``customData["twin3d"]["colorBy"]``) is not an explicit colour: the field is read as a
field, and only a constant such colour becomes the material colour, as before.
"""

from __future__ import annotations

import atexit
import hashlib
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..confine import check_reference
from ..errors import InputError, Twin3DError
from ..scene import Part, make_name
from .diagnostics import Problems
from .meshdata import MeshArrays, expand, per_point, per_triangle, split_points

__all__ = ["Look", "Looks", "MeshLook", "CornerValues", "analyse_mesh", "NO_MATERIAL", "DEFAULT_COLOR", "LEVELS",
           "extracted_folder"]

#: Colour of faces that nothing colours (no material, no displayColor): twin3d's default grey.
DEFAULT_COLOR = (0.7, 0.7, 0.7)
#: How colours (and opacities) are stored, from the most compact: per part, per triangle, per point.
LEVELS = ("part", "cell", "point")
#: UsdPreviewSurface's defaults for unauthored inputs.
_PREVIEW_DEFAULTS = {"diffuseColor": (0.18, 0.18, 0.18), "opacity": 1.0, "metallic": 0.0, "roughness": 0.5}
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pnm", ".ppm")
_EXTRACTED: list[Path] = []


# --------------------------------------------------------------------------- looks
@dataclass(frozen=True)
class Look:
    """What a material (or its absence) says about the faces bound to it.

    Attributes
    ----------
    name
        Material prim name ("" without a material).
    color
        Constant diffuse colour, or the fallback when ``color_primvar`` is missing.
    color_primvar
        Primvar giving the diffuse colour (``displayColor`` without a material).
    opacity, opacity_primvar
        The same for opacity.
    metallic, roughness
        Constant UsdPreviewSurface inputs.
    texture
        Local image file of a diffuse ``UsdUVTexture``; its coordinates come from
        ``st_primvar``.
    """

    name: str = ""
    color: tuple[float, float, float] | None = None
    color_primvar: str | None = "displayColor"
    opacity: float | None = None
    opacity_primvar: str | None = "displayOpacity"
    metallic: float = 0.0
    roughness: float = 0.5
    texture: str | None = None
    st_primvar: str = "st"


#: The look of faces without a (usable) material: displayColor / displayOpacity.
NO_MATERIAL = Look()


def extracted_folder() -> Path:
    """The folder holding images extracted from ``.usdz`` packages (removed at exit)."""
    if not _EXTRACTED:
        folder = Path(tempfile.mkdtemp(prefix="twin3d-usd-textures-"))
        atexit.register(shutil.rmtree, folder, True)
        _EXTRACTED.append(folder)
    return _EXTRACTED[0]


class Looks:
    """Material looks of one stage, each material evaluated once; texture files resolved.

    Problems (unresolved or unreadable texture files) go to ``problems``. A texture
    file must lie in ``base`` (the stage's folder; default: the folder of the layer that
    names it) or an allowed folder (:func:`twin3d.confine.check_reference`), else
    :class:`~twin3d.errors.ConfinementError`; images inside a ``.usdz`` count as the
    package's folder.
    """

    def __init__(self, problems: Problems, time, *, base: str | Path | None = None, source: str = "") -> None:
        self.problems = problems
        self.time = time
        self.base = base
        self.source = source  # the file, for messages
        self._cache: dict[str, Look] = {}
        self._files: dict[str, str | None] = {}

    def of_prim(self, prim) -> Look:
        """The look of a mesh or GeomSubset: its bound material's, else :data:`NO_MATERIAL`."""
        from pxr import UsdShade

        api = UsdShade.MaterialBindingAPI(prim)
        material, _ = api.ComputeBoundMaterial(UsdShade.Tokens.preview)
        if not material:
            return NO_MATERIAL
        key = str(material.GetPath())
        if key not in self._cache:
            where = f"{self.source}: {key}" if self.source else key
            try:
                look = self._material_look(material)
            except Twin3DError:
                raise
            except (TypeError, ValueError, IndexError, OverflowError) as exc:
                raise InputError(f"{where}: cannot read its UsdPreviewSurface inputs ({' '.join(str(exc).split())})") \
                    from None
            values = [*(look.color or ()), look.opacity if look.opacity is not None else 0.0, look.metallic,
                      look.roughness]
            if not np.isfinite(np.asarray(values, dtype=float)).all():
                raise InputError(f"{where}: UsdPreviewSurface inputs that are not finite (NaN or infinity); "
                                 "expected colours and opacity in [0, 1]")
            self._cache[key] = look
        return self._cache[key]

    # -- materials
    def _material_look(self, material) -> Look:
        from pxr import UsdShade

        name = material.GetPrim().GetName()
        surface = material.ComputeSurfaceSource(UsdShade.Tokens.universalRenderContext)[0]
        if not surface or surface.GetShaderId() != "UsdPreviewSurface":
            return Look(name=name)  # MaterialX/MDL only: displayColor, as Hydra's fallback
        look = {"name": name, "color_primvar": None, "opacity_primvar": None}
        kind, value = self._input(surface, "diffuseColor")
        if kind == "value":
            look["color"] = _rgb(value)
        elif kind == "texture":
            shader, _out = value
            look.update(self._texture(shader))
        elif kind == "primvar":
            look["color_primvar"], fallback = value
            look["color"] = _rgb(fallback) if fallback is not None else None
        else:
            look["color"] = _PREVIEW_DEFAULTS["diffuseColor"]
        kind, value = self._input(surface, "opacity")
        if kind == "value":
            look["opacity"] = float(np.clip(float(value), 0.0, 1.0))
        elif kind == "primvar":
            look["opacity_primvar"], fallback = value
            look["opacity"] = None if fallback is None else float(np.clip(float(np.ravel(fallback)[0]), 0, 1))
        else:  # unauthored, or a texture's alpha (not drawn: opaque)
            look["opacity"] = 1.0
        for key in ("metallic", "roughness"):
            kind, value = self._input(surface, key)
            v = float(np.ravel(value)[0]) if kind == "value" else _PREVIEW_DEFAULTS[key]
            look[key] = float(np.clip(v, 0.0, 1.0))
        if look.get("color") is None and look.get("texture") is None and look["color_primvar"] is None:
            look["color"] = _PREVIEW_DEFAULTS["diffuseColor"]
        return Look(**look)

    def _input(self, shader, name: str):
        """``("value", v)``, ``("texture", (shader, output))``, ``("primvar", (name, fallback))`` or ``(None, None)``."""
        from pxr import UsdShade

        inp = shader.GetInput(name)
        if not inp:
            return None, None
        attrs = UsdShade.Utils.GetValueProducingAttributes(inp)
        if not attrs:
            return None, None
        attr = attrs[0]
        if UsdShade.Utils.GetType(attr.GetName()) != UsdShade.AttributeType.Output:
            value = attr.Get(self.time)
            return ("value", value) if value is not None else (None, None)
        source = UsdShade.Shader(attr.GetPrim())
        sid = str(source.GetShaderId() or "")
        if sid == "UsdUVTexture":
            return "texture", (source, UsdShade.Utils.GetBaseNameAndType(attr.GetName())[0])
        if sid.startswith("UsdPrimvarReader"):
            return "primvar", (self._string_input(source, "varname"), self._value_input(source, "fallback"))
        return None, None

    def _value_input(self, shader, name: str, with_layer: bool = False):
        """The value of input ``name`` (through connections to material inputs); with
        ``with_layer``, ``(value, file of the layer that authored it)``."""
        from pxr import UsdShade

        inp = shader.GetInput(name)
        attrs = UsdShade.Utils.GetValueProducingAttributes(inp) if inp else []
        value, layer = None, None
        if attrs and UsdShade.Utils.GetType(attrs[0].GetName()) != UsdShade.AttributeType.Output:
            value = attrs[0].Get(self.time)
            if with_layer:
                stack = attrs[0].GetPropertyStack(self.time)
                if stack and not stack[0].layer.anonymous:
                    layer = stack[0].layer.realPath or None
        return (value, layer) if with_layer else value

    def _string_input(self, shader, name: str) -> str | None:
        v = self._value_input(shader, name)
        return None if v is None or str(v) == "" else str(v)

    def _texture(self, shader) -> dict:
        """A diffuse UsdUVTexture: its local image file and ``st`` primvar; ``color`` is its
    fallback, shown where the image or the texture coordinates are missing."""
        from pxr import Sdf

        fallback = self._value_input(shader, "fallback")
        fallback_rgb = _rgb(fallback) if fallback is not None else None
        out: dict = {"color": fallback_rgb}
        asset, referrer = self._value_input(shader, "file", with_layer=True)
        st_name = "st"
        st_kind, st_value = self._input(shader, "st")
        if st_kind == "primvar" and st_value[0]:
            st_name = st_value[0]
        if not isinstance(asset, Sdf.AssetPath) or not asset.path:
            return out
        local = self.local_file(asset, referrer=referrer)
        if local is None:
            return out
        out.update(texture=local, st_primvar=st_name)
        return out

    def local_file(self, asset, *, referrer: str | None = None) -> str | None:
        """A local file for an ``Sdf.AssetPath`` (images in a ``.usdz`` are extracted), or None.

        ``referrer`` is the file of the layer that names it: the resolved file must lie in
        :attr:`base` (default: the referrer's folder) or an allowed folder, else
        :class:`~twin3d.errors.ConfinementError`.
        """
        resolved = str(asset.resolvedPath or "")
        key = resolved or asset.path
        if key in self._files:
            return self._files[key]
        ref_file = referrer or (str(Path(self.base) / "stage") if self.base is not None else None)
        if resolved and ref_file is not None:  # (a texture named in memory, by the caller's code, is theirs)
            outer = resolved[:resolved.index("[")] if resolved.endswith("]") and "[" in resolved else resolved
            referrer_outer = ref_file[:ref_file.index("[")] if ref_file.endswith("]") and "[" in ref_file else ref_file
            shown = "USD texture" if asset.path == outer else f"USD texture @{asset.path}@"
            check_reference(outer, referrer=referrer_outer, what=shown, base=self.base)
        local = None
        if not resolved:
            self.problems.add("asset", asset.path)
        elif resolved.endswith("]") and "[" in resolved:
            local = self._extract(resolved, asset.path)
        elif Path(resolved).is_file():
            local = resolved
        else:
            self.problems.add("asset", asset.path)
        if local is not None and Path(local).suffix.lower() not in _IMAGE_SUFFIXES:
            self.problems.add("texture", f"{asset.path}: VTK reads {', '.join(_IMAGE_SUFFIXES)}")
            local = None
        self._files[key] = local
        return local

    def _extract(self, resolved: str, shown: str) -> str | None:
        """Copy an image out of a USD package (``a.usdz[textures/b.png]``) into :func:`extracted_folder`."""
        from pxr import Ar

        try:
            data = Ar.GetResolver().OpenAsset(Ar.ResolvedPath(resolved))
            buffer = bytes(data.GetBuffer()) if data else None
        except Exception:  # noqa: BLE001 - pxr raises several types for broken packages
            buffer = None
        if not buffer:
            self.problems.add("texture", f"{shown}: cannot be read from its package")
            return None
        inner = resolved[resolved.rfind("[") + 1:-1]
        digest = hashlib.blake2b(resolved.encode(), digest_size=6).hexdigest()
        target = extracted_folder() / f"{digest}_{Path(inner).name}"
        if not target.exists():
            tmp = target.with_name(target.name + ".part")
            tmp.write_bytes(buffer)
            tmp.replace(target)
        return str(target)


def _rgb(value) -> tuple[float, float, float]:
    v = np.ravel(np.asarray(value, dtype=float))
    if v.size < 3:
        v = np.resize(v if v.size else [0.0], 3)
    return tuple(float(x) for x in np.clip(v[:3], 0.0, 1.0))


# --------------------------------------------------------------------------- meshes
class CornerValues:
    """Values per triangle corner (colours, opacities), kept compact while they are constant.

    Most meshes are coloured by a few constants (one per material); only a primvar that
    varies over the mesh needs the full (m, 3, k) array, made on the first such write.
    """

    def __init__(self, m: int, k: int) -> None:
        self.m, self.k = m, k
        self.palette: list[np.ndarray] = []
        self.ids = np.zeros(m, dtype=np.int64)
        self.full: np.ndarray | None = None

    def set_constant(self, sel: np.ndarray, value) -> None:
        value = np.clip(np.asarray(value, dtype=np.float64).reshape(self.k), 0.0, 1.0)
        if self.full is not None:
            self.full[sel] = value
            return
        for i, known in enumerate(self.palette):
            if np.array_equal(known, value):
                self.ids[sel] = i
                return
        self.palette.append(value)
        self.ids[sel] = len(self.palette) - 1

    def set_corners(self, sel: np.ndarray, corners: np.ndarray) -> None:
        if self.full is None:
            self.full = self.array().copy()
        self.full[sel] = np.clip(corners[sel], 0.0, 1.0)

    def array(self) -> np.ndarray:
        """The (m, 3, k) per-corner values."""
        if self.full is not None:
            return self.full
        table = np.stack(self.palette) if self.palette else np.zeros((1, self.k))
        return np.broadcast_to(table[self.ids][:, None, :], (self.m, 3, self.k))

    def constant_on(self, sel: np.ndarray) -> tuple | None:
        """The single value on the triangles ``sel`` (None when they differ or are none)."""
        if not sel.any():
            return None
        if self.full is None:
            ids = self.ids[sel]
            first = int(ids[0])
            return tuple(float(v) for v in self.palette[first]) if ids.min() == ids.max() == first else None
        v = self.full[sel].reshape(-1, self.k)
        return tuple(float(x) for x in v[0]) if np.all(v == v[0]) else None

    def per_triangle(self) -> bool:
        return self.full is None or per_triangle(self.full) is not None

    def min(self) -> float:
        if self.full is None:
            return float(min(p.min() for p in self.palette)) if self.palette else 1.0
        return float(self.full.min()) if self.full.size else 1.0


@dataclass
class MeshLook:
    """The appearance of one triangulated mesh, per triangle corner, before it is stored.

    :meth:`build` stores it at a storage level at least the one asked for (see
    :data:`LEVELS`; assets merging several meshes store all of them at the same level).
    """

    arrays: MeshArrays
    parts: list[Part]
    part_id: np.ndarray  # (m,) part of each triangle
    colors: CornerValues  # RGB per corner
    opacity: CornerValues  # opacity per corner
    st: np.ndarray | None  # (m, 3, 2) per-corner texture coordinates (textured meshes)
    look: Look  # the mesh's main look (material name, metallic, roughness)
    color_level: str = "part"
    opacity_level: str = "part"
    constant_opacity: float = 1.0
    textures: list[str] = field(default_factory=list)  # diffuse textures drawn on the mesh
    texture_of_tri: np.ndarray | None = None  # (m,) index into textures, -1: untextured

    @property
    def uniform_color(self) -> tuple | None:
        """The mesh's one colour, when it has one."""
        return self.colors.constant_on(np.ones(len(self.part_id), bool))

    def build(self, color_level: str = "part", opacity_level: str = "part", with_st: bool = False):
        """``(polydata, source_point)``: the mesh with its colour arrays; ``source_point`` maps
        each point to the USD point it copies (None when no point was split)."""
        import pyvista as pv

        c_level = LEVELS[max(LEVELS.index(color_level), LEVELS.index(self.color_level))]
        o_level = LEVELS[max(LEVELS.index(opacity_level), LEVELS.index(self.opacity_level))]
        a = self.arrays
        tris, pts = a.tris, a.points
        m = len(tris)
        point_arrays, keys = {}, []
        wanted = []
        if c_level == "point":
            wanted.append(("displayColor", self.colors.array()))
        if o_level == "point":
            wanted.append(("displayOpacity", self.opacity.array()))
        if with_st:
            st = self.st if self.st is not None else np.zeros((m, 3, 2))
            wanted.append(("st", st))
        for name, corner in wanted:
            values = per_point(corner, tris, len(pts))
            if values is None:
                keys.append(corner)
            point_arrays[name] = values
        source = None
        if keys:
            tris, source, corner_idx = split_points(tris, keys)
            pts = pts[source]
            for name, corner in wanted:
                point_arrays[name] = np.asarray(corner).reshape(m * 3, -1)[corner_idx]
        poly = pv.PolyData.from_regular_faces(np.array(pts, dtype=np.float64), np.asarray(tris, dtype=np.int64))
        poly.cell_data["part_id"] = self.part_id.astype(np.int32)
        for name, values in point_arrays.items():
            values = np.asarray(values, dtype=np.float32)
            poly.point_data[name] = values[:, 0] if name == "displayOpacity" else values
        if c_level == "cell":
            poly.cell_data["displayColor"] = np.asarray(self.colors.array()[:, 0], dtype=np.float32)
        if o_level == "cell":
            poly.cell_data["displayOpacity"] = np.asarray(self.opacity.array()[:, 0, 0], dtype=np.float32)
        return poly, source


def analyse_mesh(prim, arrays: MeshArrays, looks: Looks, time, *, shown_name: str | None = None) -> MeshLook:
    """The :class:`MeshLook` of a ``UsdGeom.Mesh`` prim (see the module docstring for the rules)."""
    from pxr import UsdGeom, UsdShade

    m = len(arrays.tris)
    imageable = UsdGeom.Imageable(prim)
    mesh_name = make_name(shown_name or prim.GetName())
    # looks per triangle: the mesh's binding, overridden by materialBind subsets
    mesh_look = looks.of_prim(prim)
    look_list = [mesh_look]
    look_of_tri = np.zeros(m, dtype=np.int64)
    bind_subsets = [s for s in UsdShade.MaterialBindingAPI(prim).GetMaterialBindSubsets()
                    if s.GetElementTypeAttr().Get() == UsdGeom.Tokens.face]
    bind_parts = []
    for sub in bind_subsets:
        hit = _faces_hit(sub, arrays, time)
        look = looks.of_prim(sub.GetPrim())
        look_list.append(look)
        look_of_tri[hit] = len(look_list) - 1
        bind_parts.append((sub.GetPrim(), hit))
    # parts: "part" subsets (twin3d's files), else the materialBind subsets, else the mesh
    part_subsets = UsdGeom.Subset.GetGeomSubsets(imageable, "face", "part")
    parts: list[Part] = []
    part_id = np.full(m, -1, dtype=np.int64)
    fixed_colors: dict[int, tuple] = {}
    if part_subsets:
        for sub in part_subsets:
            hit = _faces_hit(sub, arrays, time) & (part_id < 0)
            color = sub.GetPrim().GetCustomDataByKey("twin3d:color")
            parts.append(Part(make_name(sub.GetPrim().GetName())))
            if color is not None:
                fixed_colors[len(parts) - 1] = _custom_color(color, looks.source, sub)
            part_id[hit] = len(parts) - 1
    else:
        for sub_prim, hit in bind_parts:
            hit = hit & (part_id < 0)
            if hit.any():
                parts.append(Part(make_name(sub_prim.GetName())))
                part_id[hit] = len(parts) - 1
    if (part_id < 0).any():
        parts.append(Part(mesh_name + "_rest" if parts else mesh_name))
        part_id[part_id < 0] = len(parts) - 1

    # colours and opacities per corner
    colors = CornerValues(m, 3)
    opacity = CornerValues(m, 1)
    st = None
    textures: list[str] = []
    texture_of_tri = np.full(m, -1, dtype=np.int64)
    primvars = UsdGeom.PrimvarsAPI(prim)
    cache: dict[tuple, object] = {}

    def primvar_corners(name: str, width: int):
        key = (name, width)
        if key not in cache:
            cache[key] = _primvar_corners(primvars, name, arrays, time, width,
                                          where=f"{looks.source}: {prim.GetPath()}" if looks.source else str(prim.GetPath()))
        return cache[key]

    for li, look in enumerate(look_list):
        sel = look_of_tri == li if len(look_list) > 1 else np.ones(m, bool)
        if not sel.any():
            continue
        if look.texture is not None:
            uv = primvar_corners(look.st_primvar, 2)
            if isinstance(uv, tuple):
                uv = np.broadcast_to(np.asarray(uv, float), (m, 3, 2))
            if uv is None:
                looks.problems.add("texture", f"{Path(look.texture).name}: mesh {mesh_name} has no "
                                              f"'{look.st_primvar}' texture coordinates")
            else:
                if look.texture not in textures:
                    textures.append(look.texture)
                texture_of_tri[sel] = textures.index(look.texture)
                if st is None:
                    st = np.zeros((m, 3, 2))
                st[sel] = uv[sel]
                colors.set_constant(sel, (1.0, 1.0, 1.0))  # the texture replaces the colour
                opacity.set_constant(sel, 1.0 if look.opacity is None else look.opacity)
                continue
        c = primvar_corners(look.color_primvar, 3) if look.color_primvar else None
        if c is None:
            colors.set_constant(sel, look.color or DEFAULT_COLOR)
        elif isinstance(c, tuple):
            colors.set_constant(sel, c)
        else:
            colors.set_corners(sel, c)
        o = primvar_corners(look.opacity_primvar, 1) if look.opacity_primvar else None
        if o is None:
            opacity.set_constant(sel, 1.0 if look.opacity is None else look.opacity)
        elif isinstance(o, tuple):
            opacity.set_constant(sel, o)
        else:
            opacity.set_corners(sel, o)
    main = mesh_look
    if mesh_look is NO_MATERIAL and bind_subsets:
        main = next((lk for lk in look_list[1:]), mesh_look)

    # part colours: a part whose corners all share one colour
    for pid in range(len(parts)):
        parts[pid].color = fixed_colors.get(pid) or colors.constant_on(part_id == pid)
    if fixed_colors or all(p.color is not None for p in parts):
        color_level = "part"
    else:
        color_level = "cell" if colors.per_triangle() else "point"
        first = colors.array()[:, 0]
        for pid, p in enumerate(parts):  # a representative colour per part (labels, legends)
            sel = part_id == pid
            if p.color is None and sel.any():
                p.color = tuple(float(v) for v in first[sel][0])
    whole = opacity.constant_on(np.ones(m, bool))
    if whole is not None:
        opacity_level, constant_opacity = "part", float(whole[0])
    else:
        opacity_level = "cell" if opacity.per_triangle() else "point"
        constant_opacity = opacity.min()
    return MeshLook(arrays, parts, part_id, colors, opacity, st, main, color_level=color_level,
                    opacity_level=opacity_level, constant_opacity=constant_opacity, textures=textures,
                    texture_of_tri=texture_of_tri if textures else None)


def _faces_hit(subset, arrays: MeshArrays, time) -> np.ndarray:
    """(m,) bool: the triangles of the faces listed by a face GeomSubset."""
    faces = np.asarray(subset.GetIndicesAttr().Get(time) or [], dtype=np.int64)
    member = np.zeros(arrays.n_faces, dtype=bool)
    member[faces[(faces >= 0) & (faces < arrays.n_faces)]] = True
    return member[arrays.face_of_tri]


def _custom_color(color, source: str, subset) -> tuple[float, float, float]:
    """twin3d's ``customData["twin3d:color"]`` of a part (``subset``, in file ``source``):
    three finite numbers, clipped to [0, 1]."""
    try:
        rgb = [float(c) for c in color]
    except (TypeError, ValueError):
        rgb = []
    if len(rgb) != 3 or not all(math.isfinite(c) for c in rgb):
        raise InputError(f"{source}: {subset.GetPath()}: customData twin3d:color {color!r}: "
                         "expected three finite numbers (RGB in [0, 1])")
    return tuple(min(max(c, 0.0), 1.0) for c in rgb)


def _primvar_corners(primvars, name: str, arrays: MeshArrays, time, width: int, where: str = "mesh"):
    """Per-corner values of primvar ``name`` (with inheritance): an (m, 3, width) array, a
    tuple for a constant, or None when absent, empty, of the wrong size, or a non-constant
    colour twin3d derived from a field. Values that are not finite raise InputError at ``where``."""
    from pxr import Tf

    primvar = primvars.FindPrimvarWithInheritance(name)
    if not primvar or not primvar.HasValue():
        return None
    custom = primvar.GetAttr().GetCustomData() or {}
    derived = isinstance(custom.get("twin3d"), dict) and "colorBy" in custom["twin3d"]
    try:
        values = primvar.ComputeFlattened(time)
    except Tf.ErrorException:
        return None
    if values is None or len(values) == 0:
        return None
    try:
        v = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    except (TypeError, ValueError):
        return None  # not numbers (a string primvar of that name): not a colour
    if v.shape[1] < width:
        return None
    v = v[:, :width]
    finite = np.isfinite(v).all(axis=1)
    if not finite.all():
        raise InputError(f"{where}: primvars:{name} value {int(np.argmin(finite))} is not finite; "
                         "expected numbers in [0, 1]")
    interp = primvar.GetInterpolation()
    if interp == "constant" or len(v) == 1:
        return tuple(float(x) for x in v[0])
    if derived:  # twin3d's field colours: the field is read as a field
        return None
    out = expand(v, interp, arrays)
    return None if out is None else np.ascontiguousarray(out)
