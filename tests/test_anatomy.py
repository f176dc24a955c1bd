"""twin3d.anatomy: label tables, label map -> organ surfaces (real CT + analytic shapes),
organ scene and files, the ``anatomy`` spec section, and the compiled kernels.

The ``twin3d surfaces`` command is tested in ``test_cli_anatomy.py``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import require_real_data
import pyvista as pv

from twin3d.anatomy import (
    AnatomySpec,
    LabelTable,
    apply_anatomy_spec,
    builtin_table,
    conventional_color,
    labelmap_to_surfaces,
    load_label_table,
    organs_to_scene,
    totalsegmentator_table,
)
from twin3d.anatomy.surfaces import (
    point_mean,
    scan_labels,
    sinc_coefficients,
    split_quads,
    wall_measures,
    windowed_sinc_stencils,
)
from twin3d.errors import InputError, MissingFileError, SpecError
from twin3d.io.volumes import Volume, read_labelmap, write_nifti
from twin3d.scene import Scene

LIVER = 5  # TotalSegmentator id


@pytest.fixture(scope="module")
def ct_dir() -> Path:
    return require_real_data("ct/abdomen_seg_3mm.nii.gz").parent


@pytest.fixture(scope="module")
def seg(ct_dir) -> Volume:
    return read_labelmap(ct_dir / "abdomen_seg_3mm.nii.gz")


@pytest.fixture(scope="module")
def organs(seg):
    return labelmap_to_surfaces(seg, "totalsegmentator")


def voxel_reference(vol: Volume, label: int) -> tuple[float, np.ndarray]:
    """Voxel volume (ml) and voxel centroid mapped through the affine (mm)."""
    idx = np.argwhere(vol.array == label)
    return len(idx) * vol.voxel_volume_mm3 / 1000.0, vol.index_to_world(idx.mean(axis=0))


def signed_volume(mesh: pv.PolyData) -> float:
    p, f = np.asarray(mesh.points, float), mesh.regular_faces
    return float(np.einsum("ij,ij->i", p[f[:, 0]], np.cross(p[f[:, 1]], p[f[:, 2]])).sum() / 6.0)


# --------------------------------------------------------------------------- label tables
def test_builtin_table_has_the_phantom_organs():
    t = builtin_table()
    assert {t.id_of(n) for n in ("body", "liver", "spleen", "kidney_left", "kidney_right", "spine", "aorta")} == set(
        range(1, 8)
    )
    assert t[2].color == pytest.approx((221 / 255, 130 / 255, 101 / 255))
    assert len(set(t.names.values())) == len(t)
    # conventional colours: bone ivory, arteries red, veins blue
    assert t[t.id_of("spine")].color[0] > 0.9 and t[t.id_of("aorta")].color[0] > t[t.id_of("aorta")].color[2]
    assert t[t.id_of("inferior_vena_cava")].color[2] > t[t.id_of("inferior_vena_cava")].color[0]


def test_totalsegmentator_table_matches_the_reference_file(ct_dir):
    ref = json.loads((ct_dir / "totalsegmentator_total_labels.json").read_text())
    ours = totalsegmentator_table().names
    assert {str(k): v for k, v in ours.items()} == ref
    assert load_label_table("total").names == ours


def test_json_tables(tmp_path):
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"1": "liver", "7": "tumour_core"}))
    t = load_label_table(plain)
    assert t[1].name == "liver" and t[1].color == conventional_color("liver")
    assert t.info(9).name == "label_9"
    rich = tmp_path / "rich.json"
    rich.write_text(json.dumps({"0": "background", "3": {"name": "spleen", "color": [255, 0, 0]}, "4": {"name": "x", "color": "#00ff00"}}))
    t = LabelTable.from_json(rich)
    assert list(t) == [3, 4] and t[3].color == (1.0, 0.0, 0.0) and t[4].color == (0.0, 1.0, 0.0)
    assert LabelTable({2: ("a", (0.1, 0.2, 0.3))})[2].color == (0.1, 0.2, 0.3)


@pytest.mark.parametrize(
    "content, match",
    [
        ('{"1": "liver",', r"invalid JSON at line 1, column"),
        ('["liver"]', "must be a JSON object"),
        ("{}", "empty"),
        ('{"one": "liver"}', r"key 'one' is not an integer"),
        ('{"-2": "liver"}', "negative"),
        ('{"1": "liver", "2": "liver"}', "used by labels 1 and 2"),
        ('{"1": {"name": "liver", "colour": [1, 0, 0]}}', r"unknown key\(s\) \['colour'\]"),
        ('{"1": {"name": "liver", "color": [300, 0, 0]}}', "above 255"),
        ('{"1": {"color": [1, 0, 0]}}', "no 'name'"),
        ('{"1": ""}', "non-empty string"),
    ],
)
def test_bad_json_tables(tmp_path, content, match):
    p = tmp_path / "table.json"
    p.write_text(content)
    with pytest.raises(InputError, match=match) as err:
        load_label_table(p)
    assert "table.json" in str(err.value)


def test_unknown_table_name():
    with pytest.raises(InputError, match="valid: 'builtin', 'totalsegmentator'"):
        load_label_table("freesurfer")


# --------------------------------------------------------------------------- real CT
def test_real_ct_one_named_surface_per_organ(seg, organs, ct_dir):
    names = json.loads((ct_dir / "totalsegmentator_total_labels.json").read_text())
    present = [int(v) for v in np.unique(seg.array) if v != 0]
    assert len(present) == 41
    assert [s.label for s in organs.values()] == present
    assert list(organs) == [names[str(v)] for v in present]
    for s in organs.values():
        assert s.mesh.n_cells > 0 and s.mesh.is_all_triangles
        assert s.volume_ml > 0 and s.area_mm2 > 0
        assert signed_volume(s.mesh) > 0  # outward faces
        # every organ keeps at least half of its voxel volume (single voxels too)
        assert s.volume_ml > 0.5 * s.voxel_volume_ml, s.name


def test_real_ct_liver_volume_and_centroid(seg, organs):
    liver = organs["liver"]
    vox_ml, vox_centroid = voxel_reference(seg, LIVER)
    assert liver.voxel_volume_ml == pytest.approx(vox_ml)
    assert abs(liver.volume_ml / vox_ml - 1) < 0.02
    assert abs(signed_volume(liver.mesh) / 1000 / vox_ml - 1) < 0.02  # from the mesh itself
    assert np.linalg.norm(liver.centroid_mm - vox_centroid) < 1.0
    # the mean of the vertices is not the centroid
    assert np.linalg.norm(np.asarray(liver.mesh.points).mean(0) - vox_centroid) > 2.0


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_real_ct_after_flipping_volume_and_affine(seg, organs, axis):
    flipped = seg.flip(axis)
    assert flipped.is_mirrored
    out = labelmap_to_surfaces(flipped, "totalsegmentator", labels=[LIVER, 1])
    liver = out["liver"]
    vox_ml, vox_centroid = voxel_reference(flipped, LIVER)
    assert abs(liver.volume_ml / vox_ml - 1) < 0.02
    assert np.linalg.norm(liver.centroid_mm - vox_centroid) < 1.0
    assert signed_volume(liver.mesh) > 0  # winding flipped with the mirrored affine
    assert liver.volume_ml == pytest.approx(organs["liver"].volume_ml, rel=1e-4)
    assert np.allclose(liver.centroid_mm, organs["liver"].centroid_mm, atol=1e-3)
    assert np.allclose(liver.mesh.bounds, organs["liver"].mesh.bounds, atol=1e-3)


def test_real_ct_no_gaps_between_neighbours(seg, organs):
    """On every wall between two organs, s_A + s_B = 0 (shared wall): no gap, no overlap."""
    from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
    from vtkmodules.vtkCommonCore import vtkDoubleArray
    from vtkmodules.vtkFiltersCore import vtkImplicitPolyDataDistance

    def wall_points(vol, a, b):
        pts = []
        for ax in range(3):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[ax], hi[ax] = slice(0, -1), slice(1, None)
            x, y = vol.array[tuple(lo)], vol.array[tuple(hi)]
            idx = np.argwhere(((x == a) & (y == b)) | ((x == b) & (y == a))).astype(float)
            idx[:, ax] += 0.5
            pts.append(idx)
        return vol.index_to_world(np.concatenate(pts))

    def sdist(mesh, pts):
        f = vtkImplicitPolyDataDistance()
        f.SetInput(mesh)
        out = vtkDoubleArray()
        f.FunctionValue(numpy_to_vtk(np.ascontiguousarray(pts)), out)
        return vtk_to_numpy(out)

    by_label = {s.label: s for s in organs.values()}
    closed = labelmap_to_surfaces(seg, "totalsegmentator", method="flying_edges", labels=[LIVER, 63, 2])
    for a, b in [(LIVER, 63), (2, LIVER)]:  # liver/inferior vena cava, kidney_right/liver
        pts = wall_points(seg, a, b)
        assert len(pts) > 20
        gap = sdist(by_label[a].mesh, pts) + sdist(by_label[b].mesh, pts)
        # Exactly zero where both nearest surface points lie on the shared wall; a sample
        # next to a junction curve can find its nearest point on another wall of one
        # organ, which gives a few hundredths of a millimetre at most.
        assert np.quantile(np.abs(gap), 0.99) < 1e-3, (a, b, np.quantile(np.abs(gap), 0.99))
        assert np.abs(gap).max() < 0.05, (a, b, np.abs(gap).max())
        # the same check sees the gaps of independently smoothed closed surfaces
        fe = {s.label: s for s in closed.values()}
        gap_fe = sdist(fe[a].mesh, pts) + sdist(fe[b].mesh, pts)
        assert np.abs(gap_fe).max() > 0.3


def test_real_ct_flying_edges_are_closed(seg):
    out = labelmap_to_surfaces(seg, "totalsegmentator", method="flying_edges", labels=[LIVER, 1, 2])
    for s in out.values():
        assert s.mesh.n_open_edges == 0
        assert signed_volume(s.mesh) > 0
    vox_ml, vox_centroid = voxel_reference(seg, LIVER)
    assert abs(out["liver"].volume_ml / vox_ml - 1) < 0.02
    assert np.linalg.norm(out["liver"].centroid_mm - vox_centroid) < 1.0


def test_real_ct_decimation_keeps_walls_shared(seg, organs):
    out = labelmap_to_surfaces(seg, "totalsegmentator", decimate=0.6)
    n0 = sum(s.n_triangles for s in organs.values())
    n1 = sum(s.n_triangles for s in out.values())
    assert n1 < 0.6 * n0
    vox_ml, vox_centroid = voxel_reference(seg, LIVER)
    assert abs(out["liver"].volume_ml / vox_ml - 1) < 0.02
    assert np.linalg.norm(out["liver"].centroid_mm - vox_centroid) < 1.0
    # wall vertices are still common to both neighbours: the liver/IVC wall points
    liver = {tuple(p) for p in np.round(np.asarray(out["liver"].mesh.points), 4)}
    ivc = {tuple(p) for p in np.round(np.asarray(out["inferior_vena_cava"].mesh.points), 4)}
    assert len(liver & ivc) > 10


# --------------------------------------------------------------------------- analytic shapes
def ball(shape, center, radius, label=1, out=None) -> np.ndarray:
    g = np.indices(shape).transpose(1, 2, 3, 0)
    a = np.zeros(shape, np.uint8) if out is None else out
    a[((g - center) ** 2).sum(-1) <= radius**2] = label
    return a


def oblique(spacing, mirror=False) -> np.ndarray:
    c, s = np.cos(0.4), np.sin(0.4)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag(spacing) @ (np.diag([-1.0, 1, 1]) if mirror else np.eye(3))
    aff[:3, 3] = (10.0, -20.0, 5.0)
    return aff


@pytest.mark.parametrize("mirror", [False, True])
def test_two_boxes_exact_without_smoothing(mirror):
    a = np.zeros((12, 10, 9), np.uint8)
    a[2:6, 2:8, 2:7] = 1  # 4 x 6 x 5 voxels
    a[6:10, 2:8, 2:7] = 2  # shares the i = 5.5 wall with label 1
    spacing = (0.5, 1.0, 2.0)
    vol = Volume(a, oblique(spacing, mirror))
    out = labelmap_to_surfaces(vol, {1: "left_box", 2: "right_box"}, smoothing=False)
    for s in out.values():
        size = np.array([4, 6, 5]) * spacing
        assert s.volume_ml * 1000 == pytest.approx(np.prod(size), rel=1e-6)
        assert s.area_mm2 == pytest.approx(2 * (size[0] * size[1] + size[1] * size[2] + size[0] * size[2]), rel=1e-6)
        box = np.argwhere(a == s.label)
        assert np.allclose(s.centroid_mm, vol.index_to_world(box.mean(0)), atol=1e-4)
        assert s.mesh.n_open_edges == 0 and signed_volume(s.mesh) > 0
        # outward: each face normal points away from the box centre
        m = s.mesh.compute_normals(cell_normals=True, point_normals=False, auto_orient_normals=False, consistent_normals=False)
        away = m.cell_centers().points - s.centroid_mm
        assert np.all(np.einsum("ij,ij->i", m.cell_data["Normals"], away) > 0)
    left = {tuple(p) for p in np.round(np.asarray(out["left_box"].mesh.points), 5)}
    right = {tuple(p) for p in np.round(np.asarray(out["right_box"].mesh.points), 5)}
    assert len(left & right) == 7 * 6  # the shared wall: (6+1) x (5+1) vertices


def test_smoothed_sphere_matches_analytic_volume_and_area():
    r = 10.0
    center = np.array([17.3, 16.8, 17.0])
    vol = Volume(ball((35, 34, 35), center, r), oblique((1.0, 1.0, 1.0)))
    s = labelmap_to_surfaces(vol, {1: "ball"})["ball"]
    assert s.volume_ml * 1000 == pytest.approx(4 / 3 * np.pi * r**3, rel=0.01)
    assert s.area_mm2 == pytest.approx(4 * np.pi * r**2, rel=0.02)  # staircase would be ~+49 %
    assert np.allclose(s.centroid_mm, vol.index_to_world(center), atol=0.05)
    raw = labelmap_to_surfaces(vol, {1: "ball"}, smoothing=0)["ball"]
    assert raw.area_mm2 > 1.4 * 4 * np.pi * r**2


def test_small_organ_is_not_shrunk_by_smoothing():
    # a 4-voxel-radius ball beside a big one: windowed-sinc keeps its volume
    a = ball((40, 30, 30), np.array([12.0, 15, 15]), 9.0)
    a = ball((40, 30, 30), np.array([29.0, 15, 15]), 4.0, label=2, out=a)
    out = labelmap_to_surfaces(Volume(a, np.eye(4)), {1: "big", 2: "small"})
    assert out["small"].volume_ml / out["small"].voxel_volume_ml > 0.97
    assert out["big"].volume_ml / out["big"].voxel_volume_ml == pytest.approx(1.0, abs=0.01)
    # for contrast, the surface-nets filter's own (constrained) smoother shrinks it a lot
    img = pv.ImageData(dimensions=a.shape)
    img.point_data["labels"] = a.ravel(order="F")
    m = img.contour_labels("all", output_mesh_type="triangles", smoothing=True)
    pairs, f, p = m.cell_data["boundary_labels"], m.regular_faces, np.asarray(m.points, float)
    faces = np.r_[f[pairs[:, 0] == 2], f[pairs[:, 1] == 2][:, ::-1]]
    builtin = np.einsum("ij,ij->i", p[faces[:, 0]], np.cross(p[faces[:, 1]], p[faces[:, 2]])).sum() / 6
    assert builtin < 0.8 * (a == 2).sum()


def test_bad_surface_inputs():
    aff = np.eye(4)
    with pytest.raises(InputError, match="label map is empty"):
        labelmap_to_surfaces(Volume(np.zeros((4, 4, 4), np.uint8), aff))
    with pytest.raises(InputError, match="non-integer"):
        labelmap_to_surfaces(Volume(np.full((4, 4, 4), 0.5), aff))
    one = np.zeros((5, 5, 5), np.uint8)
    one[2, 2, 2] = 1
    with pytest.raises(InputError, match="unknown surface method 'marching'"):
        labelmap_to_surfaces(Volume(one, aff), method="marching")
    with pytest.raises(InputError, match="smoothing"):
        labelmap_to_surfaces(Volume(one, aff), smoothing=-3)
    with pytest.raises(InputError, match="decimate"):
        labelmap_to_surfaces(Volume(one, aff), decimate=1.5)
    with pytest.raises(InputError, match=r"label\(s\) \[4\] are not in the label map; present: \[1\]"):
        labelmap_to_surfaces(Volume(one, aff), labels=[4])


# --------------------------------------------------------------------------- scene, spec, CLI
def test_organs_to_scene(organs):
    scene = organs_to_scene(organs, metadata={"source": "test"})
    assert scene.units == "mm" and scene.metadata["coordinate_system"] == "RAS"
    assets = scene.assets()
    assert len(assets) == 41
    liver = scene.get("organs/liver")
    assert liver.asset_type == "organ" and liver.semantic_label == "liver"
    assert liver.material.base_color == pytest.approx(conventional_color("liver"))
    assert liver.metadata["label"] == LIVER
    assert liver.metadata["volume_ml"] == pytest.approx(organs["liver"].volume_ml)
    assert len(liver.metadata["centroid_mm"]) == 3
    json.dumps(liver.metadata)  # JSON-serialisable for USD customData
    with pytest.raises(InputError, match="millimetres"):
        organs_to_scene(organs, scene=Scene("factory", units="m"))


def test_anatomy_spec(ct_dir):
    """The convenience entry (a section outside a spec file) reads a real label map."""
    scene = Scene("patient", units="mm")
    apply_anatomy_spec(
        {"labelmap": "abdomen_seg_3mm.nii.gz", "labels": "totalsegmentator", "organs": ["liver", "spleen"]},
        scene,
        base_dir=ct_dir,
    )
    assert sorted(a.semantic_label for a in scene.assets()) == ["liver", "spleen"]
    with pytest.raises(SpecError, match="anatomy.bogus: unknown key 'bogus'; valid keys: labelmap"):
        apply_anatomy_spec({"labelmap": "x.nii.gz", "bogus": 1}, scene)
    with pytest.raises(SpecError, match=r"anatomy.organs: \['livr'\]"):
        apply_anatomy_spec({"labelmap": "abdomen_seg_3mm.nii.gz", "labels": "total", "organs": ["livr"]}, scene, base_dir=ct_dir)
    assert AnatomySpec(labelmap="a.nii.gz").method == "surface_nets"


def test_anatomy_spec_defaults_are_the_surface_defaults():
    from typing import get_args

    from twin3d.anatomy import DEFAULT_PASSBAND, SURFACE_METHODS

    assert AnatomySpec(labelmap="a.nii.gz").passband == DEFAULT_PASSBAND
    assert get_args(AnatomySpec.model_fields["method"].annotation) == SURFACE_METHODS


def two_organ_seg(folder: Path) -> Path:
    a = ball((30, 26, 24), np.array([10.0, 13, 12]), 6.0)
    a = ball((30, 26, 24), np.array([19.0, 13, 12]), 5.0, label=3, out=a)
    return write_nifti(Volume(a, oblique((1.5, 1.5, 2.0))), folder / "seg.nii.gz")


def test_anatomy_section_in_a_spec_file(tmp_path):
    from twin3d.spec import build_scene

    two_organ_seg(tmp_path / "data")
    (tmp_path / "data" / "labels.json").write_text(json.dumps({"1": "liver", "3": {"name": "lesion", "color": "#ff0000"}}))
    spec = tmp_path / "patient.yaml"
    spec.write_text("name: patient\nunits: mm\nanatomy:\n  labelmap: data/seg.nii.gz\n  labels: data/labels.json\n"
                    "  opacity: 0.5\n")
    scene = build_scene(spec)
    organs = {a.semantic_label: a for a in scene.assets()}
    assert sorted(organs) == ["lesion", "liver"]
    assert organs["lesion"].material.base_color == pytest.approx((1.0, 0.0, 0.0))
    assert organs["liver"].material.opacity == 0.5 and organs["liver"].metadata["volume_ml"] > 0
    assert scene.metadata["labelmap"] == "data/seg.nii.gz" and scene.metadata["label_table"] == "labels"


@pytest.mark.parametrize(
    "section, key",
    [
        ("  labelmap: data/missing.nii.gz\n", "anatomy.labelmap"),
        ("  labelmap: data/seg.nii.gz\n  labels: data/missing_table.json\n", "anatomy.labels"),
    ],
)
def test_anatomy_spec_missing_file_names_the_spec_and_the_key(tmp_path, section, key):
    from twin3d.spec import build_scene

    two_organ_seg(tmp_path / "data")
    spec = tmp_path / "patient.yaml"
    spec.write_text("name: patient\nunits: mm\nanatomy:\n" + section)
    with pytest.raises(MissingFileError) as err:
        build_scene(spec)
    message = str(err.value)
    assert str(spec) in message and key in message, message
    assert "missing" in err.value.filename
    assert isinstance(err.value, FileNotFoundError)


def test_missing_label_table_and_label_map_files(tmp_path):
    with pytest.raises(MissingFileError, match="nope.json"):
        load_label_table(tmp_path / "nope.json")
    with pytest.raises(MissingFileError, match="nope.nii.gz"):
        read_labelmap(tmp_path / "nope.nii.gz")


def test_write_organs_by_extension(tmp_path):
    from twin3d.anatomy import OUTPUT_EXTENSIONS, write_organs
    from twin3d.errors import UnsupportedFormatError

    surfaces = labelmap_to_surfaces(read_labelmap(two_organ_seg(tmp_path)), {1: "a", 3: "b"}, smoothing=False)
    out = write_organs(surfaces, tmp_path / "organs.vtm")
    assert list(pv.read(out).keys()) == ["a", "b"] and (tmp_path / "organs").is_dir()
    with pytest.raises(UnsupportedFormatError, match=", ".join(OUTPUT_EXTENSIONS)):
        write_organs(surfaces, tmp_path / "organs.stl")
    assert not (tmp_path / "organs.stl").exists()


# --------------------------------------------------------------------------- windowed sinc
def _surface_net_quads(labels: np.ndarray):
    """Unsmoothed surface-nets quads of a label map, with the filter's smoothing stencils."""
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkFiltersCore import vtkSurfaceNets3D

    img = pv.ImageData(dimensions=labels.shape)
    img.point_data["labels"] = labels.ravel(order="F")
    sn = vtkSurfaceNets3D()
    sn.SetInputData(img)
    for i, lab in enumerate(np.unique(labels[labels > 0])):
        sn.SetLabel(i, float(lab))
    sn.SmoothingOn()
    sn.SetNumberOfIterations(1)
    sn.SetRelaxationFactor(0.0)  # moves nothing; builds the stencils
    sn.SetOutputMeshTypeToQuads()
    sn.Update()
    poly = sn.GetOutput()
    stencils = sn.GetSmoother().GetSmoothingStencils()
    pts = vtk_to_numpy(poly.GetPoints().GetData()).astype(np.float32)
    offsets = vtk_to_numpy(stencils.GetOffsetsArray())
    neighbours = vtk_to_numpy(stencils.GetConnectivityArray())
    return poly, pts, stencils, offsets, neighbours


