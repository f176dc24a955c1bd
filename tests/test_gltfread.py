"""The NumPy glTF reader (twin3d.io.gltfread) against VTK's reader and trimesh, and its checks."""

from __future__ import annotations

import base64
import json
import struct

import numpy as np
import pytest
import pyvista as pv
from export_support import z_up_scene

from twin3d import write_scene
from twin3d.confine import allow_paths
from twin3d.errors import ConfinementError, InputError, MissingFileError, UnsupportedFormatError
from twin3d.io import read_mesh
from twin3d.io.gltfread import read_gltf


def triangle_set(points, faces) -> np.ndarray:
    """Triangles as sorted rows of 9 rounded coordinates (independent of point order)."""
    t = np.round(np.asarray(points, np.float64)[np.asarray(faces)], 5).reshape(len(faces), 9)
    return t[np.lexsort(t.T[::-1])]


def vtk_read(path):
    """What read_mesh returned before (VTK's glTF reader, blocks combined, surface extracted)."""
    data = pv.read(path)
    return data.combine(merge_points=False).extract_surface(algorithm="dataset_surface")


def simple_gltf(folder, *, name="tri", uri="tri.bin", positions=None, indices=None, doc_patch=None, glb=False,
                write_bin=True):
    """A one-mesh glTF (+ its buffer file, or embedded in a .glb); ``doc_patch(doc)`` edits the JSON."""
    pos = np.asarray(positions if positions is not None else [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], "<f4")
    idx = np.asarray(indices if indices is not None else [0, 1, 2, 2, 1, 3], "<u2")
    blob = pos.tobytes() + idx.tobytes()
    blob += b"\0" * (-len(blob) % 4)
    doc = {
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "translation": [10.0, 0.0, 0.0]}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "buffers": [{"byteLength": len(blob)} if glb else {"byteLength": len(blob), "uri": uri}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": pos.nbytes},
                        {"buffer": 0, "byteOffset": pos.nbytes, "byteLength": idx.nbytes}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": len(pos), "type": "VEC3",
                       "min": pos.min(0).tolist(), "max": pos.max(0).tolist()},
                      {"bufferView": 1, "componentType": 5123, "count": len(idx), "type": "SCALAR"}],
    }
    if doc_patch:
        doc_patch(doc)
    if glb:
        text = json.dumps(doc).encode()
        text += b" " * (-len(text) % 4)
        body = struct.pack("<I4s", len(text), b"JSON") + text + struct.pack("<I4s", len(blob), b"BIN\0") + blob
        path = folder / f"{name}.glb"
        path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body)
        return path
    if write_bin:
        (folder / uri).write_bytes(blob)
    path = folder / f"{name}.gltf"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("ext", [".glb", ".gltf"])
def test_our_exports_read_like_vtk_and_trimesh(tmp_path, ext):
    import trimesh

    scene = z_up_scene()
    out = write_scene(scene, tmp_path / f"cell{ext}", frame=1, color_by="temperature")[0]
    ours = read_mesh(out)
    ref = vtk_read(out)
    assert (ours.n_points, ours.n_cells) == (ref.n_points, ref.n_cells)
    np.testing.assert_allclose(triangle_set(ours.points, ours.regular_faces),
                               triangle_set(ref.points, ref.regular_faces), atol=2e-5)
    dumped = trimesh.load(out, force="scene").dump(concatenate=True)
    assert len(dumped.faces) == ours.n_cells
    np.testing.assert_allclose(ours.bounds, np.ravel(dumped.bounds.T), atol=1e-5)
    # the heater's vertex temperature colours (COLOR_0) come back as display colours, the other assets get their
    # material's: the same colours as the scene's at that frame
    from twin3d.colors import asset_colors

    def rows(rgb):
        return {tuple(r) for r in np.round(np.asarray(rgb, np.float64).reshape(-1, 3), 3)}

    expected = set().union(*(rows(c.rgb) for c in asset_colors(scene, "temperature", 1).values()))
    assert ours.point_data["displayColor"].dtype == np.float32
    assert rows(ours.point_data["displayColor"]) == expected
    np.testing.assert_allclose(np.unique(ours.point_data["displayOpacity"]), [0.4, 1.0], atol=1e-6)  # the guard


def test_pyvista_export_and_node_transforms(tmp_path):
    sphere = pv.Sphere(theta_resolution=12, phi_resolution=10).triangulate()
    pl = pv.Plotter(off_screen=True)
    pl.add_mesh(sphere)
    pl.export_gltf(str(tmp_path / "s.gltf"))  # data: URIs and a node matrix
    pl.close()
    ours, ref = read_gltf(tmp_path / "s.gltf"), vtk_read(tmp_path / "s.gltf")
    assert (ours.n_points, ours.n_cells) == (ref.n_points, ref.n_cells) == (sphere.n_points, sphere.n_cells)
    np.testing.assert_allclose(triangle_set(ours.points, ours.regular_faces),
                               triangle_set(ref.points, ref.regular_faces), atol=2e-5)
    # TRS: translation, a quarter turn about Z, scale 2, under a parent node; strips and fans
    def patch(doc):
        doc["nodes"] = [{"children": [1], "translation": [0.0, 0.0, 5.0]},
                        {"mesh": 0, "rotation": [0.0, 0.0, 2 ** -0.5, 2 ** -0.5], "scale": [2.0, 2.0, 2.0]}]
        doc["meshes"][0]["primitives"].append({"attributes": {"POSITION": 0}, "mode": 5})  # strip of 4: 2 triangles
        doc["meshes"][0]["primitives"].append({"attributes": {"POSITION": 0}, "mode": 6})  # fan of 4: 2 triangles
        doc["meshes"][0]["primitives"].append({"attributes": {"POSITION": 0}, "mode": 1})  # lines: skipped
    m = read_gltf(simple_gltf(tmp_path, name="trs", doc_patch=patch))
    assert m.n_cells == 6
    np.testing.assert_allclose(m.points[:4], [[0, 0, 5], [0, 2, 5], [-2, 0, 5], [-2, 2, 5]], atol=1e-6)
    ref = vtk_read(tmp_path / "trs.gltf")
    np.testing.assert_allclose(triangle_set(m.points, m.regular_faces), triangle_set(ref.points, ref.regular_faces),
                               atol=1e-5)


