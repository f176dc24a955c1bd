import numpy as np
import pytest
import pyvista as pv

from twin3d.errors import InputError, MissingFileError, UnsupportedFormatError
from twin3d.io import read_mesh, register_reader, supported_extensions, READERS


@pytest.fixture
def sphere():
    return pv.Sphere(radius=0.5, theta_resolution=12, phi_resolution=10).triangulate()


@pytest.mark.parametrize("ext", [".stl", ".obj", ".ply", ".vtk", ".vtp"])
def test_vtk_formats_round_trip(tmp_path, sphere, ext):
    path = tmp_path / f"s{ext}"
    sphere.save(path)
    m = read_mesh(path)
    assert m.is_all_triangles
    assert m.n_cells == sphere.n_cells
    np.testing.assert_allclose(m.volume, sphere.volume, rtol=1e-4)


def test_gltf_round_trip(tmp_path, sphere):
    pl = pv.Plotter(off_screen=True)
    pl.add_mesh(sphere)
    path = tmp_path / "s.gltf"
    pl.export_gltf(str(path))
    pl.close()
    m = read_mesh(path)
    assert m.n_cells == sphere.n_cells
    np.testing.assert_allclose(abs(m.volume), sphere.volume, rtol=1e-3)


def test_usd_mesh_read(tmp_path, sphere):
    from twin3d.scene import Asset, Scene, Transform
    from twin3d.usd import write_usd

    s = Scene()
    s.add(Asset("ball", mesh=sphere, transform=Transform(translate=(2, 0, 0))))
    write_usd(s, tmp_path / "ball.usda")
    m = read_mesh(tmp_path / "ball.usda")
    assert m.n_cells == sphere.n_cells
    np.testing.assert_allclose(m.center, [2, 0, 0], atol=1e-5)


def test_unknown_extension_lists_supported(tmp_path):
    p = tmp_path / "part.step"
    p.write_text("ISO-10303-21;")
    with pytest.raises(UnsupportedFormatError) as err:
        read_mesh(p)
    for ext in (".stl", ".obj", ".ply", ".gltf", ".glb", ".usd", ".vtp"):
        assert ext in str(err.value)


def test_missing_empty_and_corrupt_files(tmp_path):
    with pytest.raises(MissingFileError, match="nope.stl: no such mesh file"):
        read_mesh(tmp_path / "nope.stl")
    empty = tmp_path / "empty.ply"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_mesh(empty)
    bad = tmp_path / "bad.ply"
    bad.write_bytes(b"this is not a ply file at all\n" * 10)
    with pytest.raises(InputError):
        read_mesh(bad)


def test_register_reader_decorator(tmp_path):
    @register_reader(".tri")
    def read_tri(path):
        pts = np.loadtxt(path).reshape(-1, 3)
        return pv.PolyData.from_regular_faces(pts, np.arange(len(pts)).reshape(-1, 3))

    try:
        p = tmp_path / "one.tri"
        p.write_text("0 0 0\n1 0 0\n0 1 0\n")
        assert ".tri" in supported_extensions()
        assert read_mesh(p).n_cells == 1
    finally:
        READERS.pop(".tri")


def test_a_parser_error_becomes_one_clear_line(tmp_path):
    @register_reader(".brk")
    def read_broken(path):
        raise IndexError("index 7 is out of bounds\nfor axis 0")

    try:
        p = tmp_path / "one.brk"
        p.write_text("x")
        with pytest.raises(InputError) as err:
            read_mesh(p)
        expected = f"{p}: cannot read the .brk file (index 7 is out of bounds for axis 0); the file is corrupt"
        assert str(err.value) == expected
    finally:
        READERS.pop(".brk")


def test_built_in_readers_run_no_vtk_reader_in_process(tmp_path, sphere):
    """STL, PLY, OBJ and glTF are parsed in NumPy; .vtk/.vtp by VTK in a child process."""
    import subprocess
    import sys

    for ext in (".stl", ".ply", ".obj", ".vtp"):
        sphere.save(tmp_path / f"s{ext}")
    code = ("import sys; from twin3d.io import read_mesh\n"
            f"for ext in ('.stl', '.ply', '.obj', '.vtp'): read_mesh(r'{tmp_path}' + '/s' + ext)\n"
            "print(sorted(m for m in sys.modules if m.startswith('vtkmodules.vtkIO')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
