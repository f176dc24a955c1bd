"""The one contract between scene specs and capabilities (twin3d/sections.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from pydantic import BaseModel, ConfigDict

from twin3d.errors import InputError, MissingFileError, SpecError
from twin3d.sections import BUILTIN_SECTIONS, SectionContext, SpecSection, get_section, register_section, section_keys
from twin3d.spec import build_scene, load_spec


class _Marker(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: float
    file: str | None = None


def _apply_marker(scene, section: _Marker, context: SectionContext) -> None:
    if section.file is not None:
        context.resolve(section.file, what="marker file")
    if section.value < 0:
        raise InputError("value must be >= 0")
    for asset in scene.assets():
        asset.metadata["marker"] = section.value
        # sections run after the asset sections (order 0): the simulator's sensors are there
        asset.metadata["had_sensors"] = sorted(asset.sensors)
    scene.metadata["marker_context"] = (str(context.spec_file), str(context.base_dir), context.location)


@pytest.fixture
def marker_section():
    register_section("marker", SpecSection("marker", _Marker, _apply_marker, order=5, summary="test"))
    yield
    from twin3d import sections

    sections._REGISTRY.pop("marker", None)
    sections._LOADED.pop("marker", None)


def _spec(tmp_path, body: str):
    p = tmp_path / "s.yaml"
    p.write_text(textwrap.dedent(body))
    return p


def test_builtin_sections_are_declared_in_order():
    assert section_keys("scene") == ["risk", "thermal", "anatomy", "segmentation", "ablation"]
    assert section_keys("asset") == ["sensors"]
    for key in BUILTIN_SECTIONS:
        s = get_section(key)
        assert s.key == key and callable(s.apply) and s.summary


def test_a_new_section_is_one_registration(tmp_path, marker_section):
    p = _spec(tmp_path, """\
        assets:
          - {name: m, kind: cnc_mill, sensors: {source: simulator, steps: 5}}
        marker: {value: 2.5}
        """)
    spec = load_spec(p)
    assert spec.sections["marker"].value == 2.5
    scene = build_scene(spec)
    a = scene.get("m")
    assert a.metadata["marker"] == 2.5
    assert "torque" in a.metadata["had_sensors"], "asset sections (sensors, order 0) run before order 5"
    assert scene.metadata["marker_context"] == (str(p), str(tmp_path), ("marker",))


def test_section_errors_read_the_same(tmp_path, marker_section):
    bad_value = _spec(tmp_path, "assets:\n  - {name: m, kind: cnc_mill}\nmarker:\n  value: fast\n")
    with pytest.raises(SpecError, match=r"s\.yaml:4: marker\.value: Input should be a valid number"):
        load_spec(bad_value)
    unknown = _spec(tmp_path, "assets:\n  - {name: m, kind: cnc_mill}\nmarker: {value: 1, colour: red}\n")
    with pytest.raises(SpecError, match=r"s\.yaml:3: marker\.colour: unknown key 'colour'; valid keys: value, file"):
        load_spec(unknown)
    negative = _spec(tmp_path, "assets:\n  - {name: m, kind: cnc_mill}\nmarker:\n  value: -1\n")
    with pytest.raises(SpecError, match=r"s\.yaml:3: marker: value must be >= 0"):
        build_scene(negative)
    missing = _spec(tmp_path, "assets:\n  - {name: m, kind: cnc_mill}\nmarker: {value: 1, file: gone.bin}\n")
    with pytest.raises(MissingFileError) as info:
        build_scene(missing)
    assert str(info.value) == f"{missing}:3: marker: {tmp_path / 'gone.bin'}: no such marker file"


def test_sections_false_builds_geometry_only(tmp_path, marker_section):
    p = _spec(tmp_path, "assets:\n  - {name: m, kind: cnc_mill}\nmarker:\n  value: -1\n")
    scene = build_scene(p, sections=False)  # the failing section is not run
    assert scene.get("m").mesh.n_points > 0 and scene.metadata["spec_sections"] == ["marker"]


def test_loading_a_spec_imports_only_the_sections_it_uses(tmp_path):
    p = _spec(tmp_path, """\
        assets:
          - {name: m, kind: electric_motor}
        thermal:
          - {asset: m, problem: rod}
        """)
    code = (
        "import sys; from twin3d.spec import load_spec; load_spec(sys.argv[1]); "
        "print(sorted(m for m in sys.modules if m.startswith('twin3d.') and m.endswith('.section')))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['twin3d.predictors.thermal.section']"


def test_spec_module_names_no_capability():
    import ast
    from pathlib import Path

    import twin3d.spec as spec_module

    tree = ast.parse(Path(spec_module.__file__).read_text())
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    for name in imported:
        assert "predictors" not in name and "sensors" not in name and "anatomy" not in name, name
