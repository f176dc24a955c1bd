"""Reading foreign USD (twin3d.usd.reader and its helpers meshdata, appearance, diagnostics).

Every test stage is authored here with plain ``pxr`` (no twin3d writer), read with
:func:`twin3d.usd.read_usd` and checked against what was authored: arrays, transforms,
and the pixels of :func:`twin3d.render.render_image` renders (world points projected
with the camera preset's own pose).
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv

from twin3d.render import render_image
from twin3d.render.presets import camera_pose
from twin3d.scene import Asset, Field, Scene
from twin3d.usd import read_usd, register_schema, write_usd
from twin3d.errors import InputError
from twin3d.usd.diagnostics import Problems, UsdReadWarning, allow_missing_layers
from twin3d.usd.meshdata import expand, per_point, per_triangle, split_points, triangulate

register_schema()

PALETTE = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "cyan": (0.0, 1.0, 1.0),
    "magenta": (1.0, 0.0, 1.0),
}
NAMES = list(PALETTE)


# --------------------------------------------------------------------------- helpers
def project(scene: Scene, camera: str, size: tuple[int, int], points) -> np.ndarray:
    """(n, 2) pixel (column, row) of world points, with the pose of the renderer's camera preset."""
    lo, hi = scene.bounds()
    w, h = size
    pose = camera_pose(lo, hi, scene.up_axis, camera, aspect=w / h)
    pos, focal = np.asarray(pose["position"]), np.asarray(pose["focal_point"])
    f = (focal - pos) / np.linalg.norm(focal - pos)
    r = np.cross(f, pose["up"])
    r /= np.linalg.norm(r)
    u = np.cross(r, f)
    v = np.asarray(points, float).reshape(-1, 3) - pos
    t = math.tan(math.radians(pose["view_angle"]) / 2)
    x = (v @ r) / ((v @ f) * t * w / h)
    y = (v @ u) / ((v @ f) * t)
    return np.stack([(x + 1) / 2 * w, (1 - y) / 2 * h], axis=1)


def hue_name(pixel) -> str | None:
    """The palette colour whose direction is closest to a (shaded) pixel; None for grey/white."""
    p = np.asarray(pixel, float)
    if p.max() < 40 or p.max() - p.min() < 60:
        return None
    d = p / np.linalg.norm(p)
    best = max(NAMES, key=lambda n: d @ (np.asarray(PALETTE[n]) / np.linalg.norm(PALETTE[n])))
    return best


def pixel(img: np.ndarray, colrow) -> np.ndarray:
    c, r = (int(round(v)) for v in colrow)
    return img[r, c]


def grid_mesh(stage, path: str, origin=(0.0, 0.0, 0.0), n: int = 2):
    """An n x n grid of unit quads on the z = origin plane: (UsdGeom.Mesh, points, faces as corner lists)."""
    from pxr import UsdGeom, Vt

    ox, oy, oz = origin
    pts = np.array([[ox + i, oy + j, oz] for j in range(n + 1) for i in range(n + 1)], np.float32)
    faces = []
    for j in range(n):
        for i in range(n):
            a = j * (n + 1) + i
            faces.append([a, a + 1, a + n + 2, a + n + 1])
    mesh = UsdGeom.Mesh.Define(stage, path)
    mesh.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(pts))
    mesh.CreateFaceVertexCountsAttr([4] * len(faces))
    mesh.CreateFaceVertexIndicesAttr([int(v) for f in faces for v in f])
    mesh.CreateSubdivisionSchemeAttr("none")
    return mesh, pts, faces


def colors(*names) -> list:
    from pxr import Gf

    return [Gf.Vec3f(*PALETTE[n]) for n in names]


def face_centre(pts, face) -> np.ndarray:
    return pts[face].mean(0)


