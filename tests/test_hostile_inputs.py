"""Hostile and broken inputs, command by command (issue 14; ``docs/security.md`` lists the guarantees).

Each case runs the real ``twin3d`` command — in a child process wherever a native
reader, VTK/USD log lines on file descriptor 2 or a signal are involved (so what is
checked is what a user sees), else in process through typer's runner — and asserts: the
exit code, exactly one ``twin3d: error: ...`` line on stderr, no traceback, no file
created or changed where the command writes (no partial output, no leftover
temporary, existing outputs unchanged) and, for confinement cases, that a marker file
outside the allowed folders reaches no output. Fixtures are generated here; no
binary blobs.

Sections: YAML; outputs (all or nothing, confined, read-only commands); render-job
patterns; model files that would run code; interrupted runs; command-line usage; mesh
files; USD inputs; resource budgets and malformed inputs of each command; ablation.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hostile_support import (
    Marker,
    Run,
    assert_refused,
    assert_unchanged,
    run_twin3d,
    snapshot,
)

from twin3d.io.volumes import Volume, write_nifti

GEOMETRY = "name: box\nassets:\n  - {name: box, kind: electric_motor}\n"


def _with_metadata(value: str) -> str:
    """A one-asset spec whose asset metadata is ``value`` (YAML text)."""
    return f"name: box\nassets:\n  - name: box\n    kind: electric_motor\n    metadata: {value}\n"


@pytest.fixture
def work(tmp_path) -> Path:
    """A folder holding the case's inputs and outputs (snapshotted by each case)."""
    (tmp_path / "work").mkdir()
    return tmp_path / "work"


@pytest.fixture
def marker(tmp_path) -> Marker:
    return Marker(tmp_path / "outside")


# --------------------------------------------------------------------------- YAML
def _alias_bomb(levels: int = 9) -> str:
    lines = ["name: bomb", 'a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    for k in range(1, levels):
        lines.append(f"a{k}: &a{k} [" + ",".join([f"*a{k - 1}"] * 9) + "]")
    lines.append(f"assets: [*a{levels - 1}]")
    return "\n".join(lines) + "\n"


YAML_CASES = {
    "alias bomb": (_alias_bomb(), ["aliases expand to more than"]),
    "recursive anchor": ("name: r\na: &a [*a]\nassets: []\n", ["spec.yaml:"]),
    "deep nesting": ("name: d\nmetadata: " + "[" * 10_000 + "]" * 10_000 + "\nassets: []\n", ["spec.yaml:2: invalid YAML: nested more than 64 levels"]),
    "python tag": (_with_metadata("!!python/object/apply:os.system ['touch pwned']"),
                   ["unsupported YAML tag '!!python/object/apply:os.system'"]),
    "binary tag": (_with_metadata("{blob: !!binary aGVsbG8=}"), ["unsupported YAML tag '!!binary'"]),
    "not a mapping": ("- just\n- a list\n", ["spec.yaml"]),
}


@pytest.mark.parametrize("case", sorted(YAML_CASES))
def test_yaml_spec_problems_are_one_located_line(case, work):
    text, needles = YAML_CASES[case]
    spec = work / "spec.yaml"
    spec.write_text(text)
    before = snapshot(work)
    started = time.perf_counter()
    run = run_twin3d("build", spec, "--out", work / "out.usdc", cwd=work)
    assert time.perf_counter() - started < 60, "must fail fast"
    assert_refused(run, str(spec), *needles)
    assert_unchanged(before, work)
    assert not (work / "pwned").exists()


@pytest.mark.parametrize("encoding,needle", [("utf-16", "UTF-8"), ("binary", "UTF-8")])
def test_spec_that_is_not_utf8_text(encoding, needle, work):
    spec = work / "spec.yaml"
    if encoding == "binary":
        spec.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)))
    else:
        spec.write_bytes(GEOMETRY.encode(encoding))
    before = snapshot(work)
    assert_refused(run_twin3d("info", spec, cwd=work), str(spec), needle)
    assert_unchanged(before, work)


def test_yaml_dates_in_metadata_stay_text(work):
    spec = work / "spec.yaml"
    spec.write_text(_with_metadata("{commissioned: 2024-05-01, note: 'ok'}"))
    run = run_twin3d("build", spec, "--out", work / "out.usda", cwd=work)
    assert run.returncode == 0, run
    assert "2024-05-01" in (work / "out.usda").read_text()


def test_render_job_alias_bomb(work):
    job = work / "job.yaml"
    job.write_text(_alias_bomb().replace("name: bomb", "scenes: [x.yaml]\noutput_dir: out"))
    before = snapshot(work)
    assert_refused(run_twin3d("render-job", job, cwd=work), str(job), "aliases expand")
    assert_unchanged(before, work)


# --------------------------------------------------------------------------- outputs
def test_spec_output_outside_its_folder_is_refused(work, tmp_path):
    spec = work / "organs.yaml"
    spec.write_text("name: organs\nunits: mm\nsegmentation:\n  phantom: {seed: 3, spacing_mm: 8}\n"
                    "  labelmap_out: ../escaped/seg.nii.gz\n")
    before = snapshot(tmp_path)
    run = run_twin3d("build", spec, "--out", work / "organs.usdc", cwd=work)
    assert_refused(run, f"{spec}:5: segmentation.labelmap_out", "outside the spec's folder")
    assert_unchanged(before, tmp_path)
    assert not (tmp_path / "escaped").exists()


def test_failing_build_writes_none_of_its_outputs(work):
    spec = work / "organs.yaml"
    spec.write_text("name: organs\nunits: mm\nsegmentation:\n  phantom: {seed: 3, spacing_mm: 8}\n"
                    "  labelmap_out: seg.nii.gz\nappearance:\n  no_such_organ: {opacity: 0.5}\n")
    (work / "organs.usdc").write_bytes(b"previous good output")
    before = snapshot(work)
    assert_refused(run_twin3d("build", spec, "--out", work / "organs.usdc", cwd=work),
                   f"{spec}:7: appearance.no_such_organ")
    assert_unchanged(before, work)


def test_info_is_read_only(work):
    spec = work / "organs.yaml"
    spec.write_text("name: organs\nunits: mm\nsegmentation:\n  phantom: {seed: 3, spacing_mm: 8}\n"
                    "  labelmap_out: seg.nii.gz\n")
    before = snapshot(work)
    run = run_twin3d("info", spec, "--run", cwd=work)
    assert run.returncode == 0, run
    assert_unchanged(before, work)


def test_risk_train_with_an_unwritable_report_keeps_the_previous_model(work):
    data = work / "data.csv"
    assert run_twin3d("risk", "simulate", "--out", data, "--machines", "4", "--steps", "400").returncode == 0
    model = work / "model.skops"
    model.write_bytes(b"the previous model")
    before = snapshot(work)
    run = run_twin3d("risk", "train", data, "--out", model, "--report", "/proc/no/such/report.json",
                     "--folds", "2", cwd=work)
    assert_refused(run, "report.json")
    assert_unchanged(before, work)