def test_sinc_filter_response():
    """The Chebyshev coefficients realise a low pass: 1 at the pass band, ~1 at 0, ~0 above."""
    from numpy.polynomial import chebyshev

    c = sinc_coefficients(20, 0.01)

    def response(k):  # eigenvalue k of the Laplacian I - W -> Chebyshev variable 1 - k / 2
        return chebyshev.chebval(1.0 - np.asarray(k) / 2.0, c)

    assert response(0.01) == pytest.approx(1.0, abs=1e-9)
    assert response(0.0) == pytest.approx(1.0, abs=1e-3)  # organ position and size kept
    k = np.linspace(0.0, 2.0, 2001)
    assert response(k).max() < 1.001  # nothing amplified
    assert response(0.45) == pytest.approx(0.5, abs=0.05)  # half-way through the transition
    assert np.abs(response(k[k >= 1.0])).max() < 0.015  # voxel-staircase frequencies removed


def test_windowed_sinc_recurrence_matches_spectral_filter():
    """Our threaded recurrence = the filter applied through the eigen-decomposition of W."""
    from numpy.polynomial import chebyshev

    labels = ball((14, 14, 14), np.array([6.5, 6.8, 7.1]), 4.3)
    _, pts, stencils, offsets, neighbours = _surface_net_quads(labels)
    n = len(pts)
    w = np.zeros((n, n))
    rows = np.repeat(np.arange(n), np.diff(offsets))
    w[rows, neighbours] = 1.0 / np.diff(offsets)[rows]
    lam, vec = np.linalg.eig(w)
    gain = chebyshev.chebval((1.0 + lam) / 2.0, sinc_coefficients(20, 0.01))
    centre = pts.mean(axis=0, dtype=np.float64)
    expected = np.real(vec @ (gain[:, None] * np.linalg.solve(vec, pts - centre))) + centre
    ours = windowed_sinc_stencils(pts, stencils, 20, 0.01)
    assert np.abs(ours - expected).max() < 1e-3  # voxels; float32 recurrence


