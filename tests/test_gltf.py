"""glTF export (twin3d.io.gltf): re-read with pygltflib and trimesh, checked by the Khronos glTF-Validator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv
from export_support import (
    accessor_array,
    assert_valid_gltf,
    box,
    green_ish,
    linear_to_srgb,
    load_gltf,
    mm_y_up_scene,
    red_ish,
    validator_available,
    z_up_scene,
)

from twin3d import Asset, Material, Scene, Transform, write_scene
from twin3d.colors import map_values
from twin3d.errors import InputError
from twin3d.io.gltf import trs_from_matrix

trimesh = pytest.importorskip("trimesh")


@pytest.fixture(scope="module")
def factory():
    from twin3d import build_scene
    from twin3d.resources import scene_path

    return build_scene(scene_path("factory_line.yaml"))


def _nodes(gltf) -> dict[str, object]:
    return {n.name: n for n in gltf.nodes}


def _mesh_of(gltf, path: str):
    return next(m for m in gltf.meshes if m.name == path)


def _base_color(gltf, primitive) -> np.ndarray:
    """Display (sRGB) RGBA of a primitive's material."""
    f = gltf.materials[primitive.material].pbrMetallicRoughness.baseColorFactor
    return np.r_[linear_to_srgb(f[:3]), f[3]]