# --------------------------------------------------------------------------- render-job patterns
@pytest.mark.parametrize("pattern,needle", [
    (".{scene:.0}./escaped_{camera}_{frame}.png", "takes no format spec"),
    ("{scene.__class__.__name__}/{camera}/{frame}.png", "unknown placeholder(s) ['scene.__class__.__name__']"),
    ("../{scene}_{camera}_{frame}.png", "output_dir"),
    ("/tmp/{scene}/{camera}_{frame}.png", "output_dir"),
])
def test_render_job_outputs_stay_in_output_dir(pattern, needle, work, tmp_path):
    spec = work / "box.yaml"
    spec.write_text(GEOMETRY)
    job = work / "job.yaml"
    job.write_text(f"scenes: [box.yaml]\noutput_dir: out\npattern: '{pattern}'\n")
    before = snapshot(tmp_path)
    assert_refused(run_twin3d("render-job", job, cwd=work), needle)
    assert_unchanged(before, tmp_path)


# --------------------------------------------------------------------------- model files that would run code
def _evil_pickle(touch: Path) -> bytes:
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {touch}",))

    return pickle.dumps({"state": Evil()})


def test_torch_checkpoint_that_would_run_code(work):
    import torch

    touched = work / "pwned"
    evil = work / "evil.pt"
    with open(evil, "wb") as f:  # a real torch checkpoint whose unpickling calls os.system
        torch.save({"weights": torch.zeros(2)}, f)
    evil.write_bytes(_evil_pickle(touched))
    (work / "evil.json").write_text("{}")
    image = work / "ct.nii.gz"
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8), np.int16), np.eye(4)), image)
    before = snapshot(work)
    for args in (("segment", "run", image, "--model", evil, "--out", work / "seg.nii.gz"),
                 ("thermal", "eval", evil, "--points", image)):
        run = run_twin3d(*args, cwd=work)
        assert_refused(run, "evil")
        assert not touched.exists()
    assert_unchanged(before, work)


def test_skops_file_asking_for_os_system(work):
    import zipfile

    touched = work / "pwned"
    evil = work / "evil.skops"
    schema = {"__class__": "system", "__module__": "os", "__loader__": "ObjectNode",
              "content": {"__class__": "str", "__module__": "builtins", "__loader__": "none",
                          "content": f"touch {touched}"}, "protocol": 2, "_skops_version": "0.10"}
    import json

    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("schema.json", json.dumps(schema))
    data = work / "data.csv"
    data.write_text("type,air_temperature_k,process_temperature_k,rotational_speed_rpm,torque_nm,tool_wear_min\n"
                    "L,300,310,1500,40,10\n")
    before = snapshot(work)
    assert_refused(run_twin3d("risk", "predict", evil, data, "--out", work / "scores.csv", cwd=work), "evil.skops")
    assert not touched.exists()
    assert_unchanged(before, work)


def test_pickled_npz_model(work):
    touched = work / "pwned"
    evil = work / "evil.npz"
    np.savez(evil, config=np.array([_EvilNp(touched)], dtype=object))
    points = work / "points.csv"
    points.write_text("x,t\n0.5,1\n")
    before = snapshot(work)
    assert_refused(run_twin3d("thermal", "eval", evil, "--points", points, cwd=work), "evil.npz")
    assert not touched.exists()
    assert_unchanged(before, work)


class _EvilNp:
    def __init__(self, touch: Path):
        self.touch = str(touch)

    def __reduce__(self):
        return (os.system, (f"touch {self.touch}",))


# --------------------------------------------------------------------------- interrupted runs
def test_sigterm_removes_temporaries_one_line_exit_130(work):
    out = work / "sim.csv"
    env = dict(os.environ, TWIN3D_NO_PROGRESS="1")
    proc = subprocess.Popen([sys.executable, "-m", "twin3d", "risk", "simulate", "--out", str(out),
                             "--machines", "50", "--steps", "200000"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(4)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert [ln for ln in err.splitlines() if ln.strip()] == ["twin3d: error: interrupted"]
    assert list(work.iterdir()) == []


def test_temporaries_a_sigkill_left_are_removed_by_the_next_run(work):
    out = work / "box.usda"
    code = ("import sys, time; from twin3d._util import atomic_path\n"
            f"with atomic_path({str(out)!r}) as tmp:\n"
            "    tmp.write_text('partial'); print(tmp, flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    left = Path(proc.stdout.readline().strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert left.exists() and left.name.startswith(".box.") and ".tmp" in left.name
    spec = work / "box.yaml"
    spec.write_text(GEOMETRY)
    assert run_twin3d("build", spec, "--out", out, cwd=work).returncode == 0
    assert not left.exists() and out.is_file()
    assert sorted(p.name for p in work.iterdir()) == ["box.usda", "box.yaml"]


# --------------------------------------------------------------------------- command-line usage
@pytest.mark.parametrize("args,needle", [
    (("risk", "simulate", "--out", "x.csv", "--machines", "1e8"), "Invalid value for '--machines'"),
    (("info", "--no-such-option"), "No such option: --no-such-option"),
    (("info",), "Missing argument"),
])
def test_usage_errors_are_one_line(args, needle, work):
    before = snapshot(work)
    assert_refused(run_twin3d(*args, cwd=work), needle, "--help")
    assert_unchanged(before, work)


# ===========================================================================
# mesh files (STL, PLY, OBJ, glTF/GLB, VTK)
# ===========================================================================
MESHES_POINTS = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], "<f4")
MESHES_INDICES = np.array([0, 1, 2, 2, 1, 3], "<u2")


def _meshes_ply_header(fmt: str, n_vertices: int, n_faces: int, extra: str = "") -> bytes:
    return (f"ply\nformat {fmt} 1.0\n{extra}element vertex {n_vertices}\nproperty float x\nproperty float y\n"
            f"property float z\nelement face {n_faces}\nproperty list uchar int vertex_indices\nend_header\n").encode()


def _meshes_binary_ply(n_claimed: int | None = None) -> bytes:
    faces = b"".join(struct.pack("<B3i", 3, *f) for f in ([0, 1, 2], [2, 1, 3]))
    return _meshes_ply_header("binary_little_endian", n_claimed or 4, 2) + MESHES_POINTS.tobytes() + faces


def _meshes_gltf(uri: str) -> str:
    """A glTF whose positions (4 points, 48 bytes) are the buffer ``uri``; indices embedded."""
    import base64

    indices = "data:application/octet-stream;base64," + base64.b64encode(MESHES_INDICES.tobytes()).decode()
    return json.dumps({
        "asset": {"version": "2.0"}, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "buffers": [{"uri": uri, "byteLength": 48}, {"uri": indices, "byteLength": 12}],
        "bufferViews": [{"buffer": 0, "byteLength": 48}, {"buffer": 1, "byteLength": 12}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 4, "type": "VEC3"},
                      {"bufferView": 1, "componentType": 5123, "count": 6, "type": "SCALAR"}]})