def test_windowed_sinc_agrees_with_vtk_filter():
    """Same filter family as VTK's vtkWindowedSincPolyDataFilter (Nuttall window, 20 it.)."""
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkFiltersCore import vtkWindowedSincPolyDataFilter

    labels = ball((26, 26, 26), np.array([12.5, 12.8, 13.1]), 9.0)
    poly, pts, stencils, _, _ = _surface_net_quads(labels)
    ws = vtkWindowedSincPolyDataFilter()
    ws.SetInputData(poly)
    ws.SetNumberOfIterations(20)
    ws.SetPassBand(0.01)
    ws.NormalizeCoordinatesOn()
    ws.Update()
    vtk_pts = vtk_to_numpy(ws.GetOutput().GetPoints().GetData())
    ours = windowed_sinc_stencils(pts, stencils, 20, 0.01)
    moved = np.linalg.norm(vtk_pts - pts, axis=1).mean()
    diff = np.linalg.norm(ours - vtk_pts, axis=1)
    assert moved > 0.3  # it does smooth (voxel units) ...
    # ... much like VTK's filter (which stops its pass-band search at 1e-3; ours solves it)
    assert diff.mean() < 0.08 and diff.max() < 0.25
    mesh = pv.wrap(poly).triangulate()
    volumes = [pv.PolyData(p.astype(float), mesh.faces).volume for p in (ours, vtk_pts)]
    assert volumes[0] == pytest.approx(volumes[1], rel=0.005)
    assert volumes[0] == pytest.approx((labels > 0).sum(), rel=0.01)  # no shrinking