def test_factory_line_glb_gltf_and_split_are_valid_with_names_triangles_and_risk_colours(factory, tmp_path):
    risk = {p: a.fields["risk"].values for p, a in factory.walk() if "risk" in a.fields}
    paths = list(risk)
    table = np.array([risk[p] for p in paths])
    hot, busy = np.unravel_index(np.argmax(table), table.shape)
    hottest = paths[hot]
    calm = int(np.argmin(table[hot]))
    assert table[hot, busy] > 0.5 and table[hot, calm] < 0.05

    busy_glb = write_scene(factory, tmp_path / "busy.glb", frame=int(busy))[0]
    calm_gltf = write_scene(factory, tmp_path / "calm.gltf", frame=calm)
    assert [p.name for p in calm_gltf] == ["calm.gltf", "calm.bin"]
    split = write_scene(factory, tmp_path / "parts.glb", split=True)

    gltf, _ = load_gltf(busy_glb)
    # one node per asset, named after it, below a root named after the scene; one mesh per asset path
    mesh_assets = {p: a for p, a in factory.walk() if a.mesh is not None}
    nodes = _nodes(gltf)
    root = gltf.nodes[gltf.scenes[gltf.scene].nodes[0]]
    assert root.name == "factory_line"
    assert {gltf.nodes[c].name for c in root.children} == {"utilities", "line"}
    assert {a.name for a in mesh_assets.values()} <= set(nodes)
    assert {m.name for m in gltf.meshes} == set(mesh_assets)
    for path, asset in mesh_assets.items():
        mesh = _mesh_of(gltf, path)
        n_tri = sum(gltf.accessors[p.indices].count // 3 for p in mesh.primitives)
        assert n_tri == asset.mesh.n_cells, path
        node = nodes[asset.name]
        assert node.extras["twin3d"]["path"] == path
    # the 4 cnc mills share one mesh: their positions are stored once
    mills = [_mesh_of(gltf, f"line/cnc_mill_0{k}") for k in range(1, 5)]
    assert len({m.primitives[0].attributes.POSITION for m in mills}) == 1

    # colours: the highest-risk machine is red at the busy frame and green at a calm one
    busy_rgb = _base_color(gltf, _mesh_of(gltf, hottest).primitives[0])
    assert red_ish(busy_rgb), busy_rgb
    assert nodes[hottest.split("/")[-1]].extras["twin3d"]["risk"] == pytest.approx(table[hot, busy])
    gltf_calm, _ = load_gltf(calm_gltf[0])
    calm_rgb = _base_color(gltf_calm, _mesh_of(gltf_calm, hottest).primitives[0])
    assert green_ish(calm_rgb), calm_rgb
    # an asset without risk keeps its part colours: one primitive per part
    tank = factory.get("utilities/coolant_tank_01")
    prims = _mesh_of(gltf, "utilities/coolant_tank_01").primitives
    assert len(prims) == len({p.name for p in tank.parts})
    colors = {tuple(np.round(_base_color(gltf, p)[:3], 2)) for p in prims}
    assert colors == {tuple(np.round(p.color, 2)) for p in tank.parts}

    # bounds in metres, +Y up: the scene's Z extent is glTF's Y extent (trimesh applies the node transforms)
    lo, hi = factory.bounds()
    sc = trimesh.load(busy_glb, force="scene")
    assert np.allclose(sc.bounds[:, 1], [lo[2], hi[2]], atol=1e-4)
    assert np.allclose(sc.bounds[:, 0], [lo[0], hi[0]], atol=1e-4)
    assert np.allclose(sorted(-sc.bounds[:, 2]), [lo[1], hi[1]], atol=1e-4)
    # the split files: one per asset, named after its path, each at its world place
    assert sorted(p.name for p in split) == sorted(f"{p.replace('/', '__')}.glb" for p in mesh_assets)
    one = trimesh.load(tmp_path / "parts" / "line__cnc_mill_02.glb", force="scene")
    m = factory.world_matrix("line/cnc_mill_02")
    pts = factory.get("line/cnc_mill_02").mesh.points @ m[:3, :3].T + m[:3, 3]
    assert np.allclose(one.bounds[:, 0], [pts[:, 0].min(), pts[:, 0].max()], atol=1e-4)
    assert np.allclose(one.bounds[:, 1], [pts[:, 2].min(), pts[:, 2].max()], atol=1e-4)


def test_small_scene_vertex_colours_opacity_parts_and_tall_along_y(tmp_path):
    scene = z_up_scene()
    glb = write_scene(scene, tmp_path / "cell.glb", frame=1, color_by="temperature")[0]
    risk_glb = write_scene(scene, tmp_path / "risk.glb", frame=1)[0]
    gltf, blob = load_gltf(glb)
    nodes = _nodes(gltf)
    assert "hidden" not in nodes and "line/hidden" not in {m.name for m in gltf.meshes}
    # the 3 m tower (tall along Z) is tall along Y
    sc = trimesh.load(glb, force="scene")
    tower = sc.dump(concatenate=False)
    heights = {g.metadata.get("name", ""): np.ptp(g.bounds[:, 1]) for g in tower}
    assert max(heights.values()) == pytest.approx(3.0, abs=1e-5)
    # the heater: COLOR_0 = the temperature colours of frame 1 (linear in the file)
    heater = scene.get("heater")
    prim = _mesh_of(gltf, "heater").primitives[0]
    assert prim.attributes.COLOR_0 is not None
    colors = linear_to_srgb(accessor_array(gltf, prim.attributes.COLOR_0, blob)[:, :3])
    pos = accessor_array(gltf, prim.attributes.POSITION, blob)
    f = heater.fields["temperature"]
    lo, hi = float(f.values.min()), float(f.values.max())
    # each written vertex: find its source point by position (normals split vertices, positions stay)
    src = np.array([np.argmin(np.linalg.norm(heater.mesh.points - p, axis=1)) for p in pos])
    expected = map_values(f.values[1][src], "temperature", (lo, hi))
    assert np.allclose(colors, expected, atol=2e-3)
    assert np.allclose(_base_color(gltf, prim), 1.0, atol=1e-6)  # white: COLOR_0 carries the colour
    # the guard is half transparent: BLEND with its opacity; the tower keeps metallic/roughness
    guard = gltf.materials[_mesh_of(gltf, "guard").primitives[0].material]
    assert guard.alphaMode == "BLEND" and guard.pbrMetallicRoughness.baseColorFactor[3] == pytest.approx(0.4)
    tower_mat = gltf.materials[_mesh_of(gltf, "line/tower").primitives[0].material]
    assert tower_mat.pbrMetallicRoughness.metallicFactor == pytest.approx(0.9)
    assert tower_mat.pbrMetallicRoughness.roughnessFactor == pytest.approx(0.3)
    # normals are unit length
    normals = accessor_array(gltf, prim.attributes.NORMAL, blob)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    # in the risk mode the pump is one red primitive at the busy frame; the temperature mode shows its parts
    g2, _ = load_gltf(risk_glb)
    assert len(_mesh_of(g2, "line/pump").primitives) == 1
    assert red_ish(_base_color(g2, _mesh_of(g2, "line/pump").primitives[0]))
    parts = [_base_color(gltf, p)[:3] for p in _mesh_of(gltf, "line/pump").primitives]
    assert sorted(map(tuple, np.round(parts, 2))) == [(0.1, 0.1, 0.9), (0.9, 0.1, 0.1)]


def test_millimetre_y_up_scene_is_written_in_metres(tmp_path):
    glb = write_scene(mm_y_up_scene(), tmp_path / "bench.glb")[0]
    gltf, blob = load_gltf(glb)
    root = gltf.nodes[gltf.scenes[0].nodes[0]]
    assert root.rotation is None  # already +Y up
    block = _nodes(gltf)["block"]
    assert block.translation == pytest.approx([1.0, 0.0, 0.0])
    pos = accessor_array(gltf, _mesh_of(gltf, "block").primitives[0].attributes.POSITION, blob)
    assert np.allclose(pos.max(0) - pos.min(0), [0.1, 0.2, 0.3], atol=1e-6)
    sc = trimesh.load(glb, force="scene")
    assert np.allclose(sc.bounds, [[1.0, 0, 0], [1.1, 0.2, 0.3]], atol=1e-6)


def _foreign_scene(folder):
    """Explicit per-face and per-vertex colours, a sheared transform, a textured quad (texture in ``folder``)."""
    import imageio.v3 as iio

    scene = Scene("foreign", up_axis="Y")
    faces_mesh = pv.Sphere(theta_resolution=12, phi_resolution=8)
    rng = np.random.default_rng(0)
    faces_mesh.cell_data["displayColor"] = rng.random((faces_mesh.n_cells, 3)).astype(np.float32)
    scene.add(Asset("faces", mesh=faces_mesh))
    pts_mesh = box(1, 1, 1)
    pts_mesh.point_data["displayColor"] = rng.random((pts_mesh.n_points, 3)).astype(np.float32)
    pts_mesh.point_data["displayOpacity"] = np.linspace(0.2, 1, pts_mesh.n_points).astype(np.float32)
    shear = np.eye(4)
    shear[0, 1] = 0.5
    scene.add(Asset("sheared", mesh=pts_mesh, transform=Transform.from_matrix(shear)))
    quad = pv.Plane(i_resolution=1, j_resolution=1).triangulate()
    quad.point_data["st"] = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float32)[: quad.n_points]
    img = np.zeros((8, 8, 3), np.uint8)
    img[:4] = (255, 0, 0)
    iio.imwrite(folder / "tex.png", img)
    scene.add(Asset("quad", mesh=quad, material=Material("tex", texture=str(folder / "tex.png"))))
    return scene


