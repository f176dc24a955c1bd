"""USD stage -> Scene. Reads twin3d stages and any other USD file with meshes.

Rules (``docs/usd.md``, "Reading foreign USD", has the full list):

* ``Xform`` (and typeless) prims become groups; a prim of kind ``component`` (or with
  ``TwinAssetAPI``) becomes one asset whose mesh merges every ``Mesh`` below it (each
  mesh or ``part`` / ``materialBind`` GeomSubset becomes a named part); a ``Mesh``
  outside a component becomes an asset of its own. Transforms are kept relative to the
  parent asset.
* Native instances (instance proxies) become one asset each; a ``UsdGeomPointInstancer``
  becomes a group with one asset per visible instance (positions, orientations,
  scales, proto indices, invisible ids), its prototypes are not drawn on their own.
* ``purpose``: ``guide`` prims are skipped, and ``proxy`` prims too when the stage has
  ``render`` ones. Payloads are loaded.
* Colours, opacities, materials and textures: see :mod:`twin3d.usd.appearance`.
* ``primvars:twin:*`` become fields, ``TwinSensorAPI`` attributes sensor series.
* Geometry and transforms are read at the stage's start time code (the first time
  sample when the stage has no time range): the scene model animates fields, not
  geometry. Animated fields and sensors get one value per integer time code of the
  stage's range, interpolated from their authored samples as USD does (linear or held);
  the memory this takes is estimated and checked against the budget
  (:mod:`twin3d.budgets`) before anything is allocated.
* Hostile or broken files: every layer the file pulls in is checked before USD opens it
  (:mod:`twin3d.usd.layers`: confinement to the file's folder and ``--allow-path``
  folders), textures likewise; missing sublayers, references and payloads are errors
  unless ``allow_missing`` (then one :class:`~twin3d.usd.diagnostics.UsdReadWarning`
  per kind, as for MaterialX files and unresolved textures); non-finite points and
  transforms, and twin metadata that is not what twin3d writes, are
  :class:`~twin3d.errors.InputError` naming the prim; empty meshes are left out with a
  warning (a stage whose only meshes are empty is an error); USD's own raw warnings
  (and what it prints straight to file descriptor 2) are not printed; while USD reads,
  the process may not grow beyond the memory budget (:func:`_address_space_guard`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
from pathlib import Path

import numpy as np

from ..budgets import check_memory, format_size, memory_budget
from ..errors import BudgetError, InputError, MissingFileError, Twin3DError, UnsupportedFormatError
from ..scene import UNITS, Asset, Field, Material, Part, Scene, Transform, make_name
from .appearance import DEFAULT_COLOR, LEVELS, Looks, analyse_mesh
from .diagnostics import Problems, collect_problems, missing_layers_allowed, stderr_captured, usd_error_text
from .layers import open_layers
from .meshdata import mesh_bytes, read_mesh
from .schema import ASSET_API, register_schema

__all__ = ["read_usd", "stage_to_scene", "READ_EXTENSIONS"]

READ_EXTENSIONS = (".usd", ".usda", ".usdc", ".usdz")


#: Memory of one asset read from a point instancer's instance (Python objects), for the budget.
INSTANCE_BYTES = 2048
_NUMERIC = {"float", "double", "half", "int", "uint", "int64", "uint64", "uchar"}
_VALUE_ERRORS = (TypeError, ValueError, IndexError, KeyError, AttributeError, OverflowError, RecursionError)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@contextlib.contextmanager
def _located(where):
    """Errors reading a value (wrong type, bad JSON, a Field that does not validate) ->
    one InputError starting with ``where()`` (file: prim.attribute; made only on errors)."""
    try:
        yield
    except BudgetError:
        raise
    except Twin3DError as exc:
        if str(exc).startswith(where()):
            raise
        raise InputError(f"{where()}: {_one_line(exc)}") from None
    except _VALUE_ERRORS as exc:
        raise InputError(f"{where()}: {_one_line(exc)}") from None


def _json_object(text, where: str) -> dict:
    """A JSON object stored as a string (twin3d's metadata), or InputError at ``where``."""
    if not isinstance(text, str):
        raise InputError(f"{where}: expected a JSON object as a string, got {type(text).__name__}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg} at character {exc.pos}); expected a JSON object") from None
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply; expected a JSON object") from None
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a JSON object, got a JSON {type(value).__name__}")
    return value


@contextlib.contextmanager
def _address_space_guard():
    """While USD reads a file, let the process use at most its present memory plus the
    memory budget (the soft ``RLIMIT_AS``; restored after).

    A corrupt ``.usdc`` can claim 10^9 fields or array elements in a few bytes: USD then
    allocates (and zeroes) tens of GiB before it notices. Under the limit the allocation
    fails at once and USD reports ``std::bad_alloc`` as an error, which :func:`read_usd`
    turns into a :class:`~twin3d.errors.BudgetError`. The limit is the process's: other
    threads allocating during the read are held to it too. Where the platform has no
    such limit (or it is already lower) nothing changes.
    """
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = used + memory_budget()
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        if soft != resource.RLIM_INFINITY and soft <= limit:
            raise ValueError("already limited")
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError, AttributeError):
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _out_of_memory(path) -> BudgetError:
    return BudgetError(f"{path}: reading it needs more memory than the budget of {format_size(memory_budget())} "
                       "(USD ran out of memory while reading it: a corrupt file?); raise it with --max-memory SIZE "
                       "or TWIN3D_MAX_MEMORY=SIZE if the file is right")


