"""OBJ (+ MTL), PLY and STL writers: a scene as one merged mesh in world coordinates, or
one file per asset (``split``).

============  =========  ========  ======================================================
format        units      up axis   colours
============  =========  ========  ======================================================
``.obj``      metres     +Y        a material per asset (per part when parts have colours)
                                   in the ``.mtl``; per-vertex colours (``v x y z r g b``)
                                   when a field colours an asset per vertex
``.ply``      metres     +Z        binary, per-vertex RGB(A) uchar, normals
``.stl``      metres     +Z        binary, no colour (facet normals)
============  =========  ========  ======================================================

The formats carry no unit: files are in metres (the same as glTF) unless ``units``
says otherwise (``units="mm"`` for slicers, which read STL as millimetres). The up
axis follows each format's usual reader: OBJ is read as +Y up (Blender's importer,
most DCC tools), STL and PLY as +Z up (slicers, scanners, Blender's importers), so a
Z-up scene is rotated for OBJ and a Y-up scene for PLY/STL. Colours are the display
values of the chosen frame (:func:`twin3d.colors.asset_colors`). Objects in OBJ are
named by asset path (``o line/cnc_mill_01``); PLY lists each asset's vertex and face
ranges in header comments.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..scene import Scene
from .flatten import FlatAsset, Surface, flatten, merge
from .writers import atomic_outputs, split_folder, split_names

__all__ = ["write_obj", "write_ply", "write_stl", "MESH_CONVENTIONS"]

#: Default units and up axis of each format.
MESH_CONVENTIONS: dict[str, dict[str, str]] = {
    ".obj": {"units": "m", "up": "Y"},
    ".ply": {"units": "m", "up": "Z"},
    ".stl": {"units": "m", "up": "Z"},
}


def _flat(scene: Scene, path: Path, ext: str, *, frame: int, color_by: str, units: str | None) -> tuple[list[FlatAsset], str, str]:
    conv = MESH_CONVENTIONS[ext]
    units = units or conv["units"]
    flats = flatten(scene, frame=frame, color_by=color_by, units=units, up=conv["up"])
    if not flats:
        raise InputError(f"{path}: scene {scene.name!r} has no visible meshes to write")
    return flats, units, conv["up"]


def _targets(path: Path, flats: list[FlatAsset], split: bool, ext: str) -> list[tuple[Path, list[FlatAsset]]]:
    """(file, assets in it): one merged file, or one per asset in the split folder."""
    if not split:
        return [(path, flats)]
    folder = split_folder(path)
    names = split_names([f.path for f in flats])
    return [(folder / f"{name}{ext}", [f]) for name, f in zip(names, flats)]


def _header(scene: Scene, frame: int, color_by: str, units: str, up: str) -> list[str]:
    return [f"twin3d export of scene {scene.name!r}",
            f"units {units}, +{up} up, frame {frame} (frames 0-{scene.n_frames - 1}), colored by {color_by}"]


# --------------------------------------------------------------------------- OBJ
def _mtl_name(asset_path: str, group: str) -> str:
    text = asset_path if not group else f"{asset_path}/{group}"
    return "".join(c if (c.isalnum() or c in "_-.") else "_" for c in text.replace("/", "__"))


def _fmt_rows(fmt: str, rows: np.ndarray) -> str:
    """Rows of numbers formatted with ``fmt`` (one line each), fast."""
    rows = np.asarray(rows)
    if rows.size == 0:
        return ""
    return (fmt * len(rows)) % tuple(rows.ravel().tolist())


def _obj_text(scene: Scene, flats: list[FlatAsset], surfaces: list[Surface], mtl_name: str, header: list[str],
              textures: dict[str, str]) -> tuple[str, str]:
    vertex_colors = any(s.rgba is not None for s in surfaces)
    if vertex_colors:
        surfaces = [s.with_vertex_colors() for s in surfaces]
    with_st = any(s.st is not None for s in surfaces)
    obj = [f"# {line}" for line in header] + [f"mtllib {mtl_name}"]
    mtl = [f"# {line}" for line in header]
    offset = 1
    for flat, s in zip(flats, surfaces):
        obj.append(f"o {flat.path}")
        if vertex_colors:
            rows = np.concatenate([s.points, np.clip(s.rgba[:, :3], 0, 1)], axis=1)
            obj.append(_fmt_rows("v %.9g %.9g %.9g %.4g %.4g %.4g\n", rows).rstrip("\n"))
        else:
            obj.append(_fmt_rows("v %.9g %.9g %.9g\n", s.points).rstrip("\n"))
        obj.append(_fmt_rows("vn %.6g %.6g %.6g\n", s.normals).rstrip("\n"))
        if with_st:
            st = s.st if s.st is not None else np.zeros((s.n_points, 2), np.float32)
            obj.append(_fmt_rows("vt %.6g %.6g\n", st).rstrip("\n"))
        m = flat.material
        texture = textures.get(flat.path)
        for g in s.groups:
            name = _mtl_name(flat.path, g.name)
            r, gg, b, a = g.rgba
            mtl += [f"newmtl {name}", f"Kd {r:.6g} {gg:.6g} {b:.6g}", "Ka 0 0 0", "Ks 0.2 0.2 0.2",
                    f"Ns {max(1.0, (1.0 - m.roughness) * 1000):.6g}", f"d {a:.6g}", "illum 2",
                    f"Pr {m.roughness:.6g}", f"Pm {m.metallic:.6g}"]
            if texture:
                mtl.append(f"map_Kd {texture}")
            mtl.append("")
            obj.append(f"usemtl {name}")
            idx = s.faces[g.faces] + offset
            fmt = "f %d/%d/%d %d/%d/%d %d/%d/%d\n" if with_st else "f %d//%d %d//%d %d//%d\n"
            per = 3 if with_st else 2
            obj.append(_fmt_rows(fmt, np.repeat(idx, per, axis=1)).rstrip("\n"))
        offset += s.n_points
    return "\n".join(x for x in obj if x) + "\n", "\n".join(mtl) + "\n"


def write_obj(scene: Scene, path: Path, *, frame: int, split: bool = False, color_by: str = "material",
              units: str | None = None) -> list[Path]:
    """Write Wavefront OBJ + MTL (see the module docstring); returns the files written."""
    path = Path(path)
    flats, units, up = _flat(scene, path, ".obj", frame=frame, color_by=color_by, units=units)
    header = _header(scene, frame, color_by, units, up)
    files: list[tuple[Path, bytes | str]] = []
    for target, group in _targets(path, flats, split, ".obj"):
        mtl_path = target.with_suffix(".mtl")
        textures = {}
        for k, flat in enumerate(group):
            src = flat.texture
            if src is None:
                continue
            if not Path(src).is_file():
                warnings.warn(f"{flat.path}: texture {src} not found; written without it", stacklevel=2)
                continue
            tex_path = target.with_name(f"{target.stem}_texture_{k}{Path(src).suffix.lower()}")
            files.append((tex_path, Path(src).read_bytes()))
            textures[flat.path] = tex_path.name
        text, mtl = _obj_text(scene, group, [f.world_surface() for f in group], mtl_path.name, header, textures)
        files += [(target, text), (mtl_path, mtl)]
    return _write_all(files)


def _write_all(files: list[tuple[Path, bytes | str]]) -> list[Path]:
    with atomic_outputs([p for p, _ in files]) as temps:
        for tmp, (_, data) in zip(temps, files):
            if isinstance(data, str):
                tmp.write_text(data, encoding="utf-8")
            else:
                tmp.write_bytes(data)
    return [p for p, _ in files]


# --------------------------------------------------------------------------- PLY
def _ply_bytes(flats: list[FlatAsset], header: list[str]) -> bytes:
    surfaces = [f.world_surface() for f in flats]
    merged = merge([s.with_vertex_colors() for s in surfaces])
    rgba = np.clip(np.rint(merged.rgba * 255), 0, 255).astype(np.uint8)
    alpha = bool((rgba[:, 3] < 255).any())
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4"),
              ("red", "u1"), ("green", "u1"), ("blue", "u1")] + ([("alpha", "u1")] if alpha else [])
    vertex = np.empty(merged.n_points, dtype=fields)
    for k, name in enumerate("xyz"):
        vertex[name] = merged.points[:, k]
        vertex["n" + name] = merged.normals[:, k]
    for k, name in enumerate(("red", "green", "blue", "alpha")[: 4 if alpha else 3]):
        vertex[name] = rgba[:, k]
    face = np.empty(merged.n_faces, dtype=[("n", "u1"), ("v", "<i4", (3,))])
    face["n"] = 3
    face["v"] = merged.faces
    lines = ["ply", "format binary_little_endian 1.0"] + [f"comment {line}" for line in header]
    v0 = f0 = 0
    for flat, s in zip(flats, [s.with_vertex_colors() for s in surfaces]):
        lines.append(f"comment asset {flat.path} vertices {v0} {v0 + s.n_points} faces {f0} {f0 + s.n_faces}")
        v0 += s.n_points
        f0 += s.n_faces
    lines.append(f"element vertex {merged.n_points}")
    names = {"<f4": "float", "u1": "uchar"}
    lines += [f"property {names[t]} {n}" for n, t in fields]
    lines += [f"element face {merged.n_faces}", "property list uchar int vertex_indices", "end_header"]
    return ("\n".join(lines) + "\n").encode("ascii", "replace") + vertex.tobytes() + face.tobytes()


def write_ply(scene: Scene, path: Path, *, frame: int, split: bool = False, color_by: str = "material",
              units: str | None = None) -> list[Path]:
    """Write binary little-endian PLY with per-vertex colours and normals; returns the files written."""
    path = Path(path)
    flats, units, up = _flat(scene, path, ".ply", frame=frame, color_by=color_by, units=units)
    header = _header(scene, frame, color_by, units, up)
    return _write_all([(target, _ply_bytes(group, header)) for target, group in _targets(path, flats, split, ".ply")])


# --------------------------------------------------------------------------- STL
def _stl_bytes(flats: list[FlatAsset], title: str) -> bytes:
    merged = merge([f.world_surface() for f in flats])
    tri = merged.points[merged.faces]  # (m, 3, 3)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(n, axis=1)
    ok = length > 0
    n[ok] /= length[ok, None]
    n[~ok] = 0.0
    rec = np.zeros(merged.n_faces, dtype=[("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("attr", "<u2")])
    rec["n"] = n
    rec["v"] = tri
    head = title.encode("ascii", "replace")[:80].ljust(80, b" ")
    return head + np.uint32(merged.n_faces).tobytes() + rec.tobytes()


def write_stl(scene: Scene, path: Path, *, frame: int, split: bool = False, color_by: str = "material",
              units: str | None = None) -> list[Path]:
    """Write binary STL (triangles and facet normals, no colour); returns the files written."""
    path = Path(path)
    flats, units, up = _flat(scene, path, ".stl", frame=frame, color_by=color_by, units=units)
    files = []
    for target, group in _targets(path, flats, split, ".stl"):
        what = group[0].path if split else scene.name
        files.append((target, _stl_bytes(group, f"twin3d {what} ({units}, +{up} up)")))
    return _write_all(files)