def test_explicit_colours_texture_and_a_sheared_transform(tmp_path):
    scene = _foreign_scene(tmp_path)
    faces_mesh = scene.get("faces").mesh
    quad = scene.get("quad").mesh
    glb = write_scene(scene, tmp_path / "foreign.glb")[0]
    gltf, blob = load_gltf(glb)
    # per-face colours (many distinct) became exact per-vertex colours: every triangle keeps its colour
    prim = _mesh_of(gltf, "faces").primitives[0]
    col = linear_to_srgb(accessor_array(gltf, prim.attributes.COLOR_0, blob))
    tri = accessor_array(gltf, prim.indices, blob).reshape(-1, 3)
    assert len(tri) == faces_mesh.n_cells
    assert np.allclose(col[tri].std(axis=1), 0, atol=1e-6)  # the 3 corners of each face agree
    assert np.allclose(np.sort(col[tri][:, 0], axis=0), np.sort(faces_mesh.cell_data["displayColor"], axis=0),
                       atol=2e-3)
    # the sheared node is not TRS: baked into the geometry, so the node has no transform
    node = _nodes(gltf)["sheared"]
    assert node.translation is None and node.rotation is None and node.scale is None and node.matrix is None
    sheared = _mesh_of(gltf, "sheared").primitives[0]
    pos = accessor_array(gltf, sheared.attributes.POSITION, blob)
    assert pos[:, 0].max() == pytest.approx(1.5, abs=1e-6)
    # per-vertex opacity: COLOR_0 with alpha, blended
    rgba = accessor_array(gltf, sheared.attributes.COLOR_0, blob)
    assert rgba.shape[1] == 4 and rgba[:, 3].min() == pytest.approx(0.2)
    assert gltf.materials[sheared.material].alphaMode == "BLEND"
    # the texture: embedded PNG, TEXCOORD_0 with v flipped (glTF's origin is top-left)
    qprim = _mesh_of(gltf, "quad").primitives[0]
    mat = gltf.materials[qprim.material]
    assert mat.pbrMetallicRoughness.baseColorTexture.index == 0
    assert gltf.images[0].mimeType == "image/png"
    uv = accessor_array(gltf, qprim.attributes.TEXCOORD_0, blob)
    assert sorted(map(tuple, uv)) == sorted(map(tuple, np.c_[quad.point_data["st"][:, 0], 1 - quad.point_data["st"][:, 1]]))


