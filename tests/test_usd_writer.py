import numpy as np
import pytest
import pyvista as pv

from twin3d.equipment import equipment_asset
from twin3d.errors import UnsupportedFormatError
from twin3d.scene import Asset, Field, Material, Scene, Transform
from twin3d.spec import build_scene
from twin3d.usd import read_usd, validate_usd, write_usd


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


def pump_row(n: int = 3) -> Scene:
    s = Scene("inst")
    for i in range(n):
        a = s.add(equipment_asset(f"p{i}", "centrifugal_pump", transform=Transform(translate=(2.0 * i, 0, 0))))
        a.set_field(Field("risk", [0.1 * i, 0.2], association="asset", times=[0, 1]))
    return s


@pytest.mark.parametrize("instancing", ["auto", "always", "never"])
def test_repeated_equipment_in_each_layout(tmp_path, instancing):
    s = pump_row()
    path = write_usd(s, tmp_path / "inst.usda", instancing=instancing)
    assert validate_usd(path) == []
    from pxr import Usd

    stage = Usd.Stage.Open(str(path))
    instances = [stage.GetPrimAtPath(f"/World/p{i}").IsInstance() for i in range(3)]
    assert instances == [instancing == "always"] * 3
    assert len(stage.GetPrototypes()) == (1 if instancing == "always" else 0)
    back = read_usd(path)
    for i in range(3):
        b = back.get(f"p{i}")
        assert b.n_points == s.get(f"p{i}").n_points
        np.testing.assert_allclose(back.world_matrix(f"p{i}")[:3, 3], [2.0 * i, 0, 0])
        np.testing.assert_allclose(b.fields["risk"].values, [0.1 * i, 0.2])
        assert b.fields["risk"].association == "asset" and b.fields["risk"].unit == ""


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


# --------------------------------------------------------------------------- colours and fields on each mesh
def own_primvar(stage, mesh_path: str, name: str):
    """The primvar ``name`` of the Mesh prim itself -- no inheritance from its ancestors."""
    from pxr import UsdGeom

    prim = stage.GetPrimAtPath(mesh_path)
    assert prim and prim.IsA(UsdGeom.Mesh), mesh_path
    return UsdGeom.PrimvarsAPI(prim).GetPrimvar(name)


def table_colors(colormap: str, base) -> np.ndarray:
    from twin3d.colors import lookup_table_colors
    from twin3d.usd.writer import N_COLOR_LEVELS

    return np.vstack([lookup_table_colors(colormap, N_COLOR_LEVELS), np.asarray(base, np.float32)[None]])


def test_factory_colors_and_fields_on_every_mesh(tmp_path, factory):
    """Each asset's Mesh prim has its own animated displayColor and risk (as Blender reads them)."""
    from pxr import Usd, UsdGeom

    from twin3d.usd.writer import color_levels

    path = write_usd(factory, tmp_path / "f.usdc")
    stage = Usd.Stage.Open(str(path))
    layer = stage.GetRootLayer()
    n = factory.n_frames
    assert n > 10
    risky = changing = 0
    for p, asset in factory.walk():
        if asset.mesh is None:
            continue
        mesh_path = f"/World/{p}/geom"
        color = own_primvar(stage, mesh_path, "displayColor")
        assert color and color.HasAuthoredValue(), mesh_path  # every mesh is coloured by itself
        if "risk" not in asset.fields:
            continue
        risky += 1
        # authored on this asset's own mesh spec (an over of the referenced prototype's mesh), not inherited
        assert not stage.GetPrimAtPath(mesh_path).IsInstanceProxy()
        spec = layer.GetAttributeAtPath(f"{mesh_path}.primvars:displayColor")
        assert spec is not None and layer.GetNumTimeSamplesForPath(spec.path) == n
        assert color.GetInterpolation() == "constant" and color.ValueMightBeTimeVarying()
        assert color.GetAttr().GetTimeSamples() == list(range(n))
        risk = own_primvar(stage, mesh_path, "twin:risk")
        assert risk.GetTypeName().isArray and risk.GetInterpolation() == "constant"
        assert layer.GetNumTimeSamplesForPath(f"{mesh_path}.primvars:twin:risk") == n
        values = np.array([risk.Get(Usd.TimeCode(t))[0] for t in range(n)])
        np.testing.assert_allclose(values, asset.fields["risk"].values, rtol=1e-6, atol=1e-7)
        colors = np.array([color.Get(Usd.TimeCode(t))[0] for t in range(n)])
        # the colours are the risk colormap at the quantised risk, frame by frame
        levels = color_levels(values, (0.0, 1.0))
        np.testing.assert_allclose(colors, table_colors("risk", asset.material.base_color)[levels], atol=1e-6)
        # where the risk differs between two frames (by a colour step: 1/255 of the risk range), so does the colour
        assert np.all((levels[:, None] != levels[None, :]) == np.any(colors[:, None] != colors[None, :], axis=-1))
        lo, hi = int(np.argmin(values)), int(np.argmax(values))
        if values[hi] - values[lo] > 1 / 255:
            changing += 1
            assert np.abs(colors[hi] - colors[lo]).max() > 0.1
    assert risky == 14 and changing == 13  # robot_02 keeps one risk all along
    # the material still reads displayColor through the primvar reader, bound on the mesh
    from pxr import UsdShade

    mill = stage.GetPrimAtPath("/World/line/cnc_mill_01/geom")
    mat, _ = UsdShade.MaterialBindingAPI(mill).ComputeBoundMaterial()
    src = mat.ComputeSurfaceSource()[0].GetInput("diffuseColor").GetConnectedSources()[0][0].source
    assert UsdShade.Shader(src.GetPrim()).GetInput("varname").Get() == "displayColor"
    assert UsdGeom.Mesh(mill).GetExtentAttr().Get() is not None and UsdGeom.Mesh(mill).GetNormalsAttr().Get()