def _meshes_glb() -> bytes:
    doc = json.loads(_meshes_gltf("x"))
    doc["buffers"] = [{"byteLength": 60}]
    doc["bufferViews"][1] = {"buffer": 0, "byteOffset": 48, "byteLength": 12}
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    blob = MESHES_POINTS.tobytes() + MESHES_INDICES.tobytes()
    body = struct.pack("<I4s", len(text), b"JSON") + text + struct.pack("<I4s", len(blob), b"BIN\0") + blob
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


MESHES_OBJ = "v 0 0 0\nv 1 0 0\nv 0 1 0\n"
MESHES_LEGACY_VTK = "# vtk DataFile Version 3.0\nx\nASCII\nDATASET POLYDATA\nPOINTS 3 float\n0 0 0 1 0 0 0 1 0\n"

#: name -> (mesh file name, its content, needles of the error line)
MESHES_CASES = {
    "OBJ face index past the vertices": ("part.obj", MESHES_OBJ + "f 1 2 3\nf 1 2 4\n",
                                         ["part.obj: line 5: face refers to vertex 4, but the file has 3 vertices"]),
    "OBJ without faces": ("part.obj", MESHES_OBJ,
                          ["part.obj: contains no surface geometry (no 'f' face lines)"]),
    "NaN vertex": ("part.obj", "v 0 0 0\nv 1 nan 0\nv 0 1 0\nf 1 2 3\n",
                   ["part.obj: vertex 1 (line 2) has a non-finite coordinate"]),
    "truncated binary PLY": ("part.ply", _meshes_binary_ply()[:-9], ["part.ply", "truncated"]),
    "PLY header claiming 10^9 vertices": ("part.ply", _meshes_binary_ply(10**9),
                                          ["part.ply: PLY header line 3: the header claims 1,000,000,000 'vertex'"]),
    "PLY face index past the vertices": ("part.ply", _meshes_binary_ply()[:-4] + struct.pack("<i", 70000),
                                         ["part.ply: face 1 refers to vertex 70000, but the file has 4 vertices"]),
    "corrupt GLB": ("part.glb", _meshes_glb()[:-20], ["part.glb: the GLB header gives a length of"]),
    "glTF JSON syntax": ("part.gltf", '{"asset": {"version": "2.0"}, "nodes": [}',
                         ["part.gltf: the glTF JSON is invalid at line 1 column 41"]),
    "glTF with a missing buffer": ("part.gltf", _meshes_gltf("part.bin"),
                                   ["part.gltf: glTF buffer 'part.bin': no such file"]),
    "VTK file that crashes VTK's reader": ("part.vtk", MESHES_LEGACY_VTK + "POLYGONS 1 5\n4 0 1 2 99999999\n",
                                           ["part.vtk: the VTK reader crashed (SIGSEGV)"]),
    "binary STL shorter than its count": ("part.stl", b"\0" * 80 + struct.pack("<I", 1000) + b"\0" * 500,
                                          ["part.stl: the header claims 1,000 triangles (50,000 bytes)"]),
}


def _meshes_spec(folder: Path, mesh: str) -> Path:
    spec = folder / "spec.yaml"
    spec.write_text(f"name: hostile\nassets:\n  - {{name: part, mesh: {mesh}}}\n")
    return spec


@pytest.fixture
def meshes_work(tmp_path) -> Path:
    """The case's folder: spec, mesh and an existing output that must stay unchanged."""
    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)
    (work / "out" / "scene.usda").write_text("#usda 1.0\n# an earlier good output\n")
    return work


@pytest.fixture
def meshes_marker(tmp_path) -> Marker:
    return Marker(tmp_path / "outside")


@pytest.mark.parametrize("case", list(MESHES_CASES))
def test_hostile_mesh_file_is_one_clear_error(meshes_work, case):
    name, content, needles = MESHES_CASES[case]
    path = meshes_work / name
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    spec = _meshes_spec(meshes_work, name)
    before = snapshot(meshes_work)
    run = run_twin3d("build", spec, "--out", meshes_work / "out" / "scene.usda")
    assert_refused(run, "spec.yaml:3: assets[0].mesh:", *needles)
    assert_unchanged(before, meshes_work)


def test_huge_sparse_all_zero_stl_is_refused_fast(meshes_work):
    """2 GiB of zero triangles (sparse): no surface geometry, found without reading it all;
    under a small memory budget the triangle count alone refuses it. (The file lies beside
    the watched folder: hashing it for the snapshot would take longer than the command.)"""
    path = meshes_work.parent / "zeros.stl"
    count = (2 * 1024**3 - 84) // 50
    with open(path, "wb") as f:
        f.write(b"\0" * 80 + struct.pack("<I", count))
        f.truncate(2 * 1024**3)
    spec = _meshes_spec(meshes_work, str(path))
    before = snapshot(meshes_work)
    out = meshes_work / "out" / "scene.usda"
    run = run_twin3d("build", spec, "--out", out, "--max-memory", "64G")
    assert_refused(run, "zeros.stl: contains no surface geometry (no triangles, or only degenerate ones)")
    run = run_twin3d("build", spec, "--out", out, "--max-memory", "1G")
    assert_refused(run, "reading", "zeros.stl needs about", "42,949,671 triangles in the header", "--max-memory")
    assert_unchanged(before, meshes_work)


@pytest.mark.parametrize("reference", ["relative", "absolute", "mtllib"])
def test_references_out_of_the_mesh_folder_are_refused(meshes_work, meshes_marker, reference):
    model = meshes_work / "model"
    model.mkdir()
    secret = meshes_marker.path  # 4096 bytes of plausible float32 geometry
    if reference == "mtllib":
        name, needle = "part.obj", "OBJ material library"
        text = f"mtllib {meshes_marker.text_path}\n{MESHES_OBJ}f 1 2 3\n"
    else:
        uri = "../../outside/secret.bin" if reference == "relative" else str(secret)
        name, text, needle = "part.gltf", _meshes_gltf(uri), "glTF buffer"
    (model / name).write_text(text)
    spec = _meshes_spec(meshes_work, f"model/{name}")
    out = meshes_work / "out" / "scene.usda"
    before = snapshot(meshes_work)
    run = run_twin3d("build", spec, "--out", out)
    line = assert_refused(run, f"{name}: {needle}", "outside", "--allow-path")
    assert "secret" in line
    assert_unchanged(before, meshes_work)
    meshes_marker.assert_not_in(meshes_work)
    # the user allows the folder: the same file builds (and, for the glTF, the marker's values are its points)
    run = run_twin3d("build", spec, "--out", out, "--allow-path", meshes_marker.folder)
    assert run.returncode == 0, run
    if reference != "mtllib":
        assert "12345.25" in out.read_text()


