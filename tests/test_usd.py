import numpy as np
import pytest
import pyvista as pv

from twin3d.equipment import equipment_asset
from twin3d.errors import UnsupportedFormatError
from twin3d.scene import Asset, Field, Material, Scene, Transform
from twin3d.spec import build_scene
from twin3d.usd import read_usd, register_schema, validate_usd, write_usd


@pytest.fixture(scope="module")
def factory(factory_scene_path):
    return build_scene(factory_scene_path)


def animated_scene():
    s = Scene("anim", fps=5)
    times = np.array([0.0, 60.0, 120.0])
    m = s.add(equipment_asset("motor", "electric_motor", transform=Transform(translate=(1, 2, 0), rotate=(0, 0, 45))))
    m.set_sensor("torque", [40.0, 42.5, 45.0], times, "Nm")
    temp = np.stack([np.full(m.n_points, 20.0), np.linspace(20, 60, m.n_points), np.full(m.n_points, 80.0)])
    m.set_field(Field("temperature", temp, times=times, unit="degC", clim=(20, 80)))
    m.metadata["color_by"] = "temperature"
    p = s.add(equipment_asset("pump", "centrifugal_pump", transform=Transform(translate=(4, 0, 0))))
    p.set_field(Field("risk", [0.01, 0.1, 0.6], association="asset", times=times, unit="1"))
    return s


@pytest.mark.parametrize("ext", [".usda", ".usdc"])
def test_factory_stage_is_valid_with_conventions(tmp_path, factory, ext):
    path = write_usd(factory, tmp_path / f"f{ext}")
    assert validate_usd(path) == []
    from pxr import Kind, Usd, UsdGeom, UsdShade

    stage = Usd.Stage.Open(str(path))
    world = stage.GetDefaultPrim()
    assert world.GetPath() == "/World" and Usd.ModelAPI(world).GetKind() == Kind.Tokens.assembly
    assert UsdGeom.GetStageUpAxis(stage) == "Z" and UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    mill = stage.GetPrimAtPath("/World/line/cnc_mill_01")
    assert Usd.ModelAPI(mill).GetKind() == "component"
    assert mill.HasAPI("TwinAssetAPI") and mill.GetAttribute("twin:assetType").Get() == "cnc_mill"
    assert list(mill.GetAttribute("semantics:labels:class").Get()) == ["cnc_mill"]
    conveyor_mesh = UsdGeom.Mesh(stage.GetPrimAtPath("/World/line/infeed_conveyor/geom"))
    assert conveyor_mesh.GetExtentAttr().Get() is not None and conveyor_mesh.GetNormalsAttr().Get() is not None
    # colors: displayColor read by the bound preview surface through a primvar reader
    mat, _ = UsdShade.MaterialBindingAPI(conveyor_mesh.GetPrim()).ComputeBoundMaterial()
    surface = mat.ComputeSurfaceSource()[0]
    src = surface.GetInput("diffuseColor").GetConnectedSources()[0][0].source
    reader = UsdShade.Shader(src.GetPrim())
    assert reader.GetIdAttr().Get() == "UsdPrimvarReader_float3"
    assert reader.GetInput("varname").Get() == "displayColor"
    subsets = UsdGeom.Subset.GetGeomSubsets(conveyor_mesh, "face", "part")
    assert {s.GetPrim().GetName() for s in subsets} == {"belt", "frame", "legs", "rollers", "drive_motor"}


def test_round_trip_names_counts_colors(tmp_path, factory):
    path = write_usd(factory, tmp_path / "f.usdc")
    back = read_usd(path)
    orig = {p: a for p, a in factory.walk()}
    got = {p: a for p, a in back.walk()}
    assert set(orig) == set(got)
    for p, a in orig.items():
        b = got[p]
        assert b.n_points == a.n_points and b.asset_type == a.asset_type
        if a.mesh is not None:
            assert b.mesh.n_cells == a.mesh.n_cells
            assert [x.name for x in b.parts] == [x.name for x in a.parts]
            np.testing.assert_allclose(b.face_colors(), a.face_colors(), atol=1e-6)
            np.testing.assert_allclose(back.world_matrix(p), factory.world_matrix(p), atol=1e-5)
    assert back.units == "m" and back.up_axis == "Z"