# --------------------------------------------------------------------------- mesh data (pure numpy)
def test_triangulate_keeps_face_corners_and_splits_points_exactly():
    pts = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0]], float)
    arrays = triangulate(pts, [4, 3], [0, 1, 2, 3, 1, 4, 2])
    np.testing.assert_array_equal(arrays.tris, [[0, 1, 2], [0, 2, 3], [1, 4, 2]])
    np.testing.assert_array_equal(arrays.corners, [[0, 1, 2], [0, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(arrays.face_of_tri, [0, 0, 1])
    # uniform: one value per face; faceVarying: one per face corner
    uni = expand([[1.0], [2.0]], "uniform", arrays)
    assert per_triangle(uni).ravel().tolist() == [1, 1, 2]
    fv = expand(np.arange(7.0), "faceVarying", arrays)
    assert per_triangle(fv) is None
    assert per_point(fv, arrays.tris, 5) is None  # points 1 and 2 carry two values each
    new_tris, src, corner = split_points(arrays.tris, [fv])
    flat = fv.reshape(-1)
    # every corner keeps its own value, and copies of a point sit where it was
    np.testing.assert_array_equal(flat[corner][new_tris].reshape(-1), flat)
    np.testing.assert_array_equal(src[new_tris], arrays.tris)
    assert len(src) == 7
    assert expand(np.arange(3.0), "vertex", arrays) is None  # wrong size: ignored, as USD does
    assert triangulate(pts, [2], [0, 1]) is None


def test_problems_are_one_line_per_kind():
    p = Problems("/data/scene.usda")
    for path in ("a.usd", "b.usd", "c.usd", "d.usd", "a.usd"):
        p.add("reference", path)
    p.add_message("Could not open asset @materials/m.mtlx@ for reference introduced by @scene.usda@</W/m>.")
    p.add_message("Could not load sublayer @base.usda@ of layer @scene.usda@; skipping.")
    assert p.lines() == [
        "scene.usda: 1 missing sublayer (base.usda)",
        "scene.usda: 4 unresolved references (a.usd, b.usd, c.usd, ...)",
        "scene.usda: 1 unreadable MaterialX file (materials/m.mtlx)",
    ]
    with pytest.warns(UsdReadWarning) as caught:
        p.warn()
    assert [str(w.message) for w in caught] == p.lines()


# --------------------------------------------------------------------------- displayColor
def interpolation_stage(path: Path):
    """One 2x2-quad mesh per displayColor interpolation, side by side on the XY plane (Z up).

    Returns {mesh name: [(world point, expected palette colour), ...]}.
    """
    from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade, Vt

    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    UsdGeom.Xform.Define(stage, "/W")
    expect: dict[str, list] = {}
    four = ["red", "green", "blue", "yellow"]

    def place(k):
        return (3.0 * k, 0.0, 0.0)

    # constant
    mesh, pts, faces = grid_mesh(stage, "/W/constant", place(0))
    mesh.CreateDisplayColorPrimvar(UsdGeom.Tokens.constant).Set(colors("magenta"))
    expect["constant"] = [(face_centre(pts, f), "magenta") for f in faces]
    # uniform: one colour per face
    mesh, pts, faces = grid_mesh(stage, "/W/uniform", place(1))
    mesh.CreateDisplayColorPrimvar(UsdGeom.Tokens.uniform).Set(colors(*four))
    expect["uniform"] = [(face_centre(pts, f), c) for f, c in zip(faces, four)]
    # uniform, indexed
    mesh, pts, faces = grid_mesh(stage, "/W/uniform_indexed", place(2))
    pv_ = mesh.CreateDisplayColorPrimvar(UsdGeom.Tokens.uniform)
    pv_.Set(colors("cyan", "red"))
    pv_.SetIndices(Vt.IntArray([1, 0, 0, 1]))
    expect["uniform_indexed"] = [(face_centre(pts, f), c) for f, c in zip(faces, ["red", "cyan", "cyan", "red"])]
    # vertex (3 x 3 points): check at the points themselves, inside the mesh
    for k, (name, interp) in enumerate([("vertex", UsdGeom.Tokens.vertex), ("varying", UsdGeom.Tokens.varying)]):
        mesh, pts, faces = grid_mesh(stage, f"/W/{name}", place(3 + k), n=3)
        cols = [NAMES[(i * 5 + j) % 6] for i in range(4) for j in range(4)]
        mesh.CreateDisplayColorPrimvar(interp).Set(colors(*cols))
        inner = [5, 6, 9, 10]  # the points not on the border
        expect[name] = [(pts[i], cols[i]) for i in inner]
    # vertex, indexed (a colour table)
    mesh, pts, faces = grid_mesh(stage, "/W/vertex_indexed", place(5), n=3)
    idx = [(i * 5 + j) % 6 for i in range(4) for j in range(4)]
    pv_ = mesh.CreateDisplayColorPrimvar(UsdGeom.Tokens.vertex)
    pv_.Set(colors(*NAMES))
    pv_.SetIndices(Vt.IntArray(idx))
    expect["vertex_indexed"] = [(pts[i], NAMES[idx[i]]) for i in (5, 6, 9, 10)]
    # faceVarying, constant per face (-> per triangle)
    mesh, pts, faces = grid_mesh(stage, "/W/facevarying", place(6))
    mesh.CreateDisplayColorPrimvar(UsdGeom.Tokens.faceVarying).Set(colors(*[c for c in four for _ in range(4)]))
    expect["facevarying"] = [(face_centre(pts, f), c) for f, c in zip(faces, four)]
    # faceVarying, indexed, varying inside faces: the centre point has another colour in each face
    mesh, pts, faces = grid_mesh(stage, "/W/facevarying_indexed", place(7))
    table = colors(*four) + [Gf.Vec3f(1, 1, 1)]
    indices = []
    centre = 4
    for f, c in zip(faces, range(4)):
        indices += [c if v == centre or v not in (0, 2, 6, 8) else 4 for v in f]  # mesh corners white
    pv_ = mesh.CreateDisplayColorPrimvar(UsdGeom.Tokens.faceVarying)
    pv_.Set(table)
    pv_.SetIndices(Vt.IntArray(indices))
    expect["facevarying_indexed"] = [(pts[centre] * 0.8 + face_centre(pts, f) * 0.2, c) for f, c in zip(faces, four)]
    # GeomSubsets bound to two materials (and no displayColor)
    mesh, pts, faces = grid_mesh(stage, "/W/subsets", place(8))
    looks = {}
    for name, col in (("left", "blue"), ("right", "yellow")):
        mat = UsdShade.Material.Define(stage, f"/W/Looks/{name}")
        surf = UsdShade.Shader.Define(stage, f"/W/Looks/{name}/surface")
        surf.CreateIdAttr("UsdPreviewSurface")
        surf.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).Set(Gf.Vec3f(*PALETTE[col]))
        surf.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(0.8)
        mat.CreateSurfaceOutput().ConnectToSource(surf.ConnectableAPI(), "surface")
        looks[name] = mat
    api = UsdShade.MaterialBindingAPI.Apply(mesh.GetPrim())
    for name, ids in (("left", [0, 2]), ("right", [1, 3])):
        sub = api.CreateMaterialBindSubset(name, Vt.IntArray(ids))
        UsdShade.MaterialBindingAPI.Apply(sub.GetPrim()).Bind(looks[name])
    expect["subsets"] = [(face_centre(pts, f), c) for f, c in zip(faces, ["blue", "yellow", "blue", "yellow"])]
    stage.Save()
    return expect


def test_display_color_of_every_interpolation_renders_where_it_belongs(tmp_path):
    path = tmp_path / "interp.usda"
    expect = interpolation_stage(path)
    scene = read_usd(path)
    assert scene.up_axis == "Z"
    got = {a.name: a for a in scene.assets()}
    assert set(got) == set(expect)
    # the convention: constant -> material, per face -> cell_data (exact), per vertex -> point_data
    assert got["constant"].material.base_color == PALETTE["magenta"]
    assert "displayColor" not in got["constant"].mesh.point_data
    for name in ("uniform", "uniform_indexed", "facevarying"):
        assert got[name].mesh.cell_data["displayColor"].shape == (8, 3), name
    for name in ("vertex", "varying", "vertex_indexed"):
        assert got[name].mesh.point_data["displayColor"].shape == (16, 3), name
    fv = got["facevarying_indexed"].mesh
    # split points: the centre has a copy per face (4 colours), each edge midpoint one per side (2)
    assert fv.n_points == 1 * 4 + 4 * 2 + 4
    assert {p.name: p.color for p in got["subsets"].parts} == {"left": PALETTE["blue"], "right": PALETTE["yellow"]}
    assert got["subsets"].material.roughness == pytest.approx(0.8)

    size = (1600, 360)
    img = render_image(scene, camera="top", size=size, color_by="material", floor=False, anti_aliasing="none")
    wrong = []
    for name, checks in expect.items():
        pix = project(scene, "top", size, [p for p, _ in checks])
        for (p, want), cr in zip(checks, pix):
            seen = hue_name(pixel(img, cr))
            if seen != want:
                wrong.append((name, p.tolist(), want, seen, pixel(img, cr).tolist()))
    assert not wrong, wrong


# --------------------------------------------------------------------------- textures
def textured_quad_stage(folder: Path, *, st_interpolation: str = "faceVarying") -> Path:
    """A 2 x 2 quad textured with a PNG of four coloured quadrants (red top-left, green
    top-right, blue bottom-left, yellow bottom-right), read through a st primvar."""
    import imageio.v3 as iio
    from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade, Vt

    img = np.zeros((64, 64, 3), np.uint8)  # row 0 is the top of the image
    img[:32, :32] = (255, 0, 0)
    img[:32, 32:] = (0, 255, 0)
    img[32:, :32] = (0, 0, 255)
    img[32:, 32:] = (255, 255, 0)
    (folder / "textures").mkdir(parents=True, exist_ok=True)
    iio.imwrite(folder / "textures" / "quadrants.png", img)
    path = folder / "textured.usda"
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    mesh, pts, _ = grid_mesh(stage, "/W/quad", (0, 0, 0), n=1)
    pts2 = pts * 2
    mesh.GetPointsAttr().Set(Vt.Vec3fArray.FromNumpy(pts2.astype(np.float32)))
    st_values = [Gf.Vec2f(0, 0), Gf.Vec2f(1, 0), Gf.Vec2f(1, 1), Gf.Vec2f(0, 1)]
    st = UsdGeom.PrimvarsAPI(mesh).CreatePrimvar("st", Sdf.ValueTypeNames.TexCoord2fArray, st_interpolation)
    if st_interpolation == "faceVarying":
        st.Set(Vt.Vec2fArray(st_values))
        st.SetIndices(Vt.IntArray([0, 1, 2, 3]))  # face corners 0 1 3 2 of the grid -> st 0 1 2 3
    else:
        st.Set(Vt.Vec2fArray([st_values[i] for i in (0, 1, 3, 2)]))  # grid points 0 1 2 3
    mat = UsdShade.Material.Define(stage, "/W/Looks/tex")
    surf = UsdShade.Shader.Define(stage, "/W/Looks/tex/surface")
    surf.CreateIdAttr("UsdPreviewSurface")
    tex = UsdShade.Shader.Define(stage, "/W/Looks/tex/diffuse")
    tex.CreateIdAttr("UsdUVTexture")
    tex.CreateInput("file", Sdf.ValueTypeNames.Asset).Set("textures/quadrants.png")
    reader = UsdShade.Shader.Define(stage, "/W/Looks/tex/st_reader")
    reader.CreateIdAttr("UsdPrimvarReader_float2")
    # the primvar name comes through a material interface input, as in many exported assets
    name_input = mat.CreateInput("frame:stPrimvarName", Sdf.ValueTypeNames.Token)
    name_input.Set("st")
    reader.CreateInput("varname", Sdf.ValueTypeNames.Token).ConnectToSource(name_input)
    reader.CreateOutput("result", Sdf.ValueTypeNames.Float2)
    tex.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(reader.ConnectableAPI(), "result")
    tex.CreateOutput("rgb", Sdf.ValueTypeNames.Float3)
    surf.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).ConnectToSource(tex.ConnectableAPI(), "rgb")
    surf.CreateInput("metallic", Sdf.ValueTypeNames.Float).Set(0.25)
    mat.CreateSurfaceOutput().ConnectToSource(surf.ConnectableAPI(), "surface")
    UsdShade.MaterialBindingAPI.Apply(mesh.GetPrim()).Bind(mat)
    mesh.CreateDisplayColorPrimvar().Set(colors("magenta"))  # hidden by the material
    stage.Save()
    return path


def check_quadrants(scene: Scene, size=(480, 480)) -> None:
    img = render_image(scene, camera="top", size=size, color_by="material", floor=False, anti_aliasing="none")
    where = {"red": (0.5, 1.5), "green": (1.5, 1.5), "blue": (0.5, 0.5), "yellow": (1.5, 0.5)}
    pix = project(scene, "top", size, [(x, y, 0.0) for x, y in where.values()])
    seen = {name: hue_name(pixel(img, p)) for name, p in zip(where, pix)}
    assert seen == {name: name for name in where}, seen


@pytest.mark.parametrize("st_interpolation", ["faceVarying", "vertex"])
def test_textured_quad_renders_its_texture(tmp_path, st_interpolation):
    path = textured_quad_stage(tmp_path, st_interpolation=st_interpolation)
    scene = read_usd(path)
    (quad,) = scene.assets()
    assert Path(quad.material.texture) == tmp_path / "textures" / "quadrants.png"
    assert quad.material.metallic == pytest.approx(0.25)
    st = np.asarray(quad.mesh.point_data["st"])
    assert st.shape == (quad.mesh.n_points, 2) and st.dtype == np.float32
    # texture coordinates follow the points: st = position / 2 on this quad
    np.testing.assert_allclose(st, np.asarray(quad.mesh.points)[:, :2] / 2, atol=1e-6)
    check_quadrants(scene)
    # other colour modes draw no texture: one colour over the whole quad
    img = render_image(scene, camera="top", size=(200, 200), color_by="labels", floor=False, anti_aliasing="none")
    pix = project(scene, "top", (200, 200), [(0.5, 1.5, 0), (1.5, 1.5, 0), (0.5, 0.5, 0), (1.5, 0.5, 0)])
    assert len({hue_name(pixel(img, p)) for p in pix}) == 1


def test_texture_inside_a_usdz_is_extracted(tmp_path):
    from pxr import UsdUtils

    path = textured_quad_stage(tmp_path)
    usdz = tmp_path / "textured.usdz"
    assert UsdUtils.CreateNewUsdzPackage(str(path), str(usdz))
    (tmp_path / "textures" / "quadrants.png").unlink()  # only the copy in the package is left
    scene = read_usd(usdz)
    (quad,) = scene.assets()
    tex = Path(quad.material.texture)
    assert tex.is_file() and tex.suffix == ".png" and tmp_path not in tex.parents
    check_quadrants(scene, size=(240, 240))


# --------------------------------------------------------------------------- transforms, units
def test_foreign_usd_file_with_nested_transforms(tmp_path):
    from pxr import Gf, Usd, UsdGeom, Vt

    path = tmp_path / "foreign.usda"
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, 0.01)  # centimetres
    root = UsdGeom.Xform.Define(stage, "/Root")
    root.AddTranslateOp().Set(Gf.Vec3d(100, 0, 0))
    sub = UsdGeom.Xform.Define(stage, "/Root/Sub")
    sub.AddScaleOp().Set(Gf.Vec3f(2, 2, 2))
    quad_box = pv.Cube().clean()  # 6 quads
    mesh = UsdGeom.Mesh.Define(stage, "/Root/Sub/Box")
    mesh.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(np.asarray(quad_box.points, np.float32)))
    faces = quad_box.faces.reshape(-1, 5)
    mesh.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(faces[:, 0].astype(np.int32)))
    mesh.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(faces[:, 1:].ravel().astype(np.int32)))
    mesh.CreateDisplayColorAttr([Gf.Vec3f(0.9, 0.1, 0.1)])
    stage.SetDefaultPrim(root.GetPrim())
    stage.Save()

    scene = read_usd(path)
    assert scene.units == "cm" and scene.up_axis == "Y"
    (p, box), = [(p, a) for p, a in scene.walk() if a.mesh is not None]
    assert box.mesh.n_cells == 12  # quads triangulated
    w = box.mesh.transform(scene.world_matrix(p), inplace=False)
    np.testing.assert_allclose(w.center, [100, 0, 0], atol=1e-6)
    np.testing.assert_allclose(w.volume, 8.0, rtol=1e-6)  # unit cube scaled by 2
    np.testing.assert_allclose(box.material.base_color, [0.9, 0.1, 0.1], atol=1e-6)