def _twin_layer_data(stage, source: str = "") -> dict:
    """The root layer's ``customLayerData["twin3d"]`` (written by twin3d), checked."""
    data = stage.GetRootLayer().customLayerData or {}
    twin = data.get("twin3d", {})
    where = f"{source}: customLayerData twin3d" if source else "customLayerData twin3d"
    if not isinstance(twin, dict):
        raise InputError(f"{where}: expected a dictionary, got {type(twin).__name__}")
    twin = dict(twin)
    if "frameTimes" in twin:
        try:
            times = np.asarray(twin["frameTimes"], dtype=float).reshape(-1)
        except _VALUE_ERRORS:
            times = None
        if times is None or not np.isfinite(times).all():
            raise InputError(f"{where}.frameTimes: expected a list of finite numbers (seconds)")
        twin["frameTimes"] = times
    return twin


def _np(m) -> np.ndarray:
    """Gf.Matrix4d (row vectors) -> numpy column-vector convention."""
    return np.array(m, dtype=float).T


def _asset_value(v) -> float:
    """A per-asset field value: a scalar, or the one element of a constant ``float[]``
    primvar (the USD writer's form, since importers such as Blender read only array primvars)."""
    return float(np.asarray(v, dtype=np.float64).reshape(-1)[0])


def _sub_poly(poly, mask: np.ndarray):
    """``(sub_mesh, used)``: the triangles ``mask`` of ``poly`` with their data; ``used`` are the
    indices of its points in ``poly``."""
    import pyvista as pv

    faces = np.asarray(poly.regular_faces, dtype=np.int64)[mask]
    used, inverse = np.unique(faces.reshape(-1), return_inverse=True)
    sub = pv.PolyData.from_regular_faces(np.asarray(poly.points, dtype=np.float64)[used],
                                         np.asarray(inverse).reshape(-1, 3))
    for k in poly.point_data.keys():
        sub.point_data[k] = np.asarray(poly.point_data[k])[used]
    for k in poly.cell_data.keys():
        sub.cell_data[k] = np.asarray(poly.cell_data[k])[mask]
    return sub, used


def _flipped(poly):
    """``poly`` with every triangle's winding reversed (a mirroring transform), data kept."""
    out = type(poly).from_regular_faces(np.asarray(poly.points), np.asarray(poly.regular_faces)[:, ::-1])
    for k in poly.point_data.keys():
        out.point_data[k] = poly.point_data[k]
    for k in poly.cell_data.keys():
        out.cell_data[k] = poly.cell_data[k]
    return out


def _merge_polys(polys: list):
    """Concatenate triangle meshes with the point and cell arrays they all have."""
    import pyvista as pv

    if len(polys) == 1:
        return polys[0]
    offsets = np.cumsum([0] + [p.n_points for p in polys[:-1]])
    pts = np.concatenate([np.asarray(p.points, dtype=np.float64) for p in polys])
    faces = np.concatenate([np.asarray(p.regular_faces, dtype=np.int64) + o for p, o in zip(polys, offsets)])
    out = pv.PolyData.from_regular_faces(pts, faces)
    for name in set.intersection(*(set(p.point_data.keys()) for p in polys)):
        out.point_data[name] = np.concatenate([np.asarray(p.point_data[name]) for p in polys])
    for name in set.intersection(*(set(p.cell_data.keys()) for p in polys)):
        out.cell_data[name] = np.concatenate([np.asarray(p.cell_data[name]) for p in polys])
    return out