def test_trs_decomposition_and_refusals(tmp_path):
    t = Transform(translate=(1, 2, 3), rotate=(10, 20, 30), scale=(1, 2, -3))
    trans, quat, scale = trs_from_matrix(t.matrix)
    assert np.allclose(trans, (1, 2, 3)) and np.linalg.norm(quat) == pytest.approx(1.0)
    from scipy.spatial.transform import Rotation

    rebuilt = np.eye(4)
    rebuilt[:3, :3] = Rotation.from_quat(quat).as_matrix() @ np.diag(scale)
    rebuilt[:3, 3] = trans
    assert np.allclose(rebuilt, t.matrix)
    shear = np.eye(4)
    shear[0, 1] = 0.3
    assert trs_from_matrix(shear) is None
    with pytest.raises(InputError, match="metres"):
        write_scene(z_up_scene(), tmp_path / "x.glb", units="mm")
    empty = Scene("empty")
    with pytest.raises(InputError, match="no visible meshes"):
        write_scene(empty, tmp_path / "empty.glb")
    assert not list(tmp_path.iterdir())


def _rotated_scene() -> Scene:
    scene = Scene("rot", units="cm", up_axis="Z")
    grp = scene.group("g")
    grp.transform = Transform(translate=(100, 0, 50), rotate=(0, 0, 30))
    scene.add(Asset("a", mesh=box(10, 20, 30), transform=Transform(translate=(5, 6, 7), rotate=(10, 20, 30),
                                                                  scale=(1, 2, 0.5))), parent=grp)
    return scene


def test_node_rotations_and_scales_place_vertices_where_the_scene_has_them(tmp_path):
    scene = _rotated_scene()
    glb = write_scene(scene, tmp_path / "rot.glb")[0]
    got = trimesh.load(glb, force="scene").dump(concatenate=True).vertices
    m = scene.world_matrix("g/a")
    world = scene.get("g/a").mesh.points @ m[:3, :3].T + m[:3, 3]
    expected = np.c_[world[:, 0], world[:, 2], -world[:, 1]] * 0.01  # +Y up, metres
    got = np.unique(np.round(got, 6), axis=0)  # normals split the corners: 24 vertices, 8 places
    assert np.allclose(got, np.unique(np.round(expected, 6), axis=0), atol=2e-6)


def test_every_gltf_written_passes_the_khronos_validator(factory, tmp_path):
    """0 errors and 0 warnings for each kind of file the tests above write (one validator run)."""
    validator_available()  # skips at once, saying how to install it, when it is absent
    files = [
        *write_scene(factory, tmp_path / "busy.glb", frame=1),
        write_scene(factory, tmp_path / "calm.gltf", frame=0)[0],
        *write_scene(factory, tmp_path / "labels.glb", color_by="labels"),
        *write_scene(factory, tmp_path / "split.glb", split=True),
        *write_scene(z_up_scene(), tmp_path / "temperature.glb", frame=1, color_by="temperature"),
        *write_scene(z_up_scene(), tmp_path / "risk.glb", frame=1),
        *write_scene(mm_y_up_scene(), tmp_path / "bench.glb"),
        *write_scene(_foreign_scene(tmp_path), tmp_path / "foreign.glb"),
        write_scene(_foreign_scene(tmp_path), tmp_path / "foreign.gltf")[0],
        *write_scene(_rotated_scene(), tmp_path / "rot.glb"),
        write_scene(mm_y_up_scene(), tmp_path / "my bench #1.gltf")[0],
    ]
    reports = assert_valid_gltf(*files)
    assert all(r["numWarnings"] == 0 for r in reports), [(r["file"], r["messages"][:3]) for r in reports]
    by_name = {Path(r["file"]).name: r for r in reports}
    assert by_name["foreign.glb"]["info"]["hasTextures"] and by_name["foreign.gltf"]["info"]["hasTextures"]
    assert by_name["busy.glb"]["info"]["totalTriangleCount"] == sum(a.mesh.n_cells for a in factory.assets())


def test_gltf_buffer_uri_is_escaped(tmp_path):
    files = write_scene(mm_y_up_scene(), tmp_path / "my bench #1.gltf")
    assert [f.name for f in files] == ["my bench #1.gltf", "my bench #1.bin"]
    doc = json.loads(files[0].read_text())
    assert doc["buffers"][0]["uri"] == "my%20bench%20%231.bin"  # the validator test reads it back