# --------------------------------------------------------------------------- instancing
def box_mesh(stage, path: str, size=(1.0, 2.0, 0.5)):
    """A box mesh (quads) of ``size`` centred on its prim's origin."""
    from pxr import UsdGeom, Vt

    box = pv.Box(bounds=(-size[0] / 2, size[0] / 2, -size[1] / 2, size[1] / 2, -size[2] / 2, size[2] / 2))
    faces = box.faces.reshape(-1, 5)
    mesh = UsdGeom.Mesh.Define(stage, path)
    mesh.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(np.asarray(box.points, np.float32)))
    mesh.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(faces[:, 0].astype(np.int32)))
    mesh.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(faces[:, 1:].ravel().astype(np.int32)))
    return mesh


def world_bounds(scene: Scene, path: str, asset: Asset) -> np.ndarray:
    return np.array(asset.mesh.transform(scene.world_matrix(path), inplace=False).bounds).reshape(3, 2)


def test_point_instancer_reads_one_asset_per_visible_instance(tmp_path):
    from pxr import Gf, Usd, UsdGeom, Vt

    path = tmp_path / "instancer.usda"
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    root = UsdGeom.Xform.Define(stage, "/World")
    root.AddTranslateOp().Set(Gf.Vec3d(0, 0, 1))
    inst = UsdGeom.PointInstancer.Define(stage, "/World/pawns")
    UsdGeom.Scope.Define(stage, "/World/pawns/Prototypes")
    proto = UsdGeom.Xform.Define(stage, "/World/pawns/Prototypes/pawn")
    proto.AddTranslateOp().Set(Gf.Vec3d(0, 0, 0.25))  # the prototype's own transform is part of each instance
    box_mesh(stage, "/World/pawns/Prototypes/pawn/body")
    box_mesh(stage, "/World/pawns/Prototypes/rook", size=(0.5, 0.5, 3.0))
    inst.CreatePrototypesRel().SetTargets([proto.GetPath(), "/World/pawns/Prototypes/rook"])
    n = 6
    positions = [Gf.Vec3f(3.0 * i, 1.0, 0.0) for i in range(n)]
    quarter = Gf.Quath(math.cos(math.pi / 4), 0, 0, math.sin(math.pi / 4))  # 90 degrees about Z
    orient = [quarter if i % 2 else Gf.Quath(1, 0, 0, 0) for i in range(n)]
    scales = [Gf.Vec3f(1 + 0.5 * i, 1, 1) for i in range(n)]
    inst.CreatePositionsAttr(Vt.Vec3fArray(positions))
    inst.CreateOrientationsAttr(Vt.QuathArray(orient))
    inst.CreateScalesAttr(Vt.Vec3fArray(scales))
    inst.CreateProtoIndicesAttr(Vt.IntArray([0, 0, 0, 1, 0, 0]))
    inst.CreateInvisibleIdsAttr(Vt.Int64Array([2]))
    stage.Save()

    scene = read_usd(path)
    meshes = [(p, a) for p, a in scene.walk() if a.mesh is not None]
    assert len(meshes) == n - 1  # one invisible; prototypes not drawn on their own
    by_index = {int(p.rsplit("_", 1)[1]): (p, a) for p, a in meshes}
    assert sorted(by_index) == [0, 1, 3, 4, 5]
    for i, (p, a) in by_index.items():
        b = world_bounds(scene, p, a)
        centre = b.mean(1)
        if i == 3:  # the rook: 0.5 x 0.5 x 3, scaled 2.5 along its x, then turned 90 degrees
            np.testing.assert_allclose(centre, [9.0, 1.0, 1.0], atol=1e-3)
            np.testing.assert_allclose(b[:, 1] - b[:, 0], [0.5, 1.25, 3.0], atol=1e-3)
            continue
        # pawn: scale (1 + 0.5 i) along x, then turned 90 degrees for odd i, moved to its position
        # (orientations are half-precision quaternions: 1e-4 off a right angle)
        np.testing.assert_allclose(centre, [3.0 * i, 1.0, 1.25], atol=1e-3)
        sx = 1 + 0.5 * i
        want = [2.0, sx, 0.5] if i % 2 else [sx, 2.0, 0.5]
        np.testing.assert_allclose(b[:, 1] - b[:, 0], want, atol=1e-3)
    # instances share their prototype's mesh
    pawn_meshes = {id(a.mesh) for i, (p, a) in by_index.items() if i != 3}
    assert len(pawn_meshes) == 1