def points_specs(layer) -> list[str]:
    """Paths of the ``points`` arrays authored in ``layer``."""
    found = []
    layer.Traverse("/", lambda p: found.append(str(p)) if p.IsPropertyPath() and p.name == "points" else None)
    return found


@pytest.mark.parametrize("instancing", ["auto", "never"])
def test_factory_geometry_stored_once(tmp_path, factory, instancing):
    from pxr import Usd

    path = write_usd(factory, tmp_path / "f.usdc", instancing=instancing)
    stage = Usd.Stage.Open(str(path))
    meshes = {id(a.mesh) for _, a in factory.walk() if a.mesh is not None}
    n_assets = sum(a.mesh is not None for _, a in factory.walk())
    points = points_specs(stage.GetRootLayer())
    assert len(points) == (len(meshes) if instancing == "auto" else n_assets)
    mills = [f"/World/line/cnc_mill_0{i}/geom" for i in range(1, 5)]
    stacks = {str(stage.GetPrimAtPath(m).GetAttribute("points").GetPropertyStack()[0].path) for m in mills}
    if instancing == "auto":  # the 4 cnc mills share one points array, in a prototype that is not drawn
        (src,) = stacks
        assert src.startswith("/Prototypes/")
        assert not any(p.startswith("/Prototypes") for p in (str(x.GetPath()) for x in stage.Traverse()))
    else:
        assert len(stacks) == 4


def test_factory_always_instanced_reads_back_the_same(tmp_path, factory):
    from pxr import Usd, UsdGeom

    auto = read_usd(write_usd(factory, tmp_path / "auto.usdc"))
    path = write_usd(factory, tmp_path / "always.usdc", instancing="always")
    assert validate_usd(path) == []
    stage = Usd.Stage.Open(str(path))
    mill = stage.GetPrimAtPath("/World/line/cnc_mill_01")
    assert mill.IsInstance() and stage.GetPrimAtPath("/World/line/cnc_mill_01/geom").IsInstanceProxy()
    # native instances: the colour is inherited from the instance prim, not on the mesh
    inherited = UsdGeom.PrimvarsAPI(stage.GetPrimAtPath("/World/line/cnc_mill_01/geom")).FindPrimvarWithInheritance("displayColor")
    assert inherited.GetAttr().GetPrim().GetPath() == "/World/line/cnc_mill_01" and inherited.GetAttr().GetNumTimeSamples() > 1
    back = read_usd(path)
    for p, a in factory.walk():
        b, c = back.get(p), auto.get(p)
        assert set(b.fields) == set(a.fields) == set(c.fields) and set(b.sensors) == set(a.sensors)
        for name, f in a.fields.items():
            np.testing.assert_allclose(b.fields[name].values, f.values, rtol=1e-6, atol=1e-7)
            np.testing.assert_array_equal(b.fields[name].values, c.fields[name].values)
        for name, f in a.sensors.items():
            np.testing.assert_allclose(b.sensors[name].values, f.values)
            np.testing.assert_array_equal(b.sensors[name].values, c.sensors[name].values)