def test_valid_ply_that_crashes_vtk_reads(meshes_work):
    """A list-property element before the vertices is valid PLY; VTK 9.7's reader segfaults on it."""
    faces = b"".join(struct.pack("<B3i", 3, *f) for f in ([0, 1, 2], [2, 1, 3]))
    extra = "element material 1\nproperty list uchar int tags\n"
    content = (_meshes_ply_header("binary_little_endian", 4, 2, extra) + struct.pack("<B2i", 2, 7, 8)
               + MESHES_POINTS.tobytes() + faces)
    (meshes_work / "part.ply").write_bytes(content)
    run = run_twin3d("info", _meshes_spec(meshes_work, "part.ply"))
    assert run.returncode == 0 and run.stderr == "", run


# ===========================================================================
# USD inputs
# ===========================================================================
TRI = """    def Mesh "tri"
    {
        point3f[] points = [(0, 0, 0), (1, 0, 0), (0, 1, 0)]
        int[] faceVertexCounts = [3]
        int[] faceVertexIndices = [0, 1, 2]
    }
"""


def _usda(body: str, header: str = "") -> str:
    return "#usda 1.0\n" + (f"(\n{header}\n)\n" if header else "") + body


def _secret_layer(marker: Marker) -> Path:
    """A layer beside the marker whose mesh points are the marker's values."""
    pts = ", ".join(f"({a!r}, {b!r}, {c!r})" for a, b, c in marker.values[:9].reshape(3, 3).tolist())
    path = marker.folder / "secret.usda"
    path.write_text(_usda(f"""def Xform "S"
{{
    def Mesh "m"
    {{
        point3f[] points = [{pts}]
        int[] faceVertexCounts = [3]
        int[] faceVertexIndices = [0, 1, 2]
    }}
}}
""", 'defaultPrim = "S"'))
    return path


def _png(path: Path) -> Path:
    """A 2x2 red PNG (stdlib only)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def _textured(texture: str) -> str:
    return _usda(f"""def Xform "W"
{{
    def Mesh "quad" (prepend apiSchemas = ["MaterialBindingAPI"])
    {{
        point3f[] points = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)]
        int[] faceVertexCounts = [4]
        int[] faceVertexIndices = [0, 1, 2, 3]
        texCoord2f[] primvars:st = [(0, 0), (1, 0), (1, 1), (0, 1)] (interpolation = "vertex")
        rel material:binding = </W/Look>
    }}
    def Material "Look"
    {{
        token outputs:surface.connect = </W/Look/surface.outputs:surface>
        def Shader "surface"
        {{
            uniform token info:id = "UsdPreviewSurface"
            color3f inputs:diffuseColor.connect = </W/Look/tex.outputs:rgb>
            token outputs:surface
        }}
        def Shader "tex"
        {{
            uniform token info:id = "UsdUVTexture"
            asset inputs:file = @{texture}@
            float3 outputs:rgb
        }}
    }}
}}
""")


@pytest.fixture
def usd_work(tmp_path) -> Path:
    (tmp_path / "work").mkdir()
    return tmp_path / "work"


@pytest.fixture
def usd_marker(tmp_path) -> Marker:
    return Marker(tmp_path / "outside")


# --------------------------------------------------------------------------- confinement
def test_usd_absolute_reference_outside_is_refused(usd_work, usd_marker, cli):
    secret = _secret_layer(usd_marker)
    scene = usd_work / "scene.usda"
    scene.write_text(_usda(f'def Xform "World"\n{{\n    def Xform "leak" (prepend references = @{secret}@) {{}}\n'
                           + TRI + "}\n"))
    out = usd_work / "out.usdc"
    before = snapshot(usd_work, usd_marker.folder)
    run = run_twin3d("export", scene, "--out", out, cwd=usd_work)
    assert_refused(run, str(scene), "USD reference", str(secret), "--allow-path")
    assert_unchanged(before, usd_work, usd_marker.folder)
    usd_marker.assert_not_in(usd_work)
    # allowed: the layer is read, its points reach the output (so the marker check above can see them)
    assert cli("export", scene, "--out", out, "--allow-path", usd_marker.folder).exit_code == 0
    with pytest.raises(AssertionError, match="marker content"):
        usd_marker.assert_not_in(out)


@pytest.mark.parametrize("arc", ["sublayer", "payload"])
def test_usd_relative_layer_outside_is_refused(arc, usd_work, usd_marker):
    _secret_layer(usd_marker)
    scene = usd_work / "scene.usda"
    if arc == "sublayer":
        scene.write_text(_usda('def Xform "World"\n{\n' + TRI + "}\n", "subLayers = [@../outside/secret.usda@]"))
    else:
        scene.write_text(_usda('def Xform "World" (prepend payload = @../outside/secret.usda@) {}\n'))
    before = snapshot(usd_work, usd_marker.folder)
    run = run_twin3d("info", scene, cwd=usd_work)
    assert_refused(run, str(scene), f"USD {arc} @../outside/secret.usda@", "outside")
    assert_unchanged(before, usd_work, usd_marker.folder)


def test_usd_mesh_named_by_a_spec_cannot_reach_outside(usd_work, usd_marker):
    _secret_layer(usd_marker)
    (usd_work / "part.usda").write_text(_usda('def Xform "P" (prepend payload = @../outside/secret.usda@) {}\n'))
    spec = usd_work / "line.yaml"
    spec.write_text("name: line\nassets:\n  - {name: part, mesh: part.usda}\n")
    out = usd_work / "line.usdc"
    before = snapshot(usd_work, usd_marker.folder)
    assert_refused(run_twin3d("build", spec, "--out", out, cwd=usd_work), "part.usda", "USD payload", "outside")
    assert_unchanged(before, usd_work, usd_marker.folder)


def test_usd_texture_outside_is_refused(usd_work, usd_marker, cli):
    texture = _png(usd_marker.folder / "secret.png")
    scene = usd_work / "scene.usda"
    scene.write_text(_textured(str(texture)))
    out = usd_work / "out.glb"
    before = snapshot(usd_work, usd_marker.folder)
    assert_refused(run_twin3d("export", scene, "--out", out, cwd=usd_work), "USD texture", str(texture), "outside")
    assert_unchanged(before, usd_work, usd_marker.folder)
    # a texture beside the file is fine, and --allow-path allows the other one
    _png(usd_work / "red.png")
    (usd_work / "near.usda").write_text(_textured("red.png"))
    assert cli("export", usd_work / "near.usda", "--out", out).exit_code == 0
    res = cli("export", scene, "--out", out, "--allow-path", usd_marker.folder)
    assert res.exit_code == 0, res


# --------------------------------------------------------------------------- composition errors
def test_usd_missing_sublayer_is_an_error_unless_allowed(usd_work):
    scene = usd_work / "scene.usda"
    scene.write_text(_usda('def Xform "World"\n{\n' + TRI + "}\n", "subLayers = [@nothere.usda@]"))
    before = snapshot(usd_work)
    assert_refused(run_twin3d("info", scene, cwd=usd_work), "1 missing sublayer (nothere.usda)", "--allow-missing")
    assert_unchanged(before, usd_work)
    run = run_twin3d("info", scene, "--json", "--allow-missing", cwd=usd_work)
    assert run.returncode == 0, run
    assert run.stderr.splitlines() == ["twin3d: warning: scene.usda: 1 missing sublayer (nothere.usda)"], run
    assert [a["path"] for a in json.loads(run.stdout)["assets"] if a["triangles"]] == ["World/tri"]


# --------------------------------------------------------------------------- invalid data, broken files
def _usdc_claiming_fields(count: int) -> bytes:
    """A valid one-mesh ``.usdc`` whose FIELDS section claims ``count`` fields (a few bytes
    that make USD allocate ``count`` x 12 B before it notices)."""
    from pxr import Sdf

    layer = Sdf.Layer.CreateAnonymous(".usda")
    layer.ImportFromString(_usda(TRI.replace("\n    ", "\n")))
    with tempfile.TemporaryDirectory() as tmp:
        layer.Export(str(Path(tmp) / "x.usdc"))
        data = bytearray((Path(tmp) / "x.usdc").read_bytes())
    toc = struct.unpack_from("<q", data, 16)[0]
    for i in range(struct.unpack_from("<Q", data, toc)[0]):
        entry = toc + 8 + 32 * i
        if bytes(data[entry:entry + 16]).rstrip(b"\0") == b"FIELDS":
            struct.pack_into("<Q", data, struct.unpack_from("<q", data, entry + 16)[0], count)
            return bytes(data)
    raise AssertionError("no FIELDS section")


BROKEN_USD = {
    "nan point": ("scene.usda", _usda('def Xform "World"\n{\n' + TRI.replace("(1, 0, 0)", "(1, nan, 0)") + "}\n"),
                  ["/World/tri: point 1 is not finite"]),
    "nan transform": ("scene.usda", _usda('def Xform "World"\n{\n    double3 xformOp:translate = (0, inf, 0)\n'
                                          '    uniform token[] xformOpOrder = ["xformOp:translate"]\n' + TRI + "}\n"),
                      ["/World: its transform has values that are not finite"]),
    "non-JSON twin metadata": ("scene.usda", _usda('def Xform "World"\n{\n' + TRI + "}\n",
                                                   'customLayerData = {\n    dictionary twin3d = {\n'
                                                   '        string metadata = "{not json"\n    }\n}'),
                               ["customLayerData twin3d.metadata: not valid JSON"]),
    "endTimeCode 1e13": ("scene.usda", _usda(TRI.replace(
        "int[] faceVertexIndices = [0, 1, 2]",
        "int[] faceVertexIndices = [0, 1, 2]\n        float[] primvars:twin:risk.timeSamples = {0: [0.1], 10: [0.9]}"),
        "startTimeCode = 0\nendTimeCode = 1e13"), ["10,000,000,000,001 frames", "memory budget", "--max-memory"]),
    "usda syntax error": ("scene.usda", _usda('def Xform "World"\n{\n    double x =\n}\n'),
                          ["not a valid USD file: line 4, column 5: Expected }"]),
    "corrupt usdc": ("scene.usdc", b"PXR-USDC" + bytes(range(256)) * 8, ["not a valid USD file"]),
    "usdc claiming 1.3e9 fields": ("scene.usdc", lambda: _usdc_claiming_fields(1_300_000_000),
                                   ["needs more memory than the budget of 4 GiB", "--max-memory"]),
    "only empty meshes": ("scene.usda", _usda(TRI.replace("[(0, 0, 0), (1, 0, 0), (0, 1, 0)]", "[]")),
                          ["every mesh is empty", "/tri"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN_USD))
def test_usd_broken_data_is_one_line(case, usd_work):
    name, content, needles = BROKEN_USD[case]
    scene = usd_work / name
    content = content() if callable(content) else content
    if isinstance(content, bytes):
        scene.write_bytes(content)
    else:
        scene.write_text(content)
    out = usd_work / "out.glb"
    out.write_bytes(b"previous good output")
    before = snapshot(usd_work)
    started = time.perf_counter()
    run = run_twin3d("export", scene, "--out", out, "--max-memory", "4G", cwd=usd_work)
    assert time.perf_counter() - started < 60, "must fail fast"
    assert_refused(run, str(scene), *needles)
    assert_unchanged(before, usd_work)


def test_usd_typeless_world_prim_is_read(usd_work):
    scene = usd_work / "scene.usda"
    scene.write_text(_usda('def "World"\n{\n    def "Geo"\n    {\n' + TRI.replace("\n    ", "\n        ")
                           + "    }\n}\n", 'defaultPrim = "World"'))
    run = run_twin3d("info", scene, "--json", cwd=usd_work)
    assert run.returncode == 0 and not run.stderr.strip(), run
    meshes = {a["path"]: a["triangles"] for a in json.loads(run.stdout)["assets"] if a["triangles"]}
    assert meshes == {"World/Geo/tri": 1}


# ===========================================================================
# resource budgets and malformed inputs of each command
# ===========================================================================
MOTOR = "  - name: m\n    kind: electric_motor\n"


@pytest.fixture
def budgets_work(tmp_path) -> Path:
    """The case's folder, with an existing output every case must leave untouched."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "out.usdc").write_bytes(b"the previous good output")
    return folder