def assert_own_vertex_normals(surfaces) -> None:
    """Normals = normalised sum of the organ's own outward face normals at every vertex
    (at junctions, where walls of several organs meet, only that organ's faces)."""
    for s in surfaces.values():
        p, f = np.asarray(s.mesh.points, float), s.mesh.regular_faces
        fn = np.cross(p[f[:, 1]] - p[f[:, 0]], p[f[:, 2]] - p[f[:, 0]])
        ref = np.zeros_like(p)
        for k in range(3):
            np.add.at(ref, f[:, k], fn)
        ref /= np.linalg.norm(ref, axis=1, keepdims=True)
        got = np.asarray(s.mesh.point_data["Normals"], float)
        assert np.einsum("ij,ij->i", got, ref).min() > 0.999, s.name
        assert np.isin(np.arange(len(p)), f).all(), s.name  # no unused vertices


@pytest.mark.parametrize("mirror", [False, True])
def test_real_ct_vertex_normals_are_each_organs_own(seg, mirror):
    assert_own_vertex_normals(labelmap_to_surfaces(seg.flip(0) if mirror else seg, "totalsegmentator"))


@pytest.mark.parametrize("mirror", [False, True])
def test_vertex_normals_at_three_organ_junctions(mirror):
    """Three touching organs (junction curves and corners): each keeps its own normals."""
    a = ball((24, 22, 20), np.array([8.0, 11.0, 10.0]), 6.0, label=1)
    ball(a.shape, np.array([15.0, 11.0, 10.0]), 6.0, label=2, out=a)
    a[10:20, 4:18, 12:18] = 3
    affine = np.diag([0.8, -0.9, 1.2, 1.0]) if mirror else np.diag([0.8, 0.9, 1.2, 1.0])
    out = labelmap_to_surfaces(Volume(a, affine), {1: "a", 2: "b", 3: "c"})
    assert sorted(out) == ["a", "b", "c"]
    assert_own_vertex_normals(out)
    for s in out.values():
        assert signed_volume(s.mesh) > 0
        assert s.volume_ml == pytest.approx(signed_volume(s.mesh) / 1000.0, rel=1e-6)