def grid(n: int, frames: int) -> Scene:
    """``n`` machines of 3 kinds with an animated risk each (a small ``benchmarks/render.py`` grid)."""
    rng = np.random.default_rng(0)
    s = Scene("grid", fps=10)
    times = np.arange(frames) * 60.0
    kinds = ("cnc_mill", "centrifugal_pump", "electric_motor")
    for i in range(n):
        a = s.add(equipment_asset(f"m{i:03d}", kinds[i % 3], transform=Transform(translate=(4.0 * (i % 10), 4.0 * (i // 10), 0))))
        a.set_field(Field("risk", np.clip(rng.beta(1.2, 12.0) + 0.05 * rng.standard_normal(frames), 0, 1),
                          association="asset", times=times, unit="1"))
    return s


def test_per_mesh_colors_keep_files_small(tmp_path):
    """Colours on every mesh cost little more than native instances' inherited ones."""
    from pxr import Sdf

    s = grid(300, 20)
    sizes = {m: write_usd(s, tmp_path / f"{m}.usdc", instancing=m).stat().st_size for m in ("auto", "always")}
    assert sizes["auto"] <= 1.5 * sizes["always"]
    assert len(points_specs(Sdf.Layer.FindOrOpen(str(tmp_path / "auto.usdc")))) == 3


def test_shared_mesh_with_vertex_fields_is_referenced(tmp_path):
    """Repeated equipment with per-vertex fields: geometry once, each mesh its own indexed colours."""
    from pxr import Usd

    s = Scene("motors", fps=5)
    times = np.array([0.0, 1.0])
    for i in range(2):
        m = s.add(equipment_asset(f"motor{i}", "electric_motor", transform=Transform(translate=(2.0 * i, 0, 0))))
        ramp = np.linspace(20, 60 + 20 * i, m.n_points)
        m.set_field(Field("temperature", np.stack([ramp, ramp + 10]), times=times, unit="degC", clim=(20, 90)))
    path = write_usd(s, tmp_path / "motors.usda")
    assert validate_usd(path) == []
    stage = Usd.Stage.Open(str(path))
    assert len(points_specs(stage.GetRootLayer())) == 1
    flat = []
    for i in range(2):
        color = own_primvar(stage, f"/World/motor{i}/geom", "displayColor")
        assert color.IsIndexed() and color.GetInterpolation() == "vertex"
        assert len(color.GetIndicesAttr().GetTimeSamples()) == 2
        flat.append(np.asarray(color.ComputeFlattened(Usd.TimeCode(1))))
    assert flat[0].shape == (s.get("motor0").n_points, 3) and not np.allclose(flat[0], flat[1])
    back = read_usd(path)
    for i in range(2):
        np.testing.assert_allclose(back.get(f"motor{i}").fields["temperature"].values,
                                   s.get(f"motor{i}").fields["temperature"].values)


def composed(path) -> str:
    """The stage at ``path`` as every USD reader sees it: flattened, de-instanced, without ``/Prototypes``."""
    from pxr import Usd

    stage = Usd.Stage.Open(str(path))
    stage.SetEditTarget(stage.GetSessionLayer())
    for prim in list(stage.Traverse()):
        if prim.IsInstance():
            prim.SetInstanceable(False)
    flat = stage.Flatten()
    if flat.GetPrimAtPath("/Prototypes"):
        del flat.rootPrims["Prototypes"]
    flat.documentation = ""
    return flat.ExportToString()


def test_only_per_asset_overrides_are_written_per_asset(tmp_path):
    """Machines of one kind share one prototype that carries what they share (identity, primvar
    declarations); each machine authors only its own values -- and the composed stage is the
    one a full mesh per machine gives."""
    from pxr import Sdf, Usd

    s = grid(12, 4)
    path = write_usd(s, tmp_path / "auto.usda")
    assert validate_usd(path) == []
    assert composed(path) == composed(write_usd(s, tmp_path / "never.usda", instancing="never"))
    layer = Sdf.Layer.FindOrOpen(str(path))
    stage = Usd.Stage.Open(layer)
    for i in range(12):
        asset = layer.GetPrimAtPath(f"/World/m{i:03d}")
        # on the asset: its reference, name, kind, transform and id -- no schemas, material or type
        assert "apiSchemas" not in asset.ListInfoKeys() and "customData" not in asset.ListInfoKeys()
        ops = ["xformOp:translate", "xformOpOrder"] if i else []  # m000 sits at the origin
        assert sorted(asset.properties.keys()) == ["twin:assetId", *ops]
        over = layer.GetPrimAtPath(f"/World/m{i:03d}/geom")
        assert over.specifier == Sdf.SpecifierOver
        for name in ("primvars:displayColor", "primvars:twin:risk"):
            spec = over.properties[name]
            assert set(spec.ListInfoKeys()) <= {"typeName", "timeSamples", "variability", "custom"}, spec.ListInfoKeys()
            assert layer.GetNumTimeSamplesForPath(spec.path) == 4
        prim = stage.GetPrimAtPath(f"/World/m{i:03d}")
        assert prim.HasAPI("TwinAssetAPI") and prim.GetAttribute("twin:assetType").Get() == s.get(f"m{i:03d}").asset_type
        assert prim.GetCustomDataByKey("twin3d:material") == s.get(f"m{i:03d}").material.name
        risk = own_primvar(stage, f"/World/m{i:03d}/geom", "twin:risk")
        assert risk.GetInterpolation() == "constant" and risk.GetAttr().GetCustomDataByKey("unit") == "1"
    # the shared part lives on the 3 prototypes, which are classes (never drawn)
    protos = layer.GetPrimAtPath("/Prototypes")
    assert protos.specifier == Sdf.SpecifierClass and len(protos.nameChildren) == 3
    for proto in protos.nameChildren:
        assert "twin:assetType" in proto.properties
        color = proto.nameChildren["geom"].properties["primvars:displayColor"]
        assert color.GetInfo("interpolation") == "constant" and not color.HasInfo("timeSamples")
    back = read_usd(path)
    for i in range(12):
        np.testing.assert_allclose(back.get(f"m{i:03d}").fields["risk"].values,
                                   s.get(f"m{i:03d}").fields["risk"].values, rtol=1e-6, atol=1e-7)


def test_assets_that_differ_keep_their_own_declarations(tmp_path):
    """Assets sharing a mesh but not their fields, labels or materials author everything on
    themselves; the prototype stays geometry only, and nothing leaks from one to another."""
    from pxr import Sdf

    s = Scene("mixed", fps=2)
    t = [0.0, 1.0, 2.0]
    for i in range(4):
        a = s.add(equipment_asset(f"m{i}", "electric_motor", transform=Transform(translate=(2.0 * i, 0, 0))))
        if i == 0:
            a.set_field(Field("risk", [0.1, 0.5, 1e300], association="asset", times=t, unit="1"))
        elif i == 1:
            a.set_field(Field("wear", [0.5, -0.0, 1e-45], association="asset", times=t, unit="mm"))
        elif i == 2:
            a.set_field(Field("risk", 0.25, association="asset", unit="1"))
        else:
            a.semantic_label = "spare"
            a.set_field(Field("risk", [0.3, np.nan, 0.1], association="asset", times=t, unit="1"))
    path = write_usd(s, tmp_path / "mixed.usda")
    assert validate_usd(path) == []
    assert composed(path) == composed(write_usd(s, tmp_path / "never.usda", instancing="never"))
    layer = Sdf.Layer.FindOrOpen(str(path))

    def proto(i):
        return layer.GetPrimAtPath(layer.GetPrimAtPath(f"/World/m{i}").referenceList.prependedItems[0].primPath)

    # m0, m2, m3 (coloured by their risk) share a prototype but not a label or animation: geometry only there
    assert proto(0).path == proto(2).path == proto(3).path and not proto(0).properties
    assert "primvars:twin:risk" not in proto(0).nameChildren["geom"].properties
    for i in (0, 2, 3):
        assert layer.GetAttributeAtPath(f"/World/m{i}/geom.primvars:twin:risk").GetInfo("interpolation") == "constant"
    # m1 (not coloured by a field) is alone on the uncoloured one, which carries its declarations
    assert proto(1).path != proto(0).path and "twin:assetType" in proto(1).properties
    back = read_usd(path)
    assert set(back.get("m1").fields) == {"wear"} and set(back.get("m2").fields) == {"risk"}
    np.testing.assert_array_equal(back.get("m0").fields["risk"].values, np.float32([0.1, 0.5, np.inf]))
    np.testing.assert_array_equal(back.get("m1").fields["wear"].values, np.float32([0.5, -0.0, 1e-45]))
    assert np.signbit(back.get("m1").fields["wear"].values[1]) and back.get("m2").fields["risk"].values == np.float32(0.25)
    assert back.get("m3").semantic_label == "spare" and back.get("m0").semantic_label == s.get("m0").semantic_label


def test_writing_pauses_the_cyclic_gc_and_restores_it(tmp_path):
    import gc

    from twin3d.usd.writer import scene_to_layer

    assert gc.isenabled()
    scene_to_layer(pump_row(2))
    assert gc.isenabled()
    bad = Scene("bad")
    bad.add(equipment_asset("m", "electric_motor")).metadata["oops"] = object()
    with pytest.raises(TypeError):
        scene_to_layer(bad)
    assert gc.isenabled()
    gc.disable()
    try:
        scene_to_layer(pump_row(2))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_not_finite_values_and_awkward_strings(tmp_path):
    """A NaN risk shows the base colour; strings with quotes, backslashes, newlines, unicode survive."""
    from pxr import Usd

    s = Scene("odd \"scene\"", fps=2)
    a = s.add(equipment_asset("pump", "centrifugal_pump"))
    a.set_field(Field("risk", [0.2, np.nan, 0.9], association="asset", times=[0, 1, 2], unit='p"\\1',
                      description="line 1\nline 2 \u00e9\t\x01"))
    a.set_sensor("torque", [1.0, np.inf, -2.5], np.array([0.0, 1, 2]), "N\u00b7m")
    a.metadata.update({"note": 'say "hi" \\ \u00fcber\n', "n": 3})
    a.material = Material('steel "brushed" \\', (0.3, 0.4, 0.5))
    path = write_usd(s, tmp_path / "odd.usdc")
    assert validate_usd(path) == []
    stage = Usd.Stage.Open(str(path))
    color = own_primvar(stage, "/World/pump/geom", "displayColor")
    np.testing.assert_allclose(color.Get(Usd.TimeCode(1))[0], [0.3, 0.4, 0.5], atol=1e-7)
    back = read_usd(path).get("pump")
    f = back.fields["risk"]
    assert np.isnan(f.values[1]) and f.values[2] == pytest.approx(0.9)
    assert f.unit == 'p"\\1' and f.description == "line 1\nline 2 \u00e9\t\x01"
    np.testing.assert_array_equal(back.sensors["torque"].values, [1.0, np.inf, -2.5])
    assert back.sensors["torque"].unit == "N\u00b7m"
    assert back.metadata["note"] == 'say "hi" \\ \u00fcber\n' and back.metadata["n"] == 3
    assert back.material.name == 'steel "brushed" \\'


def test_explicit_colors_are_written_on_the_mesh(tmp_path):
    """Colours read from another tool (point/cell displayColor data) are written as such."""
    from pxr import Usd

    s = Scene("painted")
    box = pv.Cube().triangulate()
    box.cell_data["displayColor"] = np.tile(np.array([[1, 0, 0], [0, 0, 1]], np.float32), (box.n_cells // 2, 1))
    s.add(Asset("box", mesh=box))
    ball = pv.Sphere(theta_resolution=8, phi_resolution=8)
    ball.point_data["displayColor"] = np.linspace(0, 1, ball.n_points * 3, dtype=np.float32).reshape(-1, 3)
    ball.point_data["displayOpacity"] = np.full(ball.n_points, 0.5, np.float32)
    s.add(Asset("ball", mesh=ball, transform=Transform(translate=(3, 0, 0))))
    path = write_usd(s, tmp_path / "painted.usda")
    assert validate_usd(path) == []
    stage = Usd.Stage.Open(str(path))
    c = own_primvar(stage, "/World/box/geom", "displayColor")
    assert c.GetInterpolation() == "uniform"
    np.testing.assert_allclose(np.asarray(c.Get()), box.cell_data["displayColor"])
    c = own_primvar(stage, "/World/ball/geom", "displayColor")
    assert c.GetInterpolation() == "vertex"
    np.testing.assert_allclose(np.asarray(c.Get()), ball.point_data["displayColor"])
    o = own_primvar(stage, "/World/ball/geom", "displayOpacity")
    assert o.GetInterpolation() == "vertex" and np.allclose(np.asarray(o.Get()), 0.5)


def test_unknown_instancing_lists_the_valid_ones(tmp_path):
    from twin3d.errors import InputError

    with pytest.raises(InputError, match="'auto', 'always', 'never', got 'sometimes'"):
        write_usd(pump_row(1), tmp_path / "x.usdc", instancing="sometimes")
    assert not (tmp_path / "x.usdc").exists()