def test_native_instances_read_as_separate_assets(tmp_path):
    from pxr import Gf, Sdf, Usd, UsdGeom

    path = tmp_path / "native.usda"
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    stage.CreateClassPrim("/Chairs")
    UsdGeom.Xform.Define(stage, "/Chairs/chair")
    box_mesh(stage, "/Chairs/chair/seat").CreateDisplayColorPrimvar().Set(colors("green"))
    UsdGeom.Xform.Define(stage, "/Room")
    for i in range(3):
        x = UsdGeom.Xform.Define(stage, f"/Room/chair_{i}")
        x.AddTranslateOp().Set(Gf.Vec3d(2.0 * i, 0, 0))
        x.AddRotateZOp().Set(90.0 * i)
        x.GetPrim().GetReferences().AddInternalReference(Sdf.Path("/Chairs/chair"))
        x.GetPrim().SetInstanceable(True)
    stage.Save()
    assert len(Usd.Stage.Open(str(path)).GetPrototypes()) == 1

    scene = read_usd(path)
    meshes = [(p, a) for p, a in scene.walk() if a.mesh is not None]
    assert [p for p, _ in meshes] == [f"Room/chair_{i}/seat" for i in range(3)]
    for i, (p, a) in enumerate(meshes):
        b = world_bounds(scene, p, a)
        np.testing.assert_allclose(b.mean(1), [2.0 * i, 0, 0], atol=1e-6)
        np.testing.assert_allclose(b[:2, 1] - b[:2, 0], [1, 2] if i % 2 == 0 else [2, 1], atol=1e-6)
        assert a.material.base_color == PALETTE["green"]


# --------------------------------------------------------------------------- units, up axis, framing
def test_y_up_centimetre_stage_is_in_frame_above_the_floor(tmp_path):
    from pxr import Gf, Usd, UsdGeom

    path = tmp_path / "yup_cm.usda"
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, 0.01)
    UsdGeom.Xform.Define(stage, "/Set")
    # a tall column, a wide table and a small box far to the side (centimetres, Y up)
    parts = {"column": ((20, 180, 20), (0, 90, 0), "red"), "table": ((160, 5, 80), (120, 75, 0), "green"),
             "crate": ((30, 30, 30), (-150, 15, 60), "blue")}
    for name, (size, at, col) in parts.items():
        x = UsdGeom.Xform.Define(stage, f"/Set/{name}")
        x.AddTranslateOp().Set(Gf.Vec3d(*at))
        box_mesh(stage, f"/Set/{name}/geom", size=size).CreateDisplayColorPrimvar().Set(colors(col))
    stage.Save()

    scene = read_usd(path)
    assert (scene.units, scene.up_axis) == ("cm", "Y")
    lo, hi = scene.bounds()
    np.testing.assert_allclose([lo[1], hi[1]], [0, 180], atol=1e-4)
    from twin3d.render import InstancedRenderer

    for camera in ("iso", "front", "side", "top"):
        size = (640, 360)
        with InstancedRenderer(scene, size=size, camera=camera, color_by="material", anti_aliasing="none") as r:
            floor = np.array(r.plotter.actors["floor"].GetBounds()).reshape(3, 2)
            assert floor[1, 1] < lo[1] and floor[1, 1] > lo[1] - 1.0  # just below the model, along Y
            img = r.image()
        for p, a in scene.walk():
            if a.mesh is None:
                continue
            corners = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float)
            b = world_bounds(scene, p, a)
            corners = b[:, 0] + corners * (b[:, 1] - b[:, 0])
            pix = project(scene, camera, size, corners)
            assert (pix >= 0).all() and (pix[:, 0] <= size[0]).all() and (pix[:, 1] <= size[1]).all(), (camera, p)
        # and no mesh colour on the image border
        border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
        assert not {hue_name(px) for px in border} & {"red", "green", "blue"}, camera
        seen = {hue_name(px) for px in img.reshape(-1, 3)[::7]}
        assert {"red", "green", "blue"} <= seen, camera


