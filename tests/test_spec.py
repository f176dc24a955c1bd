import textwrap

import pytest

from twin3d.errors import MissingFileError, SpecError
from twin3d.spec import build_scene, load_spec


def write(tmp_path, text, name="s.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_factory_line_spec(factory_scene_path):
    spec = load_spec(factory_scene_path)
    scene = build_scene(spec)
    machines = scene.assets()
    kinds = {a.asset_type for a in machines}
    assert len(machines) >= 8 and len(kinds) >= 4
    assert scene.units == "m" and scene.up_axis == "Z"
    # repeat expands names; groups exist
    assert scene.get("line/cnc_mill_01").asset_type == "cnc_mill"
    assert scene.get("line/cnc_mill_04").transform.translate[0] == pytest.approx(2.0 + 3 * 3.6)


def test_unknown_key_is_an_error_with_location_and_line(tmp_path):
    p = write(tmp_path, """\
        name: t
        assets:
          - name: a
            kind: electric_motor
          - name: b
            kind: electric_motor
            transfrom: {translate: [1, 0, 0]}
        """)
    with pytest.raises(SpecError) as err:
        load_spec(p)
    msg = str(err.value)
    assert str(p) in msg and ":7:" in msg and "assets[1].transfrom" in msg
    assert "unknown key 'transfrom'" in msg and "valid keys:" in msg and "transform" in msg


def test_bad_rotate_names_nested_location(tmp_path):
    p = write(tmp_path, """\
        assets:
          - {name: a, kind: cnc_mill}
          - {name: b, kind: cnc_mill}
          - {name: c, kind: cnc_mill}
          - name: d
            kind: cnc_mill
            transform:
              rotate: [0, 90]
        """)
    with pytest.raises(SpecError) as err:
        load_spec(p)
    msg = str(err.value)
    assert "assets[3].transform.rotate" in msg and ":8:" in msg


def test_unknown_kind_lists_valid_kinds(tmp_path):
    p = write(tmp_path, "assets:\n  - {name: a, kind: lathe}\n")
    with pytest.raises(SpecError, match=r"assets\[0\].kind.*unknown equipment kind 'lathe'.*cnc_mill"):
        load_spec(p)


def test_other_errors(tmp_path):
    with pytest.raises(MissingFileError, match="missing.yaml: no such scene spec"):
        load_spec(tmp_path / "missing.yaml")
    with pytest.raises(SpecError, match="empty"):
        load_spec(write(tmp_path, ""))
    with pytest.raises(SpecError, match=r":3: invalid YAML"):
        load_spec(write(tmp_path, "assets:\n  - name: a\n   kind: x\n"))
    with pytest.raises(SpecError, match="exactly one of 'kind'"):
        load_spec(write(tmp_path, "assets:\n  - {name: a}\n"))
    with pytest.raises(SpecError, match="already used"):
        load_spec(write(tmp_path, "assets:\n  - {name: a, kind: cnc_mill}\n  - {name: a, kind: cnc_mill}\n"))
    with pytest.raises(SpecError, match="unknown params"):
        load_spec(write(tmp_path, "assets:\n  - {name: a, kind: cnc_mill, params: {radius: 2}}\n"))
    with pytest.raises(SpecError, match="units"):
        load_spec(write(tmp_path, "units: furlong\nassets:\n  - {name: a, kind: cnc_mill}\n"))
    with pytest.raises(SpecError, match="scale"):
        load_spec(write(tmp_path, "assets:\n  - {name: a, kind: cnc_mill, transform: {scale: -1}}\n"))


def test_mesh_file_asset_with_unit_conversion(tmp_path):
    import pyvista as pv

    pv.Cube(x_length=1000, y_length=1000, z_length=1000).triangulate().save(tmp_path / "cube_mm.stl")
    p = write(tmp_path, "assets:\n  - {name: part, mesh: cube_mm.stl, mesh_units: mm, color: [1, 0, 0]}\n")
    scene = build_scene(p)
    a = scene.get("part")
    assert a.mesh.volume == pytest.approx(1.0, rel=1e-6)
    assert a.material.base_color == (1.0, 0.0, 0.0)
    bad = write(tmp_path, "assets:\n  - {name: part, mesh: missing.stl}\n", name="bad.yaml")
    with pytest.raises(MissingFileError, match=r"bad.yaml:2: assets\[0\].mesh: .*missing.stl: no such mesh file"):
        build_scene(bad)


def test_unknown_top_level_key_lists_core_keys_and_sections(tmp_path):
    p = write(tmp_path, "assets:\n  - {name: a, kind: cnc_mill}\nrsik: {}\n")
    with pytest.raises(SpecError) as err:
        load_spec(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}:3: rsik: unknown key 'rsik'; valid keys: name, ")
    for key in ("assets", "appearance", "risk", "thermal", "anatomy", "segmentation"):
        assert key in msg


def test_unknown_asset_key_lists_asset_sections(tmp_path):
    p = write(tmp_path, "assets:\n  - {name: a, kind: cnc_mill, sensor: {source: simulator}}\n")
    with pytest.raises(SpecError, match=r":2: assets\[0\]\.sensor: unknown key 'sensor'; valid keys: .*label.*sensors"):
        load_spec(p)


def test_binary_and_non_utf8_specs_are_clear_errors(tmp_path):
    utf16 = tmp_path / "u16.yaml"
    utf16.write_bytes("assets: []\n".encode("utf-16"))
    with pytest.raises(SpecError, match="UTF-8"):
        load_spec(utf16)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"assets:\x00\x01")
    with pytest.raises(SpecError, match="binary"):
        load_spec(binary)