@pytest.fixture
def budgets_run(cli, monkeypatch):
    """Run a command in this process: ``budgets_run(*args, env={...})`` -> a hostile_support ``Run``
    that must fail within ``seconds``."""

    def run(*args, env: dict | None = None, seconds: float = 30.0) -> Run:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        started = time.perf_counter()
        result = cli(*args)
        elapsed = time.perf_counter() - started
        for key in env or {}:
            monkeypatch.delenv(key)
        assert elapsed < seconds, f"took {elapsed:.1f} s: must be refused at once"
        return Run([str(a) for a in args], result.exit_code, result.stdout, result.stderr)

    return run


def _spec(folder: Path, body: str, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(body)
    return path


# --------------------------------------------------------------------------- scene specs
SPEC_CASES = {
    "repeat.count 10^6": (
        "name: s\nassets:\n" + MOTOR + "    repeat: {count: 1000000, offset: [1, 0, 0]}\n",
        ["spec.yaml:5: assets[0].repeat.count", "1,000,000 assets", "limit of 100,000", "TWIN3D_MAX_ASSETS"]),
    "sensor steps 10^7 on 8 assets": (
        "name: s\nassets:\n" + MOTOR + "    repeat: {count: 8, offset: [1, 0, 0]}\n"
        "    sensors: {source: simulator, steps: 10000000}\n",
        ["spec.yaml:6: assets[0].sensors.steps", "80,000,000 steps", "TWIN3D_MAX_STEPS"]),
    "risk.train 10^5 machines x 10^6 steps": (
        "name: s\nassets:\n" + MOTOR + "    sensors: {source: simulator, steps: 20}\n"
        "risk:\n  train: {machines: 100000, steps: 1000000}\n",
        ["spec.yaml:7: risk.train", "needs about 45.5 TiB", "--max-memory", "TWIN3D_MAX_MEMORY"]),
    "thermal frames 1e9": (
        "name: s\nassets:\n" + MOTOR + "thermal:\n  - asset: m\n    problem: rod\n    frames: 1000000000\n",
        ["spec.yaml:8: thermal[0].frames", "1,000,000,000 frames x 296 vertices", "memory budget"]),
    "NaN repeat.offset": (
        "name: s\nassets:\n" + MOTOR + "    repeat: {count: 2, offset: [.nan, 0, 0]}\n",
        ["spec.yaml:5: assets[0].repeat.offset[0]: .nan is not a finite number"]),
    "fps .nan": ("name: s\nfps: .nan\nassets:\n" + MOTOR, ["spec.yaml:2: fps: .nan is not a finite number"]),
    "infinite step_seconds": (
        "name: s\nassets:\n" + MOTOR + "    sensors: {source: simulator, steps: 20, step_seconds: .inf}\n",
        ["spec.yaml:5: assets[0].sensors.step_seconds: .inf is not a finite number"]),
    "length: long": (
        "name: s\nassets:\n  - name: c\n    kind: belt_conveyor\n    params: {length: long}\n",
        ["spec.yaml:5: assets[0].params: length: Input should be a valid number", "got 'long'"]),
    "n_fins 10^6": (
        "name: s\nassets:\n" + MOTOR + "    params: {n_fins: 1000000}\n",
        ["spec.yaml:5: assets[0].params", "n_fins must be in 0..1000"]),
    "phantom seed -1": (
        "name: s\nunits: mm\nsegmentation:\n  phantom: {seed: -1, spacing_mm: 8}\n",
        ["spec.yaml:4: segmentation.phantom.seed", "greater than or equal to 0"]),
    "risk.train seed -1": (
        "name: s\nassets:\n" + MOTOR + "    sensors: {source: simulator, steps: 20}\nrisk:\n  train: {seed: -1}\n",
        ["spec.yaml:7: risk.train.seed", "greater than or equal to 0"]),
}


@pytest.mark.parametrize("case", sorted(SPEC_CASES))
def test_spec_requests_beyond_the_budgets(case, budgets_work, budgets_run):
    text, needles = SPEC_CASES[case]
    spec = _spec(budgets_work, text)
    before = snapshot(budgets_work)
    run = budgets_run("build", spec, "--out", budgets_work / "out.usdc")
    assert_refused(run, *needles)
    assert_unchanged(before, budgets_work)


def test_info_refuses_a_million_copies_at_once(budgets_work, budgets_run):
    spec = _spec(budgets_work, SPEC_CASES["repeat.count 10^6"][0])
    before = snapshot(budgets_work)
    assert_refused(budgets_run("info", spec, seconds=10), "1,000,000 assets")
    assert_unchanged(before, budgets_work)


def test_the_budget_knobs_work(budgets_work, budgets_run):
    """A small budget refuses an ordinary request and names the limit: the knobs are read."""
    spec = _spec(budgets_work, "name: s\nassets:\n" + MOTOR + "    repeat: {count: 3, offset: [1, 0, 0]}\n"
                                "    sensors: {source: simulator, steps: 20000}\n")
    before = snapshot(budgets_work)
    out = budgets_work / "out.usdc"
    assert_refused(budgets_run("build", spec, "--out", out, env={"TWIN3D_MAX_ASSETS": "2"}),
                   "3 assets", "limit of 2 assets")
    assert_refused(budgets_run("build", spec, "--out", out, env={"TWIN3D_MAX_STEPS": "500"}),
                   "60,000 steps", "limit of 500 steps")
    assert_refused(budgets_run("build", spec, "--out", out, env={"TWIN3D_MAX_MEMORY": "1M"}),
                   "memory budget of 1 MiB")
    assert_refused(budgets_run("risk", "simulate", "--out", budgets_work / "sim.csv", "--steps", "10000",
                               "--max-memory", "1M"), "needs about 2.29 MiB", "memory budget of 1 MiB")
    assert_unchanged(before, budgets_work)


# --------------------------------------------------------------------------- command options
OPTION_CASES = {
    "risk simulate --steps 1e10": (["risk", "simulate", "--out", "{w}/sim.csv", "--steps", "10000000000"],
                                   ["10,000,000,000 steps", "memory budget"]),
    "risk simulate --machines 1e8": (["risk", "simulate", "--out", "{w}/sim.csv", "--machines", "100000000"],
                                     ["100,000,000 machine(s)", "memory budget"]),
    "risk simulate --seed -1": (["risk", "simulate", "--out", "{w}/sim.csv", "--seed", "-1"],
                                ["--seed must be an integer >= 0"]),
    "risk train --seed -1": (["risk", "train", "{w}/data.csv", "--out", "{w}/m.skops", "--seed", "-1"],
                             ["--seed must be an integer in [0, 2**32 - 1]"]),
    "thermal train --seed -1": (["thermal", "train", "--problem", "rod", "--out", "{w}/rod.pt", "--seed", "-1"],
                                ["--seed must be an integer >= 0"]),
    "thermal train --hidden 100000 x3": (
        ["thermal", "train", "--problem", "rod", "--out", "{w}/rod.pt", "--hidden", "100000,100000,100000"],
        ["training the thermal PINN on 'rod' needs about 16.2 TiB", "layers 2-100000-100000-100000-1"]),
    "segment train --seed -1": (["segment", "train", "--phantom", "1", "--out", "{w}/u.pt", "--seed", "-1"],
                                ["--seed must be an integer >= 0"]),
    "segment evaluate --seeds -1": (["segment", "evaluate", "--seeds", "-1"],
                                    ["seed must be an integer >= 0"]),
    "render --frames 1e9 --turntable": (
        ["render", "{w}/s.yaml", "--out", "{w}/spin.gif", "--frames", "1000000000", "--turntable"],
        ["--frames 1000000000: a video has 1 to 100,000 frames"]),
}


@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_command_options_beyond_the_budgets(case, budgets_work, budgets_run):
    args, needles = OPTION_CASES[case]
    _spec(budgets_work, "name: s\nassets:\n" + MOTOR, "s.yaml")
    (budgets_work / "data.csv").write_text("a,b\n1,0\n")
    before = snapshot(budgets_work)
    run = budgets_run(*[a.format(w=budgets_work) for a in args])
    assert_refused(run, *needles)
    assert_unchanged(before, budgets_work)


# --------------------------------------------------------------------------- thermal inputs
def _npy_header_only(path: Path, shape: tuple) -> None:
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": shape})
        fh.write(b"\0" * 64)


POINTS_CASES = {
    "utf-16 csv": (lambda p: p.write_bytes("x,y,z\n0,0,0\n".encode("utf-16")), "points.csv",
                   ["must be UTF-8 text"]),
    "ragged rows": (lambda p: p.write_text("x,y,z\n0.01,0.01,0.1\n0.02,0.1\n"), "points.csv",
                    ["points.csv:3: 2 value(s), but the first row has 3"]),
    "text cell": (lambda p: p.write_text("0.01,0.01,0.1\n0.02,abc,0.1\n"), "points.csv",
                  ["points.csv:2: 'abc' is not a number"]),
    "string array": (lambda p: np.save(p, np.array(["a", "b"])), "points.npy", ["must hold numbers"]),
    "object array": (lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True), "points.npy",
                     ["not a readable numeric .npy array"]),
    "not an npy file": (lambda p: p.write_text("hello"), "points.npy", ["not a .npy array file"]),
    "header claims 10^11 rows": (lambda p: _npy_header_only(p, (10**11, 3)), "points.npy",
                                 ["shorter than the shape its header declares"]),
}