def test_animated_fields_and_sensors(tmp_path):
    scene = animated_scene()
    path = write_usd(scene, tmp_path / "anim.usda")
    assert validate_usd(path) == []
    from pxr import Usd, UsdGeom

    stage = Usd.Stage.Open(str(path))
    assert stage.GetTimeCodesPerSecond() == 5 and stage.GetFramesPerSecond() == 5
    assert (stage.GetStartTimeCode(), stage.GetEndTimeCode()) == (0, 2)
    motor = stage.GetPrimAtPath("/World/motor")
    assert "TwinSensorAPI:torque" in motor.GetAppliedSchemas()
    torque = motor.GetAttribute("twin:sensor:torque:value")
    assert torque.GetTimeSamples() == [0, 1, 2] and torque.Get(1) == 42.5
    mesh = UsdGeom.Mesh(stage.GetPrimAtPath("/World/motor/geom"))
    temp = UsdGeom.PrimvarsAPI(mesh).GetPrimvar("twin:temperature")
    assert temp.GetInterpolation() == "vertex" and len(temp.GetAttr().GetTimeSamples()) == 3
    np.testing.assert_allclose(np.asarray(temp.Get(2)), 80.0)
    color = UsdGeom.PrimvarsAPI(mesh).GetPrimvar("displayColor")
    assert color.IsIndexed()
    hot = np.asarray(color.ComputeFlattened(2))
    cold = np.asarray(color.ComputeFlattened(0))
    assert hot.shape == (mesh.GetPointsAttr().Get().__len__(), 3) and hot[:, 0].mean() > cold[:, 0].mean()
    back = read_usd(path)
    np.testing.assert_allclose(back.times, [0, 60, 120])
    m = back.get("motor")
    np.testing.assert_allclose(m.fields["temperature"].values, scene.get("motor").fields["temperature"].values)
    assert m.fields["temperature"].unit == "degC" and m.fields["temperature"].clim == (20, 80)
    np.testing.assert_allclose(m.sensors["torque"].values, [40, 42.5, 45])
    np.testing.assert_allclose(back.get("pump").fields["risk"].values, [0.01, 0.1, 0.6])


def test_instancing_of_repeated_equipment(tmp_path):
    s = Scene("inst")
    for i in range(3):
        a = s.add(equipment_asset(f"p{i}", "centrifugal_pump", transform=Transform(translate=(2.0 * i, 0, 0))))
        a.set_field(Field("risk", [0.1 * i, 0.2], association="asset", times=[0, 1]))
    path = write_usd(s, tmp_path / "inst.usda")
    assert validate_usd(path) == []
    from pxr import Usd

    stage = Usd.Stage.Open(str(path))
    assert all(stage.GetPrimAtPath(f"/World/p{i}").IsInstance() for i in range(3))
    assert len(stage.GetPrototypes()) == 1
    back = read_usd(path)
    for i in range(3):
        b = back.get(f"p{i}")
        assert b.n_points == s.get(f"p{i}").n_points
        np.testing.assert_allclose(back.world_matrix(f"p{i}")[:3, 3], [2.0 * i, 0, 0])
        np.testing.assert_allclose(b.fields["risk"].values, [0.1 * i, 0.2])


def test_foreign_usd_file_with_nested_transforms(tmp_path):
    register_schema()
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


def test_write_is_atomic(tmp_path, factory):
    path = write_usd(factory, tmp_path / "f.usdc")
    before = path.read_bytes()
    bad = Scene("bad")
    a = bad.add(equipment_asset("m", "electric_motor"))
    a.metadata["oops"] = object()  # not serialisable -> the writer fails
    with pytest.raises(TypeError):
        write_usd(bad, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["f.usdc"]
    with pytest.raises(UnsupportedFormatError, match=".usda"):
        write_usd(factory, tmp_path / "f.obj")


def test_anatomy_units_millimetres(tmp_path):
    s = Scene("organs", units="mm")
    s.add(Asset("liver", mesh=pv.Sphere(radius=50.0), asset_type="organ", semantic_label="liver",
                material=Material("liver", (0.6, 0.25, 0.2))))
    path = write_usd(s, tmp_path / "o.usda")
    from pxr import Usd, UsdGeom

    stage = Usd.Stage.Open(str(path))
    assert UsdGeom.GetStageMetersPerUnit(stage) == pytest.approx(0.001)
    assert validate_usd(stage) == []
    assert read_usd(path).units == "mm"