# --------------------------------------------------------------------------- compiled kernels
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64])
@pytest.mark.parametrize("view", ["c", "flipped", "transposed"])
def test_scan_labels_counts_and_box(dtype, view):
    """One pass: label ids, voxel counts and the non-zero bounding box, for any layout."""
    rng = np.random.default_rng(3)
    a = np.zeros((40, 23, 17), dtype)
    a[5:33, 2:20, 4:16] = rng.choice(np.array([0, 1, 2, 7, 300 if dtype != np.uint8 else 9], dtype), (28, 18, 12))
    a[5, 2, 4] = a[32, 19, 15] = 2  # box corners
    a = {"c": a, "flipped": a[::-1, :, ::-1], "transposed": a.transpose(2, 0, 1)}[view]
    ids, counts, lo, hi = scan_labels(a)
    u, c = np.unique(a, return_counts=True)
    assert ids.tolist() == u[u != 0].tolist() and counts.tolist() == c[u != 0].tolist()
    nz = np.nonzero(a)
    assert lo.tolist() == [int(v.min()) for v in nz] and hi.tolist() == [int(v.max()) + 1 for v in nz]
    assert scan_labels(np.zeros((3, 4, 5), dtype))[0].size == 0


def test_split_quads_cuts_the_shorter_diagonal_keeping_the_winding():
    # quad 0: diagonal 0-2 shorter; quad 1: diagonal 1-3 shorter (a kite)
    pts = np.array([[0, 0, 0], [2, 0, 0], [2, 1, 0], [-0.5, 1, 0], [5, 0, 0], [6, 1.5, 0], [5, 3, 0], [4, 1.5, 0]], np.float32)
    quads = np.array([[0, 1, 2, 3], [4, 5, 6, 7]], np.int32)
    tris = split_quads(pts, quads)
    assert tris.tolist() == [[0, 1, 2], [0, 2, 3], [4, 5, 7], [5, 6, 7]]
    normals = np.cross(pts[tris[:, 1]] - pts[tris[:, 0]], pts[tris[:, 2]] - pts[tris[:, 0]])
    assert (normals[:, 2] > 0).all()  # same winding as the quads (counter-clockwise in xy)
    assert split_quads(pts, quads, np.array([1, 0])).tolist() == [[4, 5, 7], [5, 6, 7], [0, 1, 2], [0, 2, 3]]