class _Reader:
    def __init__(self, stage, problems: Problems, source: str = "", base: Path | None = None):
        from pxr import Usd, UsdGeom, UsdShade

        self.Usd, self.UsdGeom, self.UsdShade = Usd, UsdGeom, UsdShade
        self.stage = stage
        self.problems = problems
        self.source = source or str(stage.GetRootLayer().identifier)
        # geometry and transforms: the start time (usdview's first frame), else the first sample
        self.has_range = stage.HasAuthoredTimeCodeRange()
        start, end = stage.GetStartTimeCode(), stage.GetEndTimeCode()
        if self.has_range and not (math.isfinite(start) and math.isfinite(end)):
            raise InputError(f"{self.source}: time code range {start:g}..{end:g} is not finite; "
                             "expected finite startTimeCode and endTimeCode")
        self.time = Usd.TimeCode(start) if self.has_range else Usd.TimeCode.EarliestTime()
        self.cache = UsdGeom.XformCache(self.time)
        self.looks = Looks(problems, self.time, base=base, source=self.source)
        self.pred = Usd.TraverseInstanceProxies(Usd.PrimDefaultPredicate)
        data = _twin_layer_data(stage, self.source)
        self.ours = "version" in data
        self.tcps = float(stage.GetTimeCodesPerSecond() or 24.0)
        if not (math.isfinite(self.tcps) and self.tcps > 0):
            raise InputError(f"{self.source}: timeCodesPerSecond {self.tcps:g}: expected a positive number")
        self._own_times = data.get("frameTimes")  # twin3d's files: frame i at time code i
        self._frames: tuple | None = None  # (time codes, frame times), made on first use
        self._spent = 0.0  # bytes of meshes, instances and time series read so far (budget)
        self._budget = memory_budget()
        self.linear = stage.GetInterpolationType() == Usd.InterpolationTypeLinear
        self.has_render_purpose = self._any_render_purpose()
        self._arrays: dict[tuple, object] = {}  # triangulated meshes by where their topology comes from
        self.current = "/"  # the prim being read (for messages)
        self.n_meshes = 0  # meshes read with triangles
        self.empty_meshes: list[str] = []

    def where(self, prim, attr: str | None = None) -> str:
        """``file: /prim/path`` (``.attribute``) for messages."""
        return f"{self.source}: {prim.GetPath()}" + (f".{attr}" if attr else "")

    def spend(self, nbytes: float, what, detail: str = "") -> None:
        """Count ``nbytes`` more for this read and check the total against the memory budget
        (``what``: a string, or a function making it, called only when the budget is exceeded)."""
        self._spent += nbytes
        if self._spent <= self._budget and not math.isnan(nbytes):
            return
        what = what() if callable(what) else what
        check_memory(nbytes, what, detail=detail)
        check_memory(self._spent, f"reading {self.source}", detail=f"everything read so far; last: {what}")

    # -- time
    def frames(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(time codes, frame times in s)`` of the frames, or None for a static stage.

        twin3d's files list their frame times; other stages have one frame per integer
        time code from ``startTimeCode`` to ``endTimeCode``. Made on first use (an
        animated field or sensor), after checking the memory it needs.
        """
        if self._frames is None:
            if self._own_times is not None:
                n = len(self._own_times)
                self._frames = (np.arange(n, dtype=float), self._own_times) if n else ()
            else:
                s, e = self.stage.GetStartTimeCode(), self.stage.GetEndTimeCode()
                if not self.has_range or e <= s:
                    self._frames = ()
                else:
                    n = math.floor(e - s) + 1
                    self.spend(16.0 * n, lambda: f"{self.source}: {n:,} frames (time codes {s:g} to {e:g})",
                               f"{n:,} frames × 16 B")
                    codes = np.arange(n, dtype=float) + s
                    self._frames = (codes, codes / self.tcps)
        return self._frames or None

    @property
    def frame_times(self) -> np.ndarray | None:
        f = self.frames()
        return None if f is None else f[1]

    def _any_render_purpose(self) -> bool:
        render = self.UsdGeom.Tokens.render
        for prim in self.Usd.PrimRange.Stage(self.stage, self.pred):
            if prim.IsA(self.UsdGeom.Imageable):
                attr = self.UsdGeom.Imageable(prim).GetPurposeAttr()
                if attr.HasAuthoredValue() and attr.Get() == render:
                    return True
        return False

    def world(self, prim) -> np.ndarray:
        m = _np(self.cache.GetLocalToWorldTransform(prim))
        if not np.isfinite(m).all():
            bad = prim
            for p in reversed(prim.GetPath().GetPrefixes()):  # the topmost prim with a bad local transform
                q = self.stage.GetPrimAtPath(p)
                if q and q.IsA(self.UsdGeom.Xformable):
                    local = np.array(self.UsdGeom.Xformable(q).GetLocalTransformation(self.time), dtype=float)
                    if not np.isfinite(local).all():
                        bad = q
            raise InputError(f"{self.where(bad)}: its transform has values that are not finite (NaN or infinity); "
                             "expected finite xformOp values")
        return m

    def inverse(self, m: np.ndarray, prim) -> np.ndarray:
        """The inverse of ``prim``'s world matrix ``m`` (InputError when it has none)."""
        if self.singular(prim):
            raise InputError(f"{self.where(prim)}: its transform is singular (a scale of 0); it cannot hold an asset")
        return np.linalg.inv(m)

    def singular(self, prim) -> bool:
        """Whether ``prim``'s world transform collapses space (a scale of 0); it must be finite."""
        self.world(prim)  # non-finite: InputError
        return abs(self.cache.GetLocalToWorldTransform(prim).GetDeterminant3()) < 1e-300

    # -- what is drawn
    def skipped(self, prim) -> bool:
        """Prims not drawn: guides, proxies beside render geometry, invisible geometry below a component."""
        if not prim.IsA(self.UsdGeom.Imageable):
            return False
        attr = self.UsdGeom.Imageable(prim).GetPurposeAttr()
        if not attr.HasAuthoredValue():
            return False
        purpose = attr.Get()
        T = self.UsdGeom.Tokens
        return purpose == T.guide or (purpose == T.proxy and self.has_render_purpose)

    def is_drawable_container(self, prim) -> bool:
        """Imageable prims, and typeless prims or prims of a type no loaded schema defines
        (valid USD: ``def "World"``), are traversed like Xforms."""
        return (prim.IsA(self.UsdGeom.Imageable) or prim.GetTypeName() == ""
                or prim.GetPrimTypeInfo().GetSchemaType().isUnknown)

    # -- values
    def _series(self, attr, per_frame, width: int = 1):
        """``(value, False)`` for a static ``attr``, or ``(values, True)``: one row per frame.

        An animated attribute is read at its authored samples only and expanded to the
        frames as USD resolves values between samples: linear interpolation for
        floating-point values on a stage with linear interpolation, else the earlier
        sample held; before the first / after the last sample, that sample. ``width``
        is the number of values per frame (for the memory estimate, checked first).
        Returns ``(None, True)`` when samples differ in size (nothing to interpolate).
        """
        frames = self.frames() if attr.GetNumTimeSamples() > 0 else None
        if frames is None:
            return per_frame(attr.Get()), False
        codes = frames[0]
        times = np.asarray(attr.GetTimeSamples(), dtype=float)
        n = len(codes)
        self.spend(8.0 * n * (max(int(width), 1) + 4), lambda: f"{self.where(attr.GetPrim(), attr.GetName())}: "
                   f"{n:,} frames", f"{n:,} frames × {width:,} values × 8 B")
        samples = [per_frame(attr.Get(self.Usd.TimeCode(float(t)))) for t in times]
        shapes = {getattr(v, "shape", ()) for v in samples}
        if len(shapes) != 1:
            return None, True
        vals = np.asarray(samples, dtype=np.float64)
        k = len(times)
        if k == n and np.array_equal(times, codes):  # a sample on every frame (twin3d's own files)
            return vals, True
        i = np.searchsorted(times, codes, side="right") - 1  # the last sample at or before each frame
        lo, hi = np.clip(i, 0, k - 1), np.clip(i + 1, 0, k - 1)
        out = vals[lo]
        scalar = str(attr.GetTypeName().scalarType) in ("float", "double", "half")
        if self.linear and scalar and k > 1:
            span = times[hi] - times[lo]
            w = np.where((span > 0) & (i >= 0), (codes - times[lo]) / np.where(span > 0, span, 1.0), 0.0)
            w = w.reshape((-1,) + (1,) * (vals.ndim - 1))
            between = (w > 0) & ~np.isnan(vals[hi])  # a blocked (NaN) later sample holds the earlier one
            with np.errstate(invalid="ignore", over="ignore"):  # NaN / inf field values stay what they are
                out = np.where(between, vals[lo] + w * (vals[hi] - vals[lo]), out)
        return out, True

    def mesh_arrays(self, prim):
        """Triangulated mesh; meshes whose topology and points come from the same place
        (native instances of one prototype, references to one prototype) are triangulated once."""
        self.current = prim.GetPath()
        mesh = self.UsdGeom.Mesh(prim)
        key = []
        for attr in (mesh.GetPointsAttr(), mesh.GetFaceVertexCountsAttr(), mesh.GetFaceVertexIndicesAttr(),
                     mesh.GetOrientationAttr()):
            stack = attr.GetPropertyStack(self.time)
            key.append((stack[0].layer.identifier, str(stack[0].path)) if stack else None)
        key = tuple(key)
        if key not in self._arrays:
            arrays = read_mesh(mesh, self.time, where=self.where(prim))
            if arrays is not None:
                self.spend(mesh_bytes(arrays.n_points, len(arrays.tris)), lambda: f"{self.where(prim)}: USD mesh",
                           f"{arrays.n_points:,} points, {len(arrays.tris):,} triangles")
            self._arrays[key] = arrays
        arrays = self._arrays[key]
        if arrays is None:
            self.empty_meshes.append(str(prim.GetPath()))
            self.problems.add("empty", str(prim.GetPath()))
        else:
            self.n_meshes += 1
        return arrays

    def fields(self, prim, n_points: int, source_point: np.ndarray | None = None) -> dict[str, Field]:
        out = {}
        pv_api = self.UsdGeom.PrimvarsAPI(prim)
        for primvar in pv_api.FindPrimvarsWithInheritance():
            name = primvar.GetPrimvarName()
            if not name.startswith("twin:"):
                continue
            fname = name.split(":", 1)[1]
            attr = primvar.GetAttr()
            with _located(lambda attr=attr: self.where(attr.GetPrim(), attr.GetName())):
                field = self._field(primvar, attr, fname, n_points, source_point)
            if field is not None:
                out[fname] = field
        return out

    def _field(self, primvar, attr, fname: str, n_points: int, source_point) -> Field | None:
        type_name = str(attr.GetTypeName())
        if type_name.removesuffix("[]") not in _NUMERIC:
            raise InputError(f"type {type_name}: expected numbers (float or float[])")
        custom = attr.GetCustomData() or {}
        if not isinstance(custom, dict):
            raise InputError(f"customData: expected a dictionary, got {type(custom).__name__}")
        assoc = custom.get("association") or ("asset" if primvar.GetInterpolation() == "constant" else "vertex")
        if assoc not in ("asset", "vertex"):
            raise InputError(f"customData association {assoc!r}: expected 'asset' or 'vertex'")
        if assoc == "asset":
            vals, animated = self._series(attr, _asset_value)
        else:
            vals, animated = self._series(attr, lambda v: None if v is None else np.asarray(v, dtype=np.float32),
                                          width=n_points)
        if vals is None:
            return None
        vals = np.asarray(vals)
        if assoc == "vertex":
            if vals.shape[-1] != n_points:
                return None
            vals = vals.astype(np.float32, copy=False)
            if source_point is not None:  # points split for colours / texture seams
                vals = vals[..., source_point]
        clim = custom.get("clim")
        if clim is not None:
            clim = tuple(float(c) for c in clim)
        colormap = custom.get("colormap")
        return Field(
            fname,
            vals,
            association=assoc,
            times=self.frame_times if animated else None,
            unit=str(custom.get("unit", "")),
            colormap=None if colormap is None else str(colormap),
            clim=clim,
            description=str(custom.get("description", "")),
        )

    # -- assets
    def make_asset(self, prim, parent_world: np.ndarray, meshes: list) -> Asset:
        """An asset at ``prim`` whose geometry merges ``meshes`` (Mesh prims below or itself).

        An asset draws one texture: when its meshes (or the faces of one mesh) use
        different textures, or some faces are textured and others not, ``prim`` becomes
        a group with one asset per mesh and texture instead.
        """
        world = self.world(prim)
        to_local = self.inverse(world, prim)
        units = []  # (mesh prim, arrays, look, mesh -> asset matrix, triangle mask | None, texture | None)
        for mprim in meshes:
            arrays = self.mesh_arrays(mprim)
            if arrays is None:
                continue
            look = analyse_mesh(mprim, arrays, self.looks, self.time)
            rel = to_local @ self.world(mprim)
            if look.texture_of_tri is None:
                units.append((mprim, arrays, look, rel, None, None))
                continue
            ids = np.unique(look.texture_of_tri)
            for t in ids:
                mask = None if len(ids) == 1 else look.texture_of_tri == t
                units.append((mprim, arrays, look, rel, mask, look.textures[t] if t >= 0 else None))
        transform = Transform.from_matrix(np.linalg.inv(parent_world) @ world)  # parents are not singular
        if len({u[5] for u in units}) <= 1:
            asset = self._assemble(make_name(prim.GetName()), prim, units, transform)
            if asset.mesh is not None:  # constant fields authored on the (instance) asset prim itself
                for f in self.fields(prim, asset.mesh.n_points).values():
                    if f.name not in asset.fields:
                        asset.set_field(f)
            return asset
        group = Asset(make_name(prim.GetName()), transform=transform)
        self.annotate(prim, group)
        for unit in units:
            name = make_name(unit[0].GetName())
            if unit[4] is not None:  # one mesh in several textures: one asset per texture
                name += "_" + (make_name(Path(unit[5]).stem) if unit[5] else "untextured")
            self._add(group, self._assemble(name, None, [unit], Transform()))
        return group

    def _assemble(self, name: str, prim, units: list, transform: Transform) -> Asset:
        """One asset merging ``units`` (see :meth:`make_asset`); annotated from ``prim`` when given."""
        looks = [u[2] for u in units]
        # one storage level for all pieces (see twin3d.usd.appearance.LEVELS)
        c_level = max((LEVELS.index(lk.color_level) for lk in looks), default=0)
        o_level = max((LEVELS.index(lk.opacity_level) for lk in looks), default=0)
        if len({lk.constant_opacity for lk in looks if lk.opacity_level == "part"}) > 1:
            o_level = max(o_level, 1)
        texture = units[0][5] if units else None
        polys, parts, fields_list = [], [], []
        for mprim, arrays, look, rel, mask, _tex in units:
            poly, source = look.build(LEVELS[c_level], LEVELS[o_level], with_st=texture is not None)
            if mask is not None:
                poly, used = _sub_poly(poly, mask)
                source = used if source is None else source[used]
            if not np.allclose(rel, np.eye(4)):
                pts = np.asarray(poly.points, dtype=np.float64)
                poly.points = pts @ rel[:3, :3].T + rel[:3, 3]
                if np.linalg.det(rel[:3, :3]) < 0:
                    poly = _flipped(poly)
            poly.cell_data["part_id"] = np.asarray(poly.cell_data["part_id"], np.int32) + len(parts)
            parts.extend(Part(p.name, p.color) for p in look.parts)
            fields_list.append(self.fields(mprim, arrays.n_points, source))
            polys.append(poly)
        mesh = _merge_polys(polys) if polys else None
        material = self._material(prim, units, texture)
        asset = Asset(name, mesh=mesh, transform=transform, material=material,
                      parts=parts if mesh is not None else [])
        if prim is not None:
            self.annotate(prim, asset)
        if mesh is not None and len(fields_list) == 1:
            for f in fields_list[0].values():
                asset.set_field(f)
        return asset

    def _material(self, prim, units: list, texture: str | None) -> Material:
        looks = [u[2] for u in units]
        if looks:
            first = looks[0]
            uniform = {lk.uniform_color for lk in looks}
            if len(uniform) == 1 and None not in uniform:
                base = uniform.pop()
            else:
                base = next((p.color for p in first.parts if p.color is not None), DEFAULT_COLOR)
            opacity = min(lk.constant_opacity for lk in looks)
            name = first.look.name or "default"
            metallic, roughness = first.look.metallic, first.look.roughness
        else:
            base, opacity, name, metallic, roughness = DEFAULT_COLOR, 1.0, "default", 0.0, 0.5
        custom = prim.GetCustomDataByKey("twin3d:material") if prim is not None else None
        if custom is not None and not isinstance(custom, str):
            raise InputError(f"{self.where(prim)}: customData twin3d:material: expected a string, "
                             f"got {type(custom).__name__}")
        return Material(name=str(custom or name), base_color=tuple(float(np.clip(c, 0, 1)) for c in base),
                        opacity=float(np.clip(opacity, 0, 1)), metallic=metallic, roughness=roughness,
                        texture=texture)

    def annotate(self, prim, asset: Asset) -> None:
        """Asset type, semantic label, metadata, sensors and visibility of ``prim``."""
        if prim.HasAPI(ASSET_API):
            with _located(lambda: self.where(prim, "twin:assetType")):
                t = prim.GetAttribute("twin:assetType").Get()
                if t:
                    asset.asset_type = str(t)
        labels = prim.GetAttribute("semantics:labels:class")
        if labels:
            with _located(lambda: self.where(prim, labels.GetName())):
                value = labels.Get()
                if value is not None and not isinstance(value, str) and len(value):
                    asset.semantic_label = str(value[0])
                elif isinstance(value, str) and value:
                    asset.semantic_label = value
        meta = prim.GetCustomDataByKey("twin3d:metadata")
        if meta:
            asset.metadata.update(_json_object(meta, f"{self.where(prim)}: customData twin3d:metadata"))
        for attr in prim.GetAttributes():
            n = attr.GetName()
            if n.startswith("twin:sensor:") and n.endswith(":value"):
                sname = n[len("twin:sensor:"):-len(":value")]
                with _located(lambda n=n: self.where(prim, n)):
                    if str(attr.GetTypeName()).removesuffix("[]") not in _NUMERIC:
                        raise InputError(f"type {attr.GetTypeName()}: expected a number")
                    vals, animated = self._series(attr, lambda v: float("nan") if v is None else float(v))
                    unit_attr = prim.GetAttribute(f"twin:sensor:{sname}:unit")
                    unit = str(unit_attr.Get() or "") if unit_attr else ""
                    if animated and vals is not None:
                        asset.sensors[sname] = Field(sname, np.asarray(vals), association="asset",
                                                     times=self.frame_times, unit=unit)
                    elif not animated and vals is not None:
                        asset.sensors[sname] = Field(sname, np.asarray(vals), association="asset", unit=unit)
        vis = self.UsdGeom.Imageable(prim).GetVisibilityAttr().Get(self.time) if prim.IsA(self.UsdGeom.Imageable) else None
        if vis == self.UsdGeom.Tokens.invisible:
            asset.visible = False

    def is_component(self, prim) -> bool:
        return self.Usd.ModelAPI(prim).GetKind() == "component" or prim.HasAPI(ASSET_API)

    def children(self, prim):
        return prim.GetFilteredChildren(self.pred)

    def below(self, prim) -> tuple[list, bool]:
        """``(meshes, has_instancer)``: the drawn Mesh prims below ``prim`` (itself included)
        and whether a PointInstancer is among its descendants (its prototypes are not listed)."""
        UsdGeom = self.UsdGeom
        meshes, has_instancer = [], False
        it = iter(self.Usd.PrimRange(prim, self.pred))
        for p in it:
            if self.skipped(p) or (p != prim and p.IsA(UsdGeom.Imageable)
                                   and UsdGeom.Imageable(p).GetVisibilityAttr().Get(self.time) == UsdGeom.Tokens.invisible):
                it.PruneChildren()
                continue
            if p.IsA(UsdGeom.PointInstancer):
                has_instancer = True
                it.PruneChildren()
            elif p.IsA(UsdGeom.Mesh):
                meshes.append(p)
        return meshes, has_instancer

    def visit(self, prim, parent: Asset, parent_world: np.ndarray) -> None:
        for child in self.children(prim):
            self.visit_prim(child, parent, parent_world)

    def visit_prim(self, child, parent: Asset, parent_world: np.ndarray) -> Asset | None:
        """Add what ``child`` draws under ``parent``; returns the asset added (or None)."""
        UsdGeom = self.UsdGeom
        self.current = child.GetPath()
        if child.IsA(self.UsdShade.Material) or child.IsA(self.UsdShade.Shader) or self.skipped(child):
            return None
        if child.IsA(UsdGeom.Xformable) and self.singular(child):
            self.problems.add("collapsed", str(child.GetPath()))  # a scale of 0 hides a prim
            return None
        if child.IsA(UsdGeom.PointInstancer):
            return self.instancer(child, parent, parent_world)
        if child.IsA(UsdGeom.Mesh):
            return self._add(parent, self.make_asset(child, parent_world, [child]))
        if not self.is_drawable_container(child):
            return None
        meshes, has_instancer = self.below(child)
        if not meshes and not has_instancer:
            return None
        if self.is_component(child) and not has_instancer:
            return self._add(parent, self.make_asset(child, parent_world, meshes))
        world = self.world(child) if child.IsA(UsdGeom.Xformable) else parent_world
        group = Asset(make_name(child.GetName()), transform=Transform.from_matrix(np.linalg.inv(parent_world) @ world))
        self.annotate(child, group)
        self.visit(child, group, world)
        return self._add(parent, group) if group.children else None

    # -- point instancers
    def instancer(self, prim, parent: Asset, parent_world: np.ndarray) -> Asset | None:
        """A PointInstancer: a group with one asset (a copy of its prototype) per visible instance."""
        UsdGeom = self.UsdGeom
        inst = UsdGeom.PointInstancer(prim)
        where = str(prim.GetPath())
        targets = list(inst.GetPrototypesRel().GetForwardedTargets())
        indices = inst.GetProtoIndicesAttr().Get(self.time)
        if not targets or indices is None or len(indices) == 0:
            return None
        indices = np.asarray(indices, dtype=np.int64)
        self.spend(len(indices) * (INSTANCE_BYTES + 256), lambda: f"{self.where(prim)}: point instancer",
                   f"{len(indices):,} instances × {INSTANCE_BYTES + 256} B")
        xforms = inst.ComputeInstanceTransformsAtTime(self.time, self.time, UsdGeom.PointInstancer.IncludeProtoXform,
                                                      UsdGeom.PointInstancer.IgnoreMask)
        if xforms is None or len(xforms) != len(indices):
            self.problems.add("usd", f"{where}: positions, orientations or scales do not match protoIndices")
            return None
        mask = list(inst.ComputeMaskAtTime(self.time) or [])
        matrices = np.asarray(xforms, dtype=float).reshape(-1, 16)
        bad = np.flatnonzero(~np.isfinite(matrices).all(axis=1))
        if bad.size:
            raise InputError(f"{self.where(prim)}: instance {bad[0]} has a transform that is not finite "
                             "(positions, orientations or scales with NaN or infinity)")
        world = self.world(prim)
        group = Asset(make_name(prim.GetName()), transform=Transform.from_matrix(np.linalg.inv(parent_world) @ world))
        self.annotate(prim, group)
        templates: dict[int, Asset | None] = {}
        for i, (pi, m) in enumerate(zip(indices, xforms)):
            if mask and not mask[i]:
                continue
            if not 0 <= pi < len(targets):
                self.problems.add("usd", f"{where}: protoIndices {pi} has no prototype ({len(targets)} prototypes)")
                continue
            if pi not in templates:
                templates[pi] = self._template(targets[pi])
            tmpl = templates[pi]
            if tmpl is None:
                continue
            group.add(_instance_copy(tmpl, f"{tmpl.name}_{i}", Transform.from_matrix(_np(m))))
        if not group.children:
            return None
        return self._add(parent, group)

    def _template(self, path):
        """A prototype read once, in its own frame (instances share its meshes).

        Its meshes merge into one asset, as a component's do; a prototype holding
        point instancers of its own becomes a group.
        """
        proto = self.stage.GetPrimAtPath(path)
        if not proto or self.skipped(proto):
            return None
        meshes, has_instancer = self.below(proto)
        if self.singular(proto):
            self.problems.add("collapsed", str(proto.GetPath()))
            return None
        if not has_instancer and not proto.IsA(self.UsdGeom.PointInstancer):
            return self.make_asset(proto, self.world(proto), meshes) if meshes else None
        return self.visit_prim(proto, Asset("prototypes"), self.world(proto))

    @staticmethod
    def _add(parent: Asset, asset: Asset) -> Asset:
        base, k = asset.name, 1
        while parent.child(asset.name) is not None:
            asset.name = f"{base}_{k}"
            k += 1
        return parent.add(asset)


def _instance_copy(template: Asset, name: str, transform: Transform) -> Asset:
    """A copy of an asset tree that shares its meshes, under a new name and transform."""
    out = Asset(name, mesh=template.mesh, transform=transform, material=copy.copy(template.material),
                asset_type=template.asset_type, semantic_label=template.semantic_label,
                parts=[Part(p.name, p.color) for p in template.parts], fields=dict(template.fields),
                sensors=dict(template.sensors), metadata=dict(template.metadata), visible=template.visible)
    for child in template.children:
        out.add(_instance_copy(child, child.name, child.transform))
    return out


def _convert(stage, name: str | None, problems: Problems, *, source: str = "", base: Path | None = None) -> Scene:
    from pxr import UsdGeom

    source = source or str(stage.GetRootLayer().identifier)
    mpu = UsdGeom.GetStageMetersPerUnit(stage)
    if not (math.isfinite(mpu) and mpu > 0):
        raise InputError(f"{source}: metersPerUnit {mpu:g}: expected a positive number")
    data = _twin_layer_data(stage, source)
    units = data.get("units")
    if units not in UNITS or not np.isclose(UNITS[units], mpu):
        units = next((u for u, v in UNITS.items() if np.isclose(v, mpu, rtol=1e-6)), None)
    up = str(UsdGeom.GetStageUpAxis(stage))
    fps = float(stage.GetFramesPerSecond() or stage.GetTimeCodesPerSecond() or 24.0)
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"{source}: framesPerSecond {fps:g}: expected a positive number")
    scene = Scene(
        name=name or str(data.get("sceneName") or Path(stage.GetRootLayer().identifier).stem or "scene"),
        units=units or "m",
        up_axis="Z" if up == "Z" else "Y",
        fps=fps,
    )
    if data.get("colorBy"):
        scene.metadata["color_by"] = str(data["colorBy"])
    if data.get("metadata"):
        scene.metadata.update(_json_object(data["metadata"], f"{source}: customLayerData twin3d.metadata"))
    reader = _Reader(stage, problems, source, base)
    default = stage.GetDefaultPrim()
    try:
        if reader.ours and default:
            reader.visit(default, scene.root, reader.world(default))
        else:
            reader.visit(stage.GetPseudoRoot(), scene.root, np.eye(4))
    except _VALUE_ERRORS as exc:  # a value of a type no USD writer would author (a corrupt file)
        if isinstance(exc, Twin3DError):
            raise
        raise InputError(f"{source}: {reader.current}: a value twin3d cannot read ({type(exc).__name__}: "
                         f"{_one_line(exc)[:200]}); is the file corrupt?") from None
    if reader.empty_meshes and not reader.n_meshes:
        shown = ", ".join(sorted(set(reader.empty_meshes))[:3]) + (", ..." if len(set(reader.empty_meshes)) > 3 else "")
        raise InputError(f"{source}: every mesh is empty ({len(set(reader.empty_meshes))} without points or faces: "
                         f"{shown}); nothing to draw")
    if units is None:  # unknown unit: convert all geometry to metres
        s = float(mpu)
        for _, a in scene.walk():
            m = a.transform.matrix
            m[:3, 3] *= s
            a.transform = Transform.from_matrix(m)
        for mesh in {id(a.mesh): a.mesh for _, a in scene.walk() if a.mesh is not None}.values():
            mesh.points = mesh.points * s  # shared meshes (instances) scaled once
    return scene


