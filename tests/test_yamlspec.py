"""The one YAML + pydantic loader (twin3d/yamlspec.py) and the shared spec types (twin3d/spectypes.py)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from twin3d.errors import MissingFileError, SpecError
from twin3d.spectypes import Cameras, Color, Frames, Strict, Units, Vec3
from twin3d.yamlspec import format_location, line_index, load_model, read_yaml


class Inner(Strict):
    color: Color = (1.0, 1.0, 1.0)
    cameras: Cameras = ["iso"]


class Outer(Strict):
    name: str
    units: Units = "m"
    at: Vec3 = (0.0, 0.0, 0.0)
    items: list[Inner] = []
    frames: Frames = "last"


def test_locations_and_lines():
    text = "name: a\nitems:\n  - color: [1, 0, 0]\n  - cameras: [top]\n"
    lines = line_index(text)
    assert lines[("items", 1, "cameras")] == 4 and lines[("name",)] == 1
    assert format_location(("items", 1, "cameras")) == "items[1].cameras" and format_location(()) == "(top level)"


@pytest.mark.parametrize("body, expected", [
    ("name: a\nitems:\n  - color: [2, 0, 0]\n", ":3: items[0].color: Value error, color components must be in [0, 1]"),
    ("name: a\nitems:\n  - cameras: [front, sky]\n", ":3: items[0].cameras[1]: Value error, unknown camera 'sky'"),
    ("name: a\nitems:\n  - cameras: []\n", ":3: items[0].cameras: Value error, give at least one camera"),
    ("name: a\nunits: furlong\n", ":2: units: Value error, unknown units 'furlong'; valid: m, cm, mm"),
    ("name: a\nat: [0, .nan, 1]\n", ":2: at[1]: Input should be a finite number"),
    ("name: a\nframes: sometimes\n", ":2: frames: Value error, frames must be 'all', 'last'"),
    ("name: a\nitems:\n  - {colour: [1, 0, 0]}\n", ":3: items[0].colour: unknown key 'colour'; valid keys: color, cameras"),
    ("items: []\n", ":1: (top level): missing required key 'name'"),
])
def test_errors_name_file_line_and_location(tmp_path, body, expected):
    p = tmp_path / "f.yaml"
    p.write_text(body)
    with pytest.raises(SpecError) as info:
        load_model(p, Outer, what="test file")
    text = str(info.value).replace("Value error, ", "")
    assert text.startswith(str(p) + expected.replace("Value error, ", "")), text


def test_frames_forms(tmp_path):
    for value, expected in [("all", "all"), ("[0, -1]", [0, -1]), ("{count: 4}", 4)]:
        p = tmp_path / "f.yaml"
        p.write_text(f"name: a\nframes: {value}\n")
        got = load_model(p, Outer)[0].frames
        assert (got if isinstance(got, (str, list)) else got.count) == expected


def test_file_problems(tmp_path):
    with pytest.raises(MissingFileError, match="nope.yaml: no such render job"):
        read_yaml(tmp_path / "nope.yaml", what="render job")
    with pytest.raises(SpecError, match="is empty"):
        (tmp_path / "e.yaml").write_text("# nothing\n")
        read_yaml(tmp_path / "e.yaml")
    with pytest.raises(SpecError, match=r"l\.yaml: a test file must be a mapping of keys, got list"):
        (tmp_path / "l.yaml").write_text("- a\n- b\n")
        load_model(tmp_path / "l.yaml", Outer, what="test file")
    with pytest.raises(SpecError, match=r"t\.yaml:2: invalid YAML"):
        (tmp_path / "t.yaml").write_text("name: a\n  bad: [\n")
        read_yaml(tmp_path / "t.yaml")
    (tmp_path / "py.yaml").write_text("name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(SpecError, match="unsupported YAML tag '!!python/object/apply:os.system'"):
        read_yaml(tmp_path / "py.yaml")


def test_validate_a_part_at_a_location(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("top:\n  section:\n    name: 3\n    color: [0, 0]\n")
    doc = read_yaml(p)

    class Part(BaseModel):
        name: str
        color: Color

    with pytest.raises(SpecError) as info:
        doc.validate(Part, doc.data["top"]["section"], at=("top", "section"))
    assert str(info.value).startswith(f"{p}:3: top.section.name: Input should be a valid string")
    assert "top.section.color" in str(info.value)


# --------------------------------------------------------------------------- hostile YAML
def _bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text, match", [
    (_bomb(), r":\d+: invalid YAML: its aliases expand to more than 1,000,000 values"),
    ("a: &x [1, *x]\n", r":1: invalid YAML: a recursive anchor"),
    ("a: " + "[" * 100 + "]" * 100 + "\n", r"nested more than 64 levels deep"),
    ("a: " + "[" * 2000 + "]" * 2000 + "\n", r"nested more than 64 levels deep"),
    ("name: !!binary aGVsbG8=\n", r":1: unsupported YAML tag '!!binary'"),
    ("name: !!python/object:os.system {}\n", r":1: unsupported YAML tag"),
    ("s: !!set {a, b}\n", r"unsupported YAML tag '!!set'"),
])
def test_hostile_yaml_is_one_clear_error(tmp_path, text, match):
    p = tmp_path / "h.yaml"
    p.write_text(text)
    with pytest.raises(SpecError, match=match) as info:
        read_yaml(p)
    assert str(info.value).startswith(str(p))


def test_dates_stay_text_and_a_bom_is_fine(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_bytes("\ufeffname: a\nmetadata: {installed: 2024-05-01}\n".encode("utf-8"))
    assert read_yaml(p).data == {"name": "a", "metadata": {"installed": "2024-05-01"}}
    merged = tmp_path / "m.yaml"
    merged.write_text("base: &b {x: 1}\nitem: {<<: *b, y: 2}\n")
    assert read_yaml(merged).data["item"] == {"x": 1, "y": 2}