@pytest.mark.parametrize("case", sorted(POINTS_CASES))
def test_thermal_eval_malformed_points(case, budgets_work, budgets_run, repo):
    write, name, needles = POINTS_CASES[case]
    points = budgets_work / name
    write(points)
    before = snapshot(budgets_work)
    model = repo / "assets" / "thermal" / "motor_housing.pt"
    run = budgets_run("thermal", "eval", model, "--points", points, "--out", budgets_work / "t.csv")
    assert_refused(run, str(points), *needles)
    assert_unchanged(before, budgets_work)


def test_thermal_eval_times_beyond_the_budget(budgets_work, budgets_run, repo):
    points = budgets_work / "points.csv"
    points.write_text("0.01,0.01,0.1\n" * 1000)
    before = snapshot(budgets_work)
    model = repo / "assets" / "thermal" / "motor_housing.pt"
    run = budgets_run("thermal", "eval", model, "--points", points, "--times", ",".join(["1"] * 1000),
                      "--out", budgets_work / "t.csv", "--max-memory", "10M")
    assert_refused(run, "1,000 points x 1,000 --times", "memory budget of 10 MiB")
    assert_unchanged(before, budgets_work)


def _thermal_model_with_config(path: Path, change) -> None:
    """A real (tiny) TensorFlow-format thermal model whose JSON config ``change(config)`` edits."""
    from twin3d.predictors.thermal import ThermalPINN, preset_problem

    model = ThermalPINN(hidden=(4,), adam_steps=1, lbfgs_steps=0, evaluate=False).fit(preset_problem("rod"))
    config = change(model.config())
    arrays = model.network_.arrays()
    payload = {"config": np.array(json.dumps(config))}
    for i in range(len(arrays) // 2):
        payload[f"w{i}"], payload[f"b{i}"] = arrays[2 * i], arrays[2 * i + 1]
    with open(path, "wb") as fh:
        np.savez(fh, **payload)


MODEL_CONFIG_CASES = {
    "config is a list": (lambda c: [1, 2], ["its config is a list"]),
    "layers are text": (lambda c: {**c, "layers": ["a", 2]}, ["invalid model config"]),
    "training is a list": (lambda c: {**c, "training": [1]}, ["'training' and 'report' must be mappings"]),
    "problem is a list": (lambda c: {**c, "problem": [1]}, ["invalid problem in model config"]),
    "version is text": (lambda c: {**c, "version": "x"}, ["model format version 'x' is not an integer"]),
    "n_interior is text": (lambda c: {**c, "training": {**c["training"], "n_interior": "x"}},
                           ["n_interior must be a positive integer"]),
}


@pytest.mark.parametrize("case", sorted(MODEL_CONFIG_CASES))
def test_thermal_eval_malformed_model_config(case, budgets_work, budgets_run):
    change, needles = MODEL_CONFIG_CASES[case]
    model = budgets_work / "rod.npz"
    _thermal_model_with_config(model, change)
    points = budgets_work / "points.csv"
    points.write_text("0.5\n")
    before = snapshot(budgets_work)
    run = budgets_run("thermal", "eval", model, "--points", points, "--out", budgets_work / "t.csv")
    assert_refused(run, str(model), *needles)
    assert_unchanged(before, budgets_work)


PROBLEM_CASES = {
    "deep JSON": ("[" * 100_000 + "]" * 100_000, "problem.json", ["nested too deeply"]),
    "UTF-16 JSON": ('{"geometry": 1}'.encode("utf-16"), "problem.json", ["must be UTF-8 text"]),
    "a list": ("[1, 2]", "problem.json", ["must hold a mapping"]),
    "wrong types": ('{"geometry": {"kind": "rod", "length": "x"}}', "problem.json",
                    ["geometry.rod.length: Input should be a valid number"]),
    "infinite length": ("geometry: {kind: rod, length: .inf}\n", "problem.yaml", ["length must be a finite number"]),
}


@pytest.mark.parametrize("case", sorted(PROBLEM_CASES))
def test_thermal_train_malformed_problem_file(case, budgets_work, budgets_run):
    text, name, needles = PROBLEM_CASES[case]
    problem = budgets_work / name
    problem.write_bytes(text if isinstance(text, bytes) else text.encode())
    before = snapshot(budgets_work)
    run = budgets_run("thermal", "train", "--problem", problem, "--out", budgets_work / "p.pt")
    assert_refused(run, str(problem), *needles)
    assert_unchanged(before, budgets_work)


# --------------------------------------------------------------------------- volumes, label maps, models
def _nifti_header_claiming(path: Path, shape: tuple, *, compress: bool) -> None:
    import nibabel as nib

    img = nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), np.eye(4))
    img.header.set_data_shape(shape)
    raw = img.header.binaryblock + b"\0" * 4 + b"\0" * 64  # header, extension flag, a few voxels
    path.write_bytes(gzip.compress(raw) if compress else raw)