def test_glb_and_gltf_checks(tmp_path):
    ok = simple_gltf(tmp_path, name="ok", glb=True)
    np.testing.assert_allclose(read_gltf(ok).bounds, [10, 11, 0, 1, 0, 0])
    data = ok.read_bytes()
    cases = {
        "truncated.glb": (data[:-10], "the GLB header gives a length of"),
        "magic.glb": (b"glTX" + data[4:], "not a GLB file"),
        "chunk.glb": (data[:12] + struct.pack("<I", 10**6) + data[16:], "claims 1,000,000 bytes"),
    }
    for name, (content, needle) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputError, match=needle):
            read_gltf(tmp_path / name)
    (tmp_path / "json.gltf").write_text('{"asset": {"version": "2.0"},\n "nodes": [,]}')
    with pytest.raises(InputError, match=r"json.gltf: the glTF JSON is invalid at line 2 column 12"):
        read_gltf(tmp_path / "json.gltf")
    bad_index = simple_gltf(tmp_path, name="idx", indices=[0, 1, 2, 2, 1, 7])
    with pytest.raises(InputError, match=r"idx.gltf: meshes\[0\].primitives\[0\].indices: index 5 is 7, but POSITION "
                                         r"has 4 vertices"):
        read_gltf(bad_index)

    def huge_count(doc):
        doc["accessors"][0]["count"] = 10**9

    with pytest.raises(InputError, match=r"accessors\[0\]: 1,000,000,000 elements .* bufferViews\[0\] has 48"):
        read_gltf(simple_gltf(tmp_path, name="count", doc_patch=huge_count))

    def view_past_buffer(doc):
        doc["bufferViews"][1]["byteOffset"] = 4000

    with pytest.raises(InputError, match=r"bufferViews\[1\]: bytes 4,000 .* outside buffers\[0\]"):
        read_gltf(simple_gltf(tmp_path, name="view", doc_patch=view_past_buffer))

    def cycle(doc):
        doc["nodes"] = [{"children": [1]}, {"children": [0], "mesh": 0}]

    with pytest.raises(InputError, match=r"nodes\[0\]: is its own ancestor"):
        read_gltf(simple_gltf(tmp_path, name="cycle", doc_patch=cycle))

    def draco(doc):
        doc["extensionsRequired"] = ["KHR_draco_mesh_compression"]

    with pytest.raises(UnsupportedFormatError, match="compressed"):
        read_gltf(simple_gltf(tmp_path, name="draco", doc_patch=draco))

    def nan_translation(doc):
        doc["nodes"][0]["translation"] = [float("nan"), 0, 0]

    with pytest.raises(InputError, match=r"nodes\[0\].translation: expected 3 finite numbers"):
        read_gltf(simple_gltf(tmp_path, name="nan", doc_patch=nan_translation))
    nan_pos = simple_gltf(tmp_path, name="nanpos", positions=[[0, 0, 0], [np.nan, 0, 0], [0, 1, 0], [1, 1, 0]])
    with pytest.raises(InputError, match="vertex 1 has a non-finite coordinate"):
        read_gltf(nan_pos)


def test_buffer_references_are_confined_and_missing_ones_named(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.bin"
    secret.write_bytes(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], "<f4").tobytes()
                       + np.array([0, 1, 2, 2, 1, 3], "<u2").tobytes() + b"\0\0\0\0")
    for uri in ("../outside/secret.bin", str(secret), "file://" + str(secret), "..%2Foutside%2Fsecret.bin"):
        path = simple_gltf(model, name="hostile", uri=uri, write_bin=False)
        with pytest.raises(ConfinementError, match="glTF buffer"):
            read_gltf(path)
    path = simple_gltf(model, name="hostile", uri="../outside/secret.bin", write_bin=False)
    with allow_paths(outside):
        assert read_gltf(path).n_cells == 2

    def image(doc):
        doc["images"] = [{"uri": "/etc/hostname"}]

    with pytest.raises(ConfinementError, match="glTF image '/etc/hostname'"):
        read_gltf(simple_gltf(model, name="img", doc_patch=image))
    with pytest.raises(MissingFileError, match=r"missing.gltf: glTF buffer 'gone.bin': no such file"):
        read_gltf(simple_gltf(model, name="missing", uri="gone.bin", write_bin=False))
    with pytest.raises(InputError, match="not valid base64"):
        read_gltf(simple_gltf(model, name="b64", uri="data:application/octet-stream;base64,@@@@", write_bin=False))
    blob = secret.read_bytes()  # the same layout as simple_gltf's buffer, embedded as a data: URI
    embedded = simple_gltf(model, name="embedded", write_bin=False,
                           uri="data:application/octet-stream;base64," + base64.b64encode(blob).decode())
    assert read_gltf(embedded).n_cells == 2