def test_spec_from_dict_errors_without_lines():
    from twin3d.spec import spec_from_dict

    with pytest.raises(SpecError, match=r"^<spec>: assets\[0\]\.kind: .*unknown equipment kind"):
        spec_from_dict({"assets": [{"name": "a", "kind": "lathe"}]})


# --------------------------------------------------------------------------- hostile values (issue 14)
@pytest.mark.parametrize("text, where, shown", [
    ("fps: .nan\nassets:\n  - {name: a, kind: cnc_mill}\n", ":1: fps", ".nan"),
    ("assets:\n  - name: a\n    kind: cnc_mill\n    repeat: {count: 2, offset: [0, .inf, 0]}\n",
     ":4: assets[0].repeat.offset[1]", ".inf"),
    ("assets:\n  - name: a\n    kind: cnc_mill\n    metadata: {deep: {x: [1, -.inf]}}\n",
     ":4: assets[0].metadata.deep.x[1]", "-.inf"),
])
def test_non_finite_numbers_are_refused_anywhere(tmp_path, text, where, shown):
    p = write(tmp_path, text)
    with pytest.raises(SpecError) as err:
        load_spec(p)
    assert str(err.value) == (f"{p}{where}: {shown} is not a finite number; every number in a scene spec "
                              "must be finite")


@pytest.mark.parametrize("value", ["1e999", "nan", "-inf"])
def test_text_that_converts_to_a_non_finite_number_is_refused(tmp_path, value):
    # YAML 1.1 reads 1e999 (no dot) and nan as text; pydantic would turn them into floats
    p = write(tmp_path, f"assets:\n  - name: a\n    kind: cnc_mill\n    material: {{roughness: {value}}}\n")
    with pytest.raises(SpecError, match=r":4: assets\[0\].material.roughness: Input should be a finite number"):
        load_spec(p)


def test_equipment_params_are_checked_against_their_types(tmp_path):
    p = write(tmp_path, "assets:\n  - name: c\n    kind: belt_conveyor\n    params: {length: long}\n")
    with pytest.raises(SpecError) as err:
        load_spec(p)
    assert str(err.value).startswith(f"{p}:4: assets[0].params: length: Input should be a valid number")
    assert "(got 'long'); default: 4.0" in str(err.value)
    p = write(tmp_path, "assets:\n  - name: m\n    kind: electric_motor\n    params: {n_fins: 2.5}\n")
    with pytest.raises(SpecError, match=r"n_fins: Input should be a valid integer"):
        load_spec(p)
    with pytest.raises(SpecError, match=r"assets\[0\].params: n_fins must be in 0..1000"):
        build_scene(write(tmp_path, "assets:\n  - {name: m, kind: electric_motor, params: {n_fins: 5000}}\n"))
    scene = build_scene(write(tmp_path, "assets:\n  - {name: r, kind: robot_arm, params: {reach: '2', "
                                        "joints: [0, 10, 20, 0, 0, 0]}}\n"))
    assert scene.get("r").metadata["equipment_params"]["reach"] == 2.0  # validated values are used


def test_asset_count_limit_refuses_before_building(tmp_path):
    from twin3d.budgets import count_limit_set
    from twin3d.errors import BudgetError

    p = write(tmp_path, """\
        assets:
          - {name: a, kind: cnc_mill}
          - name: b
            kind: electric_motor
            repeat: {count: 9, offset: [1, 0, 0]}
        """)
    with count_limit_set("assets", 5):
        with pytest.raises(BudgetError) as err:
            build_scene(p, sections=False)
    assert str(err.value).startswith(f"{p}:5: assets[1].repeat.count asks for 10 assets (2 asset entries, "
                                     "repeat copies included), above the limit of 5 assets per scene")
    with count_limit_set("assets", 10):
        assert len(build_scene(p).assets()) == 10


def test_repeat_copies_of_a_mesh_file_share_one_read(tmp_path, monkeypatch):
    import pyvista as pv

    import twin3d.io as io

    pv.Cube().triangulate().save(tmp_path / "cube.stl")
    calls = []
    real = io.read_mesh
    monkeypatch.setattr(io, "read_mesh", lambda *a, **k: calls.append(a) or real(*a, **k))
    scene = build_scene(write(tmp_path, "assets:\n  - name: c\n    mesh: cube.stl\n"
                                        "    repeat: {count: 50, offset: [2, 0, 0]}\n"))
    meshes = {id(a.mesh) for a in scene.assets()}
    assert len(scene.assets()) == 50 and len(meshes) == 1 and len(calls) == 1
    assert scene.get("c_50").transform.translate[0] == pytest.approx(98.0)
