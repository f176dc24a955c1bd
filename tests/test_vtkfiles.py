"""VTK's own formats read in a child process (twin3d.io.vtkfiles): same result as pyvista.read, crashes contained."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from twin3d.errors import InputError
from twin3d.io import read_mesh

LEGACY = "# vtk DataFile Version 3.0\nhostile\nASCII\nDATASET POLYDATA\nPOINTS 3 float\n0 0 0 1 0 0 0 1 0\n"


def test_vtk_and_vtp_read_like_pyvista(tmp_path):
    sphere = pv.Sphere(theta_resolution=10, phi_resolution=8)
    sphere.point_data["temperature"] = np.linspace(0, 1, sphere.n_points)
    grid = pv.ImageData(dimensions=(4, 5, 6)).cast_to_unstructured_grid()
    grid.point_data["t"] = np.arange(grid.n_points, dtype=float)
    quads = pv.Plane(i_resolution=3, j_resolution=2)  # quads: triangulated
    for name, data in (("s.vtp", sphere), ("s.vtk", sphere), ("g.vtk", grid), ("q.vtp", quads)):
        data.save(tmp_path / name)
        ours = read_mesh(tmp_path / name)
        ref = pv.read(tmp_path / name)
        if not isinstance(ref, pv.PolyData):
            ref = ref.extract_surface(algorithm="dataset_surface")
        ref = ref.triangulate()
        assert (ours.n_points, ours.n_cells) == (ref.n_points, ref.n_cells), name
        np.testing.assert_array_equal(ours.points, ref.points)
        np.testing.assert_array_equal(ours.regular_faces, ref.regular_faces)
        for key in ref.point_data.keys():
            if key != "vtkOriginalPointIds":
                np.testing.assert_array_equal(ours.point_data[key], ref.point_data[key])


def test_a_crashing_vtk_reader_is_an_error(tmp_path):
    # a quad with a vertex index past the points: VTK 9.7 segfaults on it (in this process, the end of twin3d)
    path = tmp_path / "crash.vtk"
    path.write_text(LEGACY + "POLYGONS 2 9\n3 0 1 2\n4 0 1 2 99999999\n")
    with pytest.raises(InputError, match=r"crash.vtk: the VTK reader crashed \(SIGSEGV\) on this file"):
        read_mesh(path)


def test_vtk_errors_truncation_and_signatures(tmp_path):
    bad = tmp_path / "index.vtk"
    bad.write_text(LEGACY + "POLYGONS 2 8\n3 0 1 2\n3 0 1 7\n")
    with pytest.raises(InputError, match="face 1 refers to vertex 7, but the file has 3 vertices"):
        read_mesh(bad)
    huge = tmp_path / "huge.vtk"
    huge.write_text(LEGACY.replace("POINTS 3", "POINTS 1000000000000"))
    with pytest.raises(InputError, match=r"huge.vtk: cannot read the file: VTK reported: Unable to allocate"):
        read_mesh(huge)
    sphere = pv.Sphere()
    sphere.save(tmp_path / "s.vtk")
    data = (tmp_path / "s.vtk").read_bytes()
    (tmp_path / "cut.vtk").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut.vtk: .*(corrupt|truncated)"):
        read_mesh(tmp_path / "cut.vtk")
    (tmp_path / "text.vtk").write_text("hello\n")
    with pytest.raises(InputError, match="not a legacy VTK file"):
        read_mesh(tmp_path / "text.vtk")
    grid = pv.ImageData(dimensions=(3, 3, 3))
    grid.save(tmp_path / "image.vti")
    (tmp_path / "image.vtp").write_bytes((tmp_path / "image.vti").read_bytes())
    with pytest.raises(InputError, match="not PolyData"):
        read_mesh(tmp_path / "image.vtp")