def test_wall_measures_against_a_closed_sphere():
    """Per-wall sums of volume, area and moment add up to the closed surface's own."""
    sphere = pv.Sphere(radius=3.0, center=(10.0, -4.0, 2.5), theta_resolution=40, phi_resolution=30)
    pts = np.asarray(sphere.points, np.float32)
    tris = sphere.regular_faces.astype(np.int32)
    starts = np.array([0, 100, 101, 900, len(tris)])  # four "walls"
    ref, vol, area, mom, cross = wall_measures(pts, tris, starts)
    assert ref == pytest.approx(pts.astype(float).mean(axis=0), abs=1e-6)
    assert point_mean(pts) == pytest.approx(ref)
    assert vol.sum() == pytest.approx(sphere.volume, rel=1e-6)
    assert area.sum() == pytest.approx(sphere.area, rel=1e-6)
    assert ref + mom.sum(axis=0) / vol.sum() == pytest.approx([10.0, -4.0, 2.5], abs=1e-5)
    p = pts.astype(float)
    expected = np.cross(p[tris[:, 1]] - p[tris[:, 0]], p[tris[:, 2]] - p[tris[:, 0]])
    assert np.abs(cross - expected).max() < 1e-4
    assert area[1] == pytest.approx(0.5 * np.linalg.norm(expected[100]), rel=1e-6)