def stage_to_scene(stage, *, name: str | None = None, allow_missing: bool | None = None) -> Scene:
    """Convert an open ``Usd.Stage`` into a :class:`Scene`.

    The stage is already open: which files it read is the caller's business (use
    :func:`read_usd` for files from elsewhere); textures are still confined to the
    root layer's folder and the allowed folders. Missing sublayers, references or
    payloads raise :class:`~twin3d.errors.InputError` unless ``allow_missing`` (default:
    :func:`twin3d.usd.diagnostics.missing_layers_allowed`); other problems
    (MaterialX files, textures...) are emitted as one
    :class:`~twin3d.usd.diagnostics.UsdReadWarning` per kind.
    """
    source = stage.GetRootLayer().identifier
    real = stage.GetRootLayer().realPath
    base = Path(os.path.realpath(Path(real).parent)) if real and not stage.GetRootLayer().anonymous else None
    from pxr import Tf

    with collect_problems(source) as problems:
        problems.add_composition_errors(stage)
        problems.raise_missing(allow_missing)
        try:
            scene = _convert(stage, name, problems, source=source, base=base)
        except Tf.ErrorException as exc:
            raise InputError(f"{source}: not a valid USD stage: {usd_error_text(exc)}") from None
    problems.warn()
    return scene


def read_usd(path: str | Path, *, allow_missing: bool | None = None) -> Scene:
    """Read a USD file (``.usd``, ``.usda``, ``.usdc``, ``.usdz``) into a :class:`Scene`.

    Safe on files from anywhere:

    * every sublayer, reference, payload and value clip the file names, and every
      texture, must lie in the file's folder or a folder allowed with
      :func:`twin3d.confine.allow_paths` / ``TWIN3D_ALLOW_PATH`` (``--allow-path`` on the
      command line); anything else raises :class:`~twin3d.errors.ConfinementError` and
      is never opened (:mod:`twin3d.usd.layers`);
    * a missing sublayer, reference or payload (or a referenced prim that is not there)
      raises :class:`~twin3d.errors.InputError` listing them, unless ``allow_missing=True``
      (default: :func:`twin3d.usd.diagnostics.allow_missing_layers` blocks; ``--allow-missing``);
    * a corrupt ``.usdc`` or a ``.usda`` syntax error, points or transforms that are not
      finite, and twin3d metadata that is not what twin3d writes raise
      :class:`~twin3d.errors.InputError` naming the file (and line, prim or attribute);
    * the memory of meshes, instances and animated fields is estimated before it is
      allocated (:class:`~twin3d.errors.BudgetError` above :func:`twin3d.budgets.memory_budget`).

    Other problems (MaterialX files, unresolved textures, empty meshes; missing layers
    when allowed) do not stop the read: each kind is reported once as a
    :class:`~twin3d.usd.diagnostics.UsdReadWarning` (``twin3d: warning: ...`` on the
    command line), and USD's raw warnings are not printed.
    """
    path = Path(path)
    if path.suffix.lower() not in READ_EXTENSIONS:
        raise UnsupportedFormatError(f"{path}: not a USD file; supported: {', '.join(READ_EXTENSIONS)}")
    if not path.exists():
        raise MissingFileError(path, what="USD file")
    if not path.is_file():
        raise InputError(f"{path}: is a folder, expected a USD file")
    if allow_missing is None:
        allow_missing = missing_layers_allowed()
    register_schema()
    from pxr import Ar, Tf, Usd

    printed: list[str] = []
    with stderr_captured(printed), collect_problems(path) as problems, _address_space_guard():
        try:
            layers = open_layers(path)
            with Ar.ResolverContextBinder(layers.context):
                stage = Usd.Stage.Open(layers.root, layers.context)
            if stage is None:
                raise InputError(f"{path}: not a valid USD file")
            layers.check_used(stage)
            problems.add_composition_errors(stage)
            problems.raise_missing(allow_missing)
            scene = _convert(stage, path.stem, problems, source=str(path), base=layers.base)
            layers.check_used(stage)  # value clips are opened while values are read
        except Tf.ErrorException as exc:  # corrupt values are found when they are read
            text = usd_error_text(exc, path)
            if "bad_alloc" in text:
                raise _out_of_memory(path) from None
            raise InputError(f"{path}: not a valid USD file: {text}") from None
        except BudgetError:
            raise
        except MemoryError:
            raise _out_of_memory(path) from None
        except UnicodeDecodeError:
            raise InputError(f"{path}: not a valid USD file: it holds names or text that are not UTF-8") from None
    for line in printed:
        problems.add("usd", line)
    problems.warn()
    return scene
