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