# --------------------------------------------------------------------------- purpose, payloads, time
def test_purpose_payloads_and_time_sampled_geometry(tmp_path):
    from pxr import Gf, Usd, UsdGeom, Vt

    part = tmp_path / "part.usda"
    s = Usd.Stage.CreateNew(str(part))
    UsdGeom.Xform.Define(s, "/Part")
    box_mesh(s, "/Part/geo", size=(1, 1, 1))
    s.SetDefaultPrim(s.GetPrimAtPath("/Part"))
    s.Save()

    path = tmp_path / "scene.usda"
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.Xform.Define(stage, "/W")
    for name, purpose in (("render_geo", "render"), ("proxy_geo", "proxy"), ("guide_geo", "guide"),
                          ("plain_geo", None)):
        m = box_mesh(stage, f"/W/{name}")
        if purpose:
            m.CreatePurposeAttr(purpose)
    # a payload (loaded) and an animated mesh whose points have time samples only
    loaded = UsdGeom.Xform.Define(stage, "/W/loaded")
    loaded.GetPrim().GetPayloads().AddPayload(str(part))
    loaded.AddTranslateOp().Set(Gf.Vec3d(5, 0, 0))
    anim = UsdGeom.Mesh.Define(stage, "/W/animated")
    anim.CreateFaceVertexCountsAttr([3])
    anim.CreateFaceVertexIndicesAttr([0, 1, 2])
    for t, z in ((1.0, 0.0), (10.0, 4.0)):
        anim.CreatePointsAttr().Set(Vt.Vec3fArray([Gf.Vec3f(0, 0, z), Gf.Vec3f(1, 0, z), Gf.Vec3f(0, 1, z)]), t)
    mover = UsdGeom.Xform.Define(stage, "/W/mover")
    op = mover.AddTranslateOp()
    op.Set(Gf.Vec3d(0, 7, 0), 1.0)
    op.Set(Gf.Vec3d(0, 9, 0), 10.0)
    box_mesh(stage, "/W/mover/geo")
    stage.Save()

    scene = read_usd(path)
    names = {p for p, a in scene.walk() if a.mesh is not None}
    assert names == {"W/render_geo", "W/plain_geo", "W/loaded/geo", "W/animated", "W/mover/geo"}
    np.testing.assert_allclose(scene.world_matrix("W/loaded/geo")[:3, 3], [5, 0, 0])
    # no time range authored: the first time sample
    np.testing.assert_allclose(scene.get("animated").mesh.points[:, 2], 0.0)
    np.testing.assert_allclose(scene.world_matrix("W/mover")[:3, 3], [0, 7, 0])
    # without render-purpose geometry, proxies are what there is to draw
    stage.RemovePrim("/W/render_geo")
    stage.Save()
    names = {p for p, a in read_usd(path).walk() if a.mesh is not None}
    assert "W/proxy_geo" in names and "W/guide_geo" not in names


def test_display_opacity_and_preview_surface_inputs(tmp_path):
    from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade

    path = tmp_path / "opacity.usda"
    stage = Usd.Stage.CreateNew(str(path))
    mesh, _, _ = grid_mesh(stage, "/W/glass")
    mesh.CreateDisplayOpacityPrimvar(UsdGeom.Tokens.uniform).Set([0.2, 0.4, 0.6, 0.8])
    mesh.CreateDisplayColorPrimvar(UsdGeom.Tokens.constant).Set(colors("cyan"))
    other, _, _ = grid_mesh(stage, "/W/steel", (3, 0, 0))
    mat = UsdShade.Material.Define(stage, "/W/Looks/steel")
    surf = UsdShade.Shader.Define(stage, "/W/Looks/steel/s")
    surf.CreateIdAttr("UsdPreviewSurface")
    for name, value in (("diffuseColor", Gf.Vec3f(0.5, 0.6, 0.7)), ("opacity", 0.5), ("metallic", 1.0),
                        ("roughness", 0.1)):
        tn = Sdf.ValueTypeNames.Color3f if name == "diffuseColor" else Sdf.ValueTypeNames.Float
        surf.CreateInput(name, tn).Set(value)
    mat.CreateSurfaceOutput().ConnectToSource(surf.ConnectableAPI(), "surface")
    UsdShade.MaterialBindingAPI.Apply(other.GetPrim()).Bind(mat)
    other.CreateDisplayColorPrimvar().Set(colors("red"))  # a bound material wins over displayColor
    stage.Save()

    scene = read_usd(path)
    glass, steel = scene.get("glass"), scene.get("steel")
    np.testing.assert_allclose(glass.mesh.cell_data["displayOpacity"], np.repeat([0.2, 0.4, 0.6, 0.8], 2), atol=1e-6)
    assert glass.material.base_color == PALETTE["cyan"] and glass.material.opacity == pytest.approx(0.2)
    m = steel.material
    assert (m.name, m.metallic, m.roughness) == ("steel", 1.0, pytest.approx(0.1))
    np.testing.assert_allclose(m.base_color, [0.5, 0.6, 0.7], atol=1e-6)
    assert m.opacity == pytest.approx(0.5)


def test_files_written_by_twin3d_read_back_fields_not_explicit_colours(tmp_path):
    scene = Scene("own", units="m")
    a = scene.add(Asset("plate", mesh=pv.Plane(i_resolution=4, j_resolution=4).triangulate()))
    times = np.array([0.0, 1.0])
    a.set_field(Field("temperature", np.stack([np.linspace(0, 1, a.n_points)] * 2), times=times, unit="K"))
    b = scene.add(Asset("pump", mesh=pv.Cube().triangulate()))
    b.set_field(Field("risk", [0.1, 0.9], association="asset", times=times))
    path = write_usd(scene, tmp_path / "own.usda")
    back = read_usd(path)
    for name in ("plate", "pump"):
        mesh = back.get(name).mesh
        assert "displayColor" not in mesh.point_data and "displayColor" not in mesh.cell_data, name
        assert mesh.n_points == scene.get(name).n_points
    np.testing.assert_allclose(back.get("plate").fields["temperature"].values, a.fields["temperature"].values)
    np.testing.assert_allclose(back.get("pump").fields["risk"].values, [0.1, 0.9])