@pytest.mark.parametrize("compress, needles", [
    (True, ["3000x3000x3000 voxels of int16", "needs about 50.3 GiB", "memory budget"]),
    (False, ["declares 3000x3000x3000 voxels", "truncated or corrupt"]),
])
@pytest.mark.parametrize("command", ["surfaces", "segment"])
def test_nifti_header_claiming_3000_cubed_voxels(command, compress, needles, budgets_work, budgets_run, repo):
    nii = budgets_work / ("huge.nii.gz" if compress else "huge.nii")
    _nifti_header_claiming(nii, (3000, 3000, 3000), compress=compress)
    before = snapshot(budgets_work)
    if command == "surfaces":
        run = budgets_run("surfaces", nii, "--out", budgets_work / "out.usdc")
    else:
        run = budgets_run("segment", nii, "--model", repo / "assets" / "models" / "phantom_unet.pt",
                          "--out", budgets_work / "seg.nii.gz")
    assert_refused(run, str(nii), *needles)
    assert_unchanged(before, budgets_work)


def test_label_table_with_an_id_beyond_32_bits(budgets_work, budgets_run):
    import nibabel as nib

    seg = budgets_work / "seg.nii.gz"
    arr = np.zeros((6, 6, 6), np.uint8)
    arr[2:4, 2:4, 2:4] = 1
    nib.save(nib.Nifti1Image(arr, np.eye(4)), str(seg))
    table = budgets_work / "labels.json"
    table.write_text(json.dumps({"1": "liver", str(2**40): "huge"}))
    before = snapshot(budgets_work)
    run = budgets_run("surfaces", seg, "--labels", table, "--out", budgets_work / "out.usdc")
    assert_refused(run, str(table), "label id 1099511627776 is above 4294967295")
    assert_unchanged(before, budgets_work)


