"""Scenes flattened for mesh files (twin3d.io.flatten): axes, units, shared geometry, exact colours."""

from __future__ import annotations

import numpy as np
import pyvista as pv
from export_support import box, z_up_scene

from twin3d import Asset, Scene, Transform
from twin3d.io.flatten import conversion, flatten, merge, srgb_to_linear


def test_conversion_maps_up_axes_and_units():
    z = Scene("z", units="mm", up_axis="Z")
    m = conversion(z, units="m", up="Y")
    assert np.allclose(m @ [0, 0, 1000, 1], [0, 1, 0, 1])  # Z up -> Y up, mm -> m
    assert np.allclose(m @ [0, 1000, 0, 1], [0, 0, -1, 1])
    y = Scene("y", units="cm", up_axis="Y")
    assert np.allclose(conversion(y, units="m", up="Z") @ [0, 100, 0, 1], [0, 0, 1, 1])
    assert np.allclose(conversion(y, units="cm"), np.eye(4))
    assert np.linalg.det(conversion(z, up="Y")[:3, :3]) > 0  # a rotation, never a mirror
    assert np.allclose(srgb_to_linear([0, 1, 0.5]), [0, 1, 0.21404114], atol=1e-6)


def test_repeated_meshes_share_arrays_and_mirrors_keep_outward_faces():
    scene = Scene("s")
    mesh = box(1, 1, 1)
    for k in range(3):
        scene.add(Asset(f"m{k}", mesh=mesh, transform=Transform(translate=(3 * k, 0, 0))))
    scene.add(Asset("mirror", mesh=mesh, transform=Transform(scale=(-1, 1, 1))))
    flats = flatten(scene, frame=0, color_by="material")
    assert len({id(f.surface.points) for f in flats}) == 1
    world = flats[3].world_surface()
    tri = world.points[world.faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    centre = world.points.mean(0)
    assert np.all(np.einsum("ij,ij->i", n, tri.mean(1) - centre) > 0)  # faces still point outward
    normals = world.normals[world.faces].mean(1)
    assert np.all(np.einsum("ij,ij->i", normals, tri.mean(1) - centre) > 0)


def test_colours_of_the_frame_on_faces_and_vertices_are_exact():
    scene = z_up_scene()
    flats = {f.path: f for f in flatten(scene, frame=1, color_by="temperature")}
    assert set(flats) == {"line/tower", "line/pump", "heater", "guard"}  # the hidden asset is left out
    pump = flats["line/pump"].surface
    assert [g.name for g in pump.groups] == ["body", "lid"]
    assert np.allclose([g.rgba for g in pump.groups], [(0.9, 0.1, 0.1, 1.0), (0.1, 0.1, 0.9, 1.0)])
    heater = flats["heater"].surface
    assert heater.rgba is not None and heater.rgba.shape == (heater.n_points, 4)
    # per-vertex colours after merging keep every face's part colour exact
    merged = merge([f.world_surface() for f in flats.values()]).with_vertex_colors()
    assert merged.n_faces == sum(f.surface.n_faces for f in flats.values())
    mesh = pv.Sphere()
    mesh.cell_data["displayColor"] = np.random.default_rng(1).random((mesh.n_cells, 3)).astype(np.float32)
    s = Scene("faces")
    s.add(Asset("ball", mesh=mesh))
    surf = flatten(s, frame=0)[0].surface
    corner = surf.rgba[surf.faces][..., :3]
    assert np.allclose(corner.min(1), corner.max(1))
    assert np.allclose(corner[:, 0], mesh.cell_data["displayColor"])  # faces keep their order