# --------------------------------------------------------------------------- composition problems
BROKEN = '''#usda 1.0
(
    subLayers = [@missing_layer.usda@]
)
def Xform "World"
{
    def Xform "a" (prepend references = @props/missing_chair.usda@) {}
    def Xform "b" (prepend references = @props/missing_table.usd@</Table>) {}
    def Material "m" (prepend references = @materials/wood.mtlx@</MaterialX/Materials/wood>) {}
    def Material "n" (prepend references = @materials/metal.mtlx@</MaterialX/Materials/metal>) {}
    def Mesh "tri"
    {
        point3f[] points = [(0, 0, 0), (1, 0, 0), (0, 1, 0)]
        int[] faceVertexCounts = [3]
        int[] faceVertexIndices = [0, 1, 2]
    }
}
'''


def test_composition_problems_are_one_summary_line_per_kind(tmp_path):
    """Missing layers are an error (geometry would disappear) unless allowed; then, and for
    MaterialX files, one warning per kind and no raw USD output."""
    path = tmp_path / "broken.usda"
    path.write_text(BROKEN)
    (tmp_path / "materials").mkdir()
    (tmp_path / "materials" / "wood.mtlx").write_text("<?xml version='1.0'?><materialx version='1.38'/>")
    with pytest.raises(InputError) as err:
        read_usd(path)
    assert str(err.value) == f"{path}: " + (
        "1 missing sublayer (missing_layer.usda); 2 unresolved references (props/missing_chair.usda, "
        "props/missing_table.usd): their geometry would be missing; pass --allow-missing (Python: "
        "read_usd(..., allow_missing=True)) to read the rest")
    with allow_missing_layers(), pytest.warns(UsdReadWarning):
        assert len(read_usd(path).assets()) == 1
    code = textwrap.dedent(f"""
        import warnings
        from twin3d.usd import read_usd
        scene = read_usd({str(path)!r}, allow_missing=True)
        print(len(scene.assets()))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "1"  # the readable mesh
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert not [ln for ln in lines if "Warning: in" in ln or "stage.cpp" in ln], lines  # no raw USD output
    warned = [ln for ln in lines if "UsdReadWarning" in ln]
    assert len(warned) == 3, lines
    text = "\n".join(warned)
    assert "broken.usda: 1 missing sublayer (missing_layer.usda)" in text
    assert "broken.usda: 2 unresolved references (props/missing_chair.usda, props/missing_table.usd)" in text
    assert "broken.usda: 2 unreadable MaterialX files (materials/metal.mtlx, materials/wood.mtlx)" in text
    assert "test_usd_reader" not in text and "<string>:4: UsdReadWarning" in text  # points at the caller

    # the command line prints them as twin3d warnings (missing layers only with --allow-missing)
    res = subprocess.run([sys.executable, "-m", "twin3d", "info", str(path), "--allow-missing"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 3 and all(ln.startswith("twin3d: warning: broken.usda: ") for ln in lines), lines


def test_textured_and_plain_faces_of_one_mesh_become_one_asset_each(tmp_path):
    """An asset draws one texture: a mesh whose subsets are textured and plain splits in two."""
    from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade, Vt

    path = textured_quad_stage(tmp_path)
    stage = Usd.Stage.Open(str(path))
    mesh = UsdGeom.Mesh(stage.GetPrimAtPath("/W/quad"))
    # a second face to the right, bound to a plain red material through a GeomSubset
    pts = np.asarray(mesh.GetPointsAttr().Get())
    mesh.GetPointsAttr().Set(Vt.Vec3fArray.FromNumpy(np.concatenate([pts, [[4, 0, 0], [4, 2, 0]]]).astype(np.float32)))
    mesh.GetFaceVertexCountsAttr().Set([4, 4])
    mesh.GetFaceVertexIndicesAttr().Set([0, 1, 3, 2, 1, 4, 5, 3])
    st = UsdGeom.PrimvarsAPI(mesh).GetPrimvar("st")
    st.SetIndices(Vt.IntArray([0, 1, 2, 3, 0, 0, 0, 0]))
    red = UsdShade.Material.Define(stage, "/W/Looks/red")
    surf = UsdShade.Shader.Define(stage, "/W/Looks/red/s")
    surf.CreateIdAttr("UsdPreviewSurface")
    surf.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).Set(Gf.Vec3f(1, 0, 0))
    red.CreateSurfaceOutput().ConnectToSource(surf.ConnectableAPI(), "surface")
    api = UsdShade.MaterialBindingAPI(mesh.GetPrim())
    UsdShade.MaterialBindingAPI.Apply(api.CreateMaterialBindSubset("plain", Vt.IntArray([1])).GetPrim()).Bind(red)
    stage.Save()

    scene = read_usd(path)
    got = {p: a for p, a in scene.walk() if a.mesh is not None}
    assert sorted(got) == ["W/quad/quad_quadrants", "W/quad/quad_untextured"]
    tex, plain = got["W/quad/quad_quadrants"], got["W/quad/quad_untextured"]
    assert tex.material.texture and tex.mesh.n_cells == 2
    assert plain.material.texture is None and plain.material.base_color == (1.0, 0.0, 0.0)
    size = (480, 240)
    img = render_image(scene, camera="top", size=size, color_by="material", floor=False, anti_aliasing="none")
    where = {"green": (1.5, 1.5), "blue": (0.5, 0.5), "red": (3.0, 1.0)}
    pix = project(scene, "top", size, [(x, y, 0.0) for x, y in where.values()])
    assert {n: hue_name(pixel(img, p)) for n, p in zip(where, pix)} == {n: n for n in where}


# --------------------------------------------------------------------------- hostile and broken files (issue 14)
MESH = """def Mesh "{name}"
{{
    point3f[] points = [{points}]
    int[] faceVertexCounts = [3]
    int[] faceVertexIndices = [0, 1, 2]
}}
"""


def usda(body: str, header: str = "") -> str:
    return "#usda 1.0\n" + (f"(\n{header}\n)\n" if header else "") + body


def mesh_text(name: str = "tri", points: str = "(0, 0, 0), (1, 0, 0), (0, 1, 0)") -> str:
    return MESH.format(name=name, points=points)


def loaded_layers_in(folder: Path) -> list[str]:
    from pxr import Sdf

    real = str(folder.resolve())
    return [lyr.realPath for lyr in Sdf.Layer.GetLoadedLayers() if lyr.realPath.startswith(real)]


def test_layers_outside_the_folder_are_refused_before_usd_opens_them(tmp_path):
    from twin3d.confine import allow_paths
    from twin3d.errors import ConfinementError

    outside, proj = tmp_path / "outside", tmp_path / "proj"
    (proj / "parts").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.usda").write_text(usda('def Xform "S"\n{\n' + mesh_text("m", "(7, 7, 7), (8, 7, 7), (7, 8, 7)")
                                              + "}\n", 'defaultPrim = "S"'))
    # a layer in a subfolder may use its siblings anywhere in the root file's folder
    (proj / "shared.usda").write_text(usda(mesh_text("shared"), 'defaultPrim = "shared"'))
    (proj / "parts" / "part.usda").write_text(usda('def "P" (prepend references = @../shared.usda@) {}\n',
                                                   'defaultPrim = "P"'))
    ok = proj / "ok.usda"
    ok.write_text(usda('def "W" (prepend references = @parts/part.usda@) {}\n'))
    assert [p for p, a in read_usd(ok).walk() if a.mesh is not None] == ["W"]

    cases = {
        "absolute reference": (f'def Xform "W" (prepend references = @{outside / "secret.usda"}@) {{}}\n', ""),
        "sublayer": ("", "subLayers = [@../outside/secret.usda@]"),
        "payload in a sublayer's reference": ('def Xform "W" (prepend references = @parts/leak.usda@) {}\n', ""),
        "value clip": ('def Xform "W" (\n    clips = {\n        dictionary default = {\n'
                       f'            asset[] assetPaths = [@{outside / "secret.usda"}@]\n'
                       '            string primPath = "/S"\n            double2[] active = [(0, 0)]\n'
                       '        }\n    }\n) {}\n', ""),
    }
    (proj / "parts" / "leak.usda").write_text(usda('def Xform "P" (prepend payload = @../../outside/secret.usda@) {}\n',
                                                   'defaultPrim = "P"'))
    (proj / "link.usda").symlink_to(outside / "secret.usda")  # inside by name, outside once resolved
    cases["symlink"] = ('def Xform "W" (prepend references = @link.usda@) {}\n', "")
    for case, (body, header) in cases.items():
        path = proj / f"{case.replace(' ', '_')}.usda"
        path.write_text(usda(body, header))
        with pytest.raises(ConfinementError, match="outside") as err:
            read_usd(path)
        assert "\n" not in str(err.value) and "--allow-path" in str(err.value), case
        assert loaded_layers_in(outside) == [], case  # refused before USD opened it

    # the file itself may be a link to anywhere: only what it names is confined (to the link's folder)
    (proj / "linked.usda").symlink_to(outside / "secret.usda")
    assert [p for p, a in read_usd(proj / "linked.usda").walk() if a.mesh is not None] == ["S/m"]

    # allowed folders (and a sublayer in one) read normally
    with allow_paths(outside):
        scene = read_usd(proj / "absolute_reference.usda")
    np.testing.assert_allclose(scene.get("W/m").mesh.points[0], [7, 7, 7])


def test_usdz_package_files_are_inside_and_references_out_of_it_are_not(tmp_path):
    from pxr import Sdf

    from twin3d.errors import ConfinementError

    (tmp_path / "outside").mkdir()
    secret = tmp_path / "outside" / "secret.usda"
    secret.write_text(usda(mesh_text("m"), 'defaultPrim = "m"'))
    src = tmp_path / "src"
    src.mkdir()
    (src / "part.usda").write_text(usda(mesh_text("p"), 'defaultPrim = "p"'))
    for name, ref, allowed in (("inner", "part.usda", True), ("leak", str(secret), False)):
        (src / "root.usda").write_text(usda(f'def "W" (prepend references = @{ref}@) {{}}\n'))
        pkg = tmp_path / "pkg" / f"{name}.usdz"
        pkg.parent.mkdir(exist_ok=True)
        writer = Sdf.ZipFileWriter.CreateNew(str(pkg))  # packed as written (no dependency localisation)
        writer.AddFile(str(src / "root.usda"), "root.usda")
        writer.AddFile(str(src / "part.usda"), "part.usda")
        writer.Save()
        if allowed:
            assert [p for p, a in read_usd(pkg).walk() if a.mesh is not None] == ["W"]
        else:
            with pytest.raises(ConfinementError, match="secret.usda"):
                read_usd(pkg)


def test_variable_expressions_in_layer_paths_are_refused(tmp_path):
    path = tmp_path / "expr.usda"
    path.write_text(usda('def Xform "W" (prepend references = @`"${ROOT}/part.usda"`@) {}\n',
                         'expressionVariables = {\n    string ROOT = "/etc"\n}'))
    with pytest.raises(InputError, match="variable expression"):
        read_usd(path)


def test_texture_outside_the_folder_is_refused(tmp_path):
    from twin3d.confine import allow_paths
    from twin3d.errors import ConfinementError

    proj = tmp_path / "proj"
    textured = textured_quad_stage(tmp_path / "other")
    proj.mkdir()
    text = textured.read_text().replace("@textures/quadrants.png@",
                                        f"@{tmp_path / 'other' / 'textures' / 'quadrants.png'}@")
    (proj / "scene.usda").write_text(text)
    with pytest.raises(ConfinementError, match="USD texture"):
        read_usd(proj / "scene.usda")
    with allow_paths(tmp_path / "other"):
        (quad,) = read_usd(proj / "scene.usda").assets()
    assert quad.material.texture.endswith("quadrants.png")


@pytest.mark.parametrize("body,header,needle", [
    (mesh_text(points="(0, 0, 0), (1, 0, 0), (0, inf, 0)"), "", "s.usda: /tri: point 2 is not finite (0, inf, 0)"),
    ('def Xform "W"\n{\n    double3 xformOp:scale = (1, nan, 1)\n    uniform token[] xformOpOrder = ["xformOp:scale"]\n'
     '    def Xform "g"\n    {\n' + mesh_text() + "    }\n}\n", "", "s.usda: /W: its transform has values that are not finite"),
    ('def PointInstancer "I"\n{\n    rel prototypes = </I/P>\n    int[] protoIndices = [0, 0]\n'
     '    point3f[] positions = [(0, 0, 0), (nan, 0, 0)]\n    def Xform "P"\n    {\n' + mesh_text() + "    }\n}\n",
     "", "s.usda: /I: instance 1 has a transform that is not finite"),
    (mesh_text(), 'customLayerData = {\n    dictionary twin3d = {\n        string metadata = "[1, 2]"\n    }\n}',
     "customLayerData twin3d.metadata: expected a JSON object, got a JSON list"),
    (mesh_text(), 'customLayerData = {\n    string twin3d = "x"\n}', "customLayerData twin3d: expected a dictionary"),
    (mesh_text(), 'customLayerData = {\n    dictionary twin3d = {\n        double[] frameTimes = [0, nan]\n    }\n}',
     "customLayerData twin3d.frameTimes: expected a list of finite numbers"),
    ('def Mesh "tri" (\n    customData = {\n        dictionary twin3d = {\n            string metadata = "{bad"\n'
     '        }\n    }\n)\n{\n    point3f[] points = [(0, 0, 0), (1, 0, 0), (0, 1, 0)]\n    int[] faceVertexCounts = [3]\n'
     '    int[] faceVertexIndices = [0, 1, 2]\n}\n', "", "s.usda: /tri: customData twin3d:metadata: not valid JSON"),
    (mesh_text().replace("}\n", '    string primvars:twin:risk = "high" (interpolation = "constant")\n}\n'), "",
     "s.usda: /tri.primvars:twin:risk: type string: expected numbers"),
    (mesh_text().replace("}\n", '    float[] primvars:twin:risk = [0.5] (\n        customData = {\n'
                                '            string association = "galaxy"\n        }\n'
                                '        interpolation = "constant"\n    )\n}\n'), "",
     "s.usda: /tri.primvars:twin:risk: customData association 'galaxy': expected 'asset' or 'vertex'"),
    (mesh_text().replace("}\n", '    double twin:sensor:t:value.timeSamples = {0: 1, 1: 2}\n    double twin:x = 1\n}\n'),
     "startTimeCode = 0\nendTimeCode = 4\ntimeCodesPerSecond = -24", "timeCodesPerSecond -24: expected a positive number"),
    (mesh_text().replace("}\n", '    color3f[] primvars:displayColor = [(1, nan, 0)]\n}\n'), "",
     "s.usda: /tri: primvars:displayColor value 0 is not finite"),
])
def test_invalid_values_are_errors_naming_the_prim(tmp_path, body, header, needle):
    path = tmp_path / "s.usda"
    path.write_text(usda(body, header))
    with pytest.raises(InputError) as err:
        read_usd(path)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_typeless_and_unknown_type_prims_are_traversed_like_xforms(tmp_path):
    path = tmp_path / "t.usda"
    path.write_text(usda('def "World"\n{\n    def SomePluginType "rig"\n    {\n        def "geo"\n        {\n'
                         + mesh_text("a") + "        }\n    }\n" + mesh_text("b") + "}\n", 'defaultPrim = "World"'))
    scene = read_usd(path)
    assert sorted(p for p, a in scene.walk() if a.mesh is not None) == ["World/b", "World/rig/geo/a"]


def test_empty_meshes_are_left_out_with_a_warning_and_alone_are_an_error(tmp_path):
    empty = mesh_text("empty", "").replace("[3]", "[]").replace("[0, 1, 2]", "[]")
    path = tmp_path / "e.usda"
    path.write_text(usda(empty + mesh_text("tri")))
    with pytest.warns(UsdReadWarning, match=r"e.usda: 1 empty mesh \(no points or faces\), left out \(/empty\)"):
        scene = read_usd(path)
    assert [p for p, a in scene.walk() if a.mesh is not None] == ["tri"]
    path.write_text(usda(empty))
    with pytest.raises(InputError, match=r"every mesh is empty \(1 without points or faces: /empty\)"):
        read_usd(path)


def test_zero_scale_prims_are_left_out(tmp_path):
    path = tmp_path / "z.usda"
    path.write_text(usda('def Xform "hidden"\n{\n    double3 xformOp:scale = (0, 0, 0)\n'
                         '    uniform token[] xformOpOrder = ["xformOp:scale"]\n' + mesh_text("a") + "}\n" + mesh_text("b")))
    with pytest.warns(UsdReadWarning, match="1 prim with a zero scale, left out"):
        scene = read_usd(path)
    assert [p for p, a in scene.walk() if a.mesh is not None] == ["b"]


def test_broken_files_are_one_line_errors(tmp_path):
    good = tmp_path / "good.usdc"
    good.write_bytes(b"")
    src = tmp_path / "src.usda"
    src.write_text(usda(mesh_text()))
    from pxr import Usd

    Usd.Stage.Open(str(src)).Export(str(good))
    data = good.read_bytes()
    bad = tmp_path / "bad.usdc"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"bad.usdc: not a valid USD file: Sdf crate file corrupt, possibly truncated"):
        read_usd(bad)
    syntax = tmp_path / "syntax.usda"
    syntax.write_text('#usda 1.0\ndef Xform "W"\n{\n    float3 x = (1, 2\n}\n')
    with pytest.raises(InputError, match=r"syntax.usda: not a valid USD file: line 5, column \d+: ") as err:
        read_usd(syntax)
    assert "\n" not in str(err.value) and "pxrInternal" not in str(err.value)
    # a broken layer that a good file references is named, with the file that names it
    (tmp_path / "ref.usda").write_text(usda('def Xform "W" (prepend references = @bad.usdc@) {}\n'))
    with pytest.raises(InputError, match=r"bad.usdc: not a valid USD file \(named by .*ref.usda\)"):
        read_usd(tmp_path / "ref.usda")


def test_time_samples_expand_to_frames_as_usd_resolves_them(tmp_path):
    """Animated fields and sensors are read at their authored samples and expanded to one
    value per time code exactly as USD interpolates (linear; held on a held stage)."""
    from pxr import Usd

    for interpolation in ("linear", "held"):
        path = tmp_path / f"{interpolation}.usda"
        path.write_text(usda(mesh_text().replace("}\n", (
            '    float[] primvars:twin:risk (interpolation = "constant")\n'
            '    float[] primvars:twin:risk.timeSamples = {2: [0.2], 5: [0.8], 6: [0.5]}\n'
            '    float[] primvars:twin:heat (interpolation = "vertex")\n'
            '    float[] primvars:twin:heat.timeSamples = {3: [1, 2, 3], 7: [5, 6, 7]}\n'
            '    double twin:sensor:speed:value.timeSamples = {1: 10, 4: None, 8: 30}\n}\n')),
            f"startTimeCode = 0\nendTimeCode = 9\ntimeCodesPerSecond = 2\ninterpolation = \"{interpolation}\""))
        stage = Usd.Stage.Open(str(path))
        prim = stage.GetPrimAtPath("/tri")
        codes = np.arange(0.0, 10.0)

        def usd(name, prim=prim, codes=codes):
            vals = [prim.GetAttribute(name).Get(Usd.TimeCode(t)) for t in codes]
            return np.array([np.nan if v is None else np.asarray(v, float) for v in vals], dtype=float)

        asset = read_usd(path).get("tri")
        risk, heat, speed = asset.fields["risk"], asset.fields["heat"], asset.sensors["speed"]
        np.testing.assert_allclose(risk.times, codes / 2)
        np.testing.assert_allclose(risk.values, usd("primvars:twin:risk").reshape(-1), rtol=1e-6)
        np.testing.assert_allclose(heat.values, usd("primvars:twin:heat"), rtol=1e-6)
        np.testing.assert_allclose(speed.values, usd("twin:sensor:speed:value"), rtol=1e-9)


def test_time_code_range_is_checked_against_the_budget(tmp_path):
    from twin3d.budgets import memory_budget_set
    from twin3d.errors import BudgetError

    path = tmp_path / "long.usda"
    animated = mesh_text().replace("}\n", '    float[] primvars:twin:risk.timeSamples = {0: [0.1], 10: [0.9]}\n}\n')
    path.write_text(usda(animated, "startTimeCode = 0\nendTimeCode = 1e13"))
    with pytest.raises(BudgetError, match=r"10,000,000,000,001 frames .* above the memory budget"):
        read_usd(path)
    path.write_text(usda(mesh_text(), "startTimeCode = 0\nendTimeCode = 1e13"))  # nothing animated: nothing allocated
    assert read_usd(path).get("tri").mesh.n_cells == 1
    path.write_text(usda(animated, "startTimeCode = 0\nendTimeCode = 100000"))
    with memory_budget_set("3M"), pytest.raises(BudgetError, match=r"/tri.primvars:twin:risk: 100,001 frames"):
        read_usd(path)
    with memory_budget_set("64M"):
        assert read_usd(path).get("tri").fields["risk"].values.shape == (100_001,)