def test_segmentation_model_with_huge_channels(budgets_work, budgets_run, repo):
    import torch

    config = json.loads((repo / "assets" / "models" / "phantom_unet.json").read_text())
    weights = budgets_work / "huge_unet.pt"
    torch.save({"x": torch.zeros(1)}, weights)
    config["network"]["channels"] = [100_000] * 4
    config["weights"] = {"file": weights.name, "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}
    (budgets_work / "huge_unet.json").write_text(json.dumps(config))
    ct = budgets_work / "ct.nii.gz"
    _nifti_header_claiming(ct, (4, 4, 4), compress=True)
    before = snapshot(budgets_work)
    run = budgets_run("segment", ct, "--model", weights, "--out", budgets_work / "seg.nii.gz")
    assert_refused(run, "huge_unet.json", "float32 weights for channels [100000, 100000, 100000, 100000]",
                   "memory budget")
    assert_unchanged(before, budgets_work)


def _dicom_slice(path: Path, k: int, series_uid: str) -> None:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID, ds.Modality = series_uid, "CT"
    ds.ImagePositionPatient = [0.0, 0.0, float(2 * k)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [1.0, 1.0]
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.PixelData = (np.full((4, 4), k + 1, np.int16)).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_dicom_series_linking_outside_its_folder(budgets_work, budgets_run, tmp_path):
    """A slice that is a symlink to a file elsewhere is refused, naming it (a marker proves nothing leaks)."""
    marker = Marker(tmp_path / "outside")
    series = budgets_work / "series"
    series.mkdir()
    for k in range(3):
        _dicom_slice(series / f"s{k}.dcm", k, "1.2.3")
    _dicom_slice(marker.folder / "stolen.dcm", 3, "1.2.3")
    (series / "s3.dcm").symlink_to(marker.folder / "stolen.dcm")
    before = snapshot(budgets_work)
    run = budgets_run("surfaces", series, "--out", budgets_work / "out.vtm")
    assert_refused(run, "DICOM file 's3.dcm'", str(marker.folder), "--allow-path")
    assert_unchanged(before, budgets_work)
    marker.assert_not_in(budgets_work)


def test_render_job_manifest_claiming_a_trillion_frames(budgets_work, budgets_run):
    """A manifest whose entry for an unchanged scene claims 10^12 frames is refused before
    any worker starts, and the manifest is left as it was."""
    scene = _spec(budgets_work, "name: s\nassets:\n" + MOTOR, "s.yaml")
    job = budgets_work / "job.yaml"
    job.write_text("scenes: [s.yaml]\nframes: all\nsize: 64x64\noutput_dir: renders\n")
    (budgets_work / "renders").mkdir()
    manifest = budgets_work / "renders" / "manifest.json"
    manifest.write_text(json.dumps({"version": 1, "scenes": {"s": {
        "path": str(scene.resolve()), "sha256": hashlib.sha256(scene.read_bytes()).hexdigest(),
        "n_frames": 10**12, "times": None}}}))
    before = snapshot(budgets_work)
    run = budgets_run("render-job", job)
    assert_refused(run, str(job), "1,000,000,000,000 scene x camera x frame items", "memory budget")
    assert_unchanged(before, budgets_work)


def test_cli_budget_errors_in_a_child_process(budgets_work):
    """The same refusal seen from outside: a real process, one line, exit 2 (no MemoryError traceback)."""
    spec = _spec(budgets_work, SPEC_CASES["risk.train 10^5 machines x 10^6 steps"][0])
    before = snapshot(budgets_work)
    run = run_twin3d("build", spec, "--out", budgets_work / "out.usdc", cwd=budgets_work)
    assert_refused(run, "risk.train", "needs about 45.5 TiB")
    assert_unchanged(before, budgets_work)


# ===========================================================================
# ablation
# ===========================================================================
@pytest.fixture(scope="module")
def ablation_seg(tmp_path_factory):
    """A 'liver' block (builtin label 2) in a 'body' rim (label 1) with a 'portal_vein' (label 9)."""
    shape, h = (25, 25, 19), 2.0
    arr = np.full(shape, 1, dtype=np.uint8)
    arr[2:-2, 2:-2, 2:-2] = 2
    aff = np.diag([h, h, h, 1.0])
    aff[:3, 3] = -(np.array(shape) - 1) / 2.0 * h
    xyz = Volume(arr, aff).index_to_world(np.indices(shape).reshape(3, -1).T)
    arr.reshape(-1)[(xyz[:, 0] - 10.0) ** 2 + xyz[:, 1] ** 2 <= 16.0] = 9
    path = tmp_path_factory.mktemp("ablation_in") / "seg.nii.gz"
    write_nifti(Volume(arr, aff), path)
    return path


@pytest.fixture
def ablation_out(tmp_path):
    """An output folder holding a previous result that a refused run must leave as it was."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "ablation.usdc").write_bytes(b"previous result")
    (out / "report.json").write_text('{"previous": true}')
    return out


CASES = {
    "target_outside_organ": (["--target", "0,0,17"], ["lies outside the liver", "'body' (label 1)", "nearest liver"]),
    "power_out_of_range": (["--target", "-6,0,0", "--power", "1e6"], ["power must be in (0, 250] W"]),
    "time_out_of_range": (["--target", "-6,0,0", "--time", "86400"], ["time must be in [1, 3600] s"]),
    "organ_missing_from_map": (["--target", "-6,0,0", "--organ", "kidney_left"],
                               ["no voxels of organ 'kidney_left'", "organs present"]),
    "vessels_missing_from_map": (["--target", "-6,0,0", "--vessels", "portal_vein,inferior_vena_cava"],
                                 ["no voxels of vessel 'inferior_vena_cava'", "vessels present: ['portal_vein']"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ablation_hostile_input_is_refused(case, ablation_seg, ablation_out, tmp_path):
    extra, needles = CASES[case]
    marker = Marker(tmp_path / "elsewhere")
    args = {"--power": "30", "--time": "60"}
    flat = list(extra)
    for key, value in args.items():
        if key not in flat:
            flat += [key, value]
    before = snapshot(ablation_out, ablation_seg.parent)
    run = run_twin3d("ablate", ablation_seg, *flat, "--out", ablation_out / "ablation.usdc",
                     "--report", ablation_out / "report.json", cwd=tmp_path)
    assert_refused(run, *needles)
    assert_unchanged(before, ablation_out, ablation_seg.parent)
    marker.assert_not_in(ablation_out)