# --------------------------------------------------------------------------- huge label ids, budgets (issue 14)
@pytest.mark.parametrize("method", ["surface_nets", "flying_edges"])
def test_a_label_id_of_4e9_sizes_no_array(method):
    """Ids near the top of uint32 give the same organs as small ids (no table sized by the id)."""
    a = np.zeros((12, 10, 9), np.uint32)
    a[2:6, 2:8, 2:7] = 4_000_000_000
    a[6:10, 2:8, 2:7] = 7
    vol = Volume(a, np.diag([0.5, 1.0, 2.0, 1.0]))
    out = labelmap_to_surfaces(vol, {4_000_000_000: "huge_id", 7: "small_id"}, smoothing=False, method=method)
    assert set(out) == {"huge_id", "small_id"}
    assert out["huge_id"].volume_ml == pytest.approx(out["small_id"].volume_ml, rel=1e-6)  # same size boxes
    if method == "surface_nets":  # exact without smoothing
        assert out["huge_id"].volume_ml * 1000 == pytest.approx(4 * 6 * 5 * 1.0, rel=1e-6)
    assert out["huge_id"].label == 4_000_000_000


def test_label_table_ids_are_32_bit():
    assert LabelTable({2**32 - 1: "top"})[2**32 - 1].name == "top"
    with pytest.raises(InputError, match="label id 4294967296 is above 4294967295"):
        LabelTable({2**32: "beyond"})


def test_surfaces_are_checked_against_the_memory_budget():
    from twin3d.budgets import memory_budget_set
    from twin3d.errors import BudgetError

    a = np.zeros((40, 40, 40), np.uint8)
    a[5:35, 5:35, 5:35] = 1
    with memory_budget_set("100K"), pytest.raises(BudgetError) as err:
        labelmap_to_surfaces(Volume(a, np.eye(4)), {1: "cube"})
    assert "extracting organ surfaces needs about" in str(err.value)
    assert "a 32x32x32 voxel box around the labels" in str(err.value)
