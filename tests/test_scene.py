import numpy as np
import pytest

from twin3d.errors import InputError
from twin3d.scene import Asset, Field, Material, Scene, Transform


def test_transform_matrix_matches_usd_xform_ops():
    from pxr import Gf, Usd, UsdGeom

    tr = Transform(translate=(1.0, -2.0, 3.0), rotate=(10.0, 20.0, 30.0), scale=(1.5, 2.0, 0.5))
    stage = Usd.Stage.CreateInMemory()
    x = UsdGeom.Xform.Define(stage, "/x")
    x.AddTranslateOp().Set(Gf.Vec3d(*tr.translate))
    x.AddRotateXYZOp().Set(Gf.Vec3f(*tr.rotate))
    x.AddScaleOp().Set(Gf.Vec3f(*tr.scale))
    usd = np.array(x.ComputeLocalToWorldTransform(Usd.TimeCode.Default())).T
    np.testing.assert_allclose(tr.matrix, usd, atol=1e-5)


def test_transform_identity_and_override():
    assert Transform().is_identity
    m = np.eye(4)
    m[:3, 3] = (1, 2, 3)
    t = Transform.from_matrix(m)
    assert not t.is_identity
    np.testing.assert_allclose(t.matrix, m)
    with pytest.raises(InputError):
        Transform(matrix_override=np.eye(3))


def test_field_shapes_validated():
    Field("risk", 0.2, association="asset")
    Field("risk", [0.1, 0.2], association="asset", times=[0, 60])
    with pytest.raises(InputError, match="match times"):
        Field("risk", [0.1, 0.2, 0.3], association="asset", times=[0, 60])
    with pytest.raises(InputError, match="strictly increasing"):
        Field("risk", [0.1, 0.2], association="asset", times=[60, 0])
    with pytest.raises(InputError, match="invalid name"):
        Field("bad name", 1.0, association="asset")
    with pytest.raises(InputError, match="clim"):
        Field("x", [1.0], clim=(1, 0))


def test_vertex_field_checked_against_mesh():
    import pyvista as pv

    a = Asset("cube", mesh=pv.Cube())
    assert a.mesh.is_all_triangles and a.n_points == a.mesh.n_points
    a.set_field(Field("temperature", np.zeros(a.n_points)))
    with pytest.raises(InputError, match="vertices"):
        a.set_field(Field("temperature", np.zeros(a.n_points + 1)))
    with pytest.raises(InputError, match="group"):
        Asset("g").set_field(Field("t", np.zeros(3)))


def test_scene_tree_timeline_and_world_matrix():
    import pyvista as pv

    s = Scene("s")
    g = s.group("line")
    g.transform = Transform(translate=(10, 0, 0))
    a = s.add(Asset("m1", mesh=pv.Cube(), transform=Transform(translate=(0, 5, 0))), "line")
    assert s.get("m1") is a and s.get("line/m1") is a
    np.testing.assert_allclose(s.world_matrix("line/m1")[:3, 3], [10, 5, 0])
    lo, hi = s.bounds()
    np.testing.assert_allclose(lo, [9.5, 4.5, -0.5])
    with pytest.raises(InputError, match="already has a child"):
        s.add(Asset("m1"), "line")
    with pytest.raises(KeyError):
        s.get("nope")
    assert s.times is None and s.n_frames == 1
    a.set_field(Field("risk", [0.1, 0.2, 0.3], association="asset", times=[0, 1, 2]))
    assert s.n_frames == 3
    b = s.add(Asset("m2", mesh=pv.Cube()), "line")
    b.set_field(Field("risk", [0.1, 0.2], association="asset", times=[0, 1]))
    with pytest.raises(InputError, match="timeline"):
        _ = s.times


def test_parts_masks():
    from twin3d.equipment import equipment_asset

    motor = equipment_asset("motor", "electric_motor")
    mask = motor.part_point_mask("housing")
    assert 0 < mask.sum() < motor.n_points
    with pytest.raises(InputError, match="parts"):
        motor.part_index("rotor")


def test_material_and_units_validation():
    with pytest.raises(InputError):
        Material(base_color=(2, 0, 0))
    with pytest.raises(InputError, match="units"):
        Scene(units="furlong")
    assert Scene(units="mm").meters_per_unit == 0.001
