"""Helpers shared by the export tests: small scenes with known answers, the Khronos
glTF-Validator, and reading glTF accessors with pygltflib (an independent reader)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv

from twin3d import Asset, Field, Material, Part, Scene, Transform

REPO = Path(__file__).resolve().parents[1]
VALIDATOR_SCRIPT = REPO / ".ci" / "validate_gltf.js"


def box(x: float, y: float, z: float) -> pv.PolyData:
    """A closed box from (0, 0, 0) to (x, y, z), 12 triangles."""
    return pv.Box(bounds=(0, x, 0, y, 0, z)).triangulate().clean()


def z_up_scene(frames: int = 3) -> Scene:
    """Z-up, metres: a 0.5 x 0.5 x 3 m tower, a two-part pump with an animated risk, a
    heater with an animated vertex temperature, a half-transparent guard and a hidden asset.

    Risk of the pump over the frames: 0.01, 0.9, 0.02 (calm, busy, calm).
    """
    times = np.arange(frames, dtype=float)
    scene = Scene("cell", units="m", up_axis="Z")
    line = scene.group("line")
    scene.add(Asset("tower", mesh=box(0.5, 0.5, 3.0), transform=Transform(translate=(2, 0, 0)),
                    material=Material("steel", base_color=(0.8, 0.8, 0.8), metallic=0.9, roughness=0.3),
                    asset_type="tower"), parent=line)
    pump_mesh = box(1.0, 1.0, 1.0)
    pump_mesh.cell_data["part_id"] = np.array([0] * 6 + [1] * 6, dtype=np.int32)
    pump = scene.add(Asset("pump", mesh=pump_mesh, transform=Transform(translate=(0, 2, 0), rotate=(0, 0, 90)),
                           parts=[Part("body", (0.9, 0.1, 0.1)), Part("lid", (0.1, 0.1, 0.9))],
                           asset_type="pump", semantic_label="pump"), parent=line)
    risk = np.array([0.01, 0.9, 0.02] + [0.02] * (frames - 3))[:frames]
    pump.set_field(Field("risk", risk, association="asset", times=times))
    heater_mesh = pv.Plane(i_size=1, j_size=1, i_resolution=4, j_resolution=4).triangulate()
    heater = scene.add(Asset("heater", mesh=heater_mesh, transform=Transform(translate=(0, -2, 1)),
                             asset_type="heater"))
    temps = np.stack([heater_mesh.points[:, 0] * (k + 1) * 10 + 20 for k in range(frames)]).astype(np.float32)
    heater.set_field(Field("temperature", temps, association="vertex", times=times, unit="degC"))
    scene.add(Asset("guard", mesh=box(1, 0.1, 1), transform=Transform(translate=(-3, 0, 0)),
                    material=Material("glass", base_color=(0.2, 0.6, 0.9), opacity=0.4), asset_type="guard"))
    scene.add(Asset("hidden", mesh=box(1, 1, 1), transform=Transform(translate=(50, 50, 50)), visible=False))
    scene.metadata["color_by"] = "risk"
    return scene


def mm_y_up_scene() -> Scene:
    """Y-up, millimetres: a 100 x 200 x 300 mm box (200 mm tall along Y) at x = 1000 mm."""
    scene = Scene("bench", units="mm", up_axis="Y")
    scene.add(Asset("block", mesh=box(100, 200, 300), transform=Transform(translate=(1000, 0, 0)),
                    material=Material("blue", base_color=(0.1, 0.2, 0.8))))
    return scene


def visible_bounds(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """World bounds of the visible meshes (what exporters write), computed from the points."""
    pts = [a.mesh.points @ m[:3, :3].T + m[:3, 3] for _, a, m, vis in scene.walk_world() if vis and a.mesh is not None]
    pts = np.concatenate(pts)
    return pts.min(0), pts.max(0)


def linear_to_srgb(c) -> np.ndarray:
    """glTF's linear colour values back to display values (the sRGB transfer function)."""
    c = np.clip(np.asarray(c, dtype=float), 0, 1)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


def red_ish(rgb) -> bool:
    r, g, b = np.asarray(rgb, float)[:3]
    return r > 0.5 and r > 2 * g and r > 2 * b


def green_ish(rgb) -> bool:
    r, g, b = np.asarray(rgb, float)[:3]
    return g > 0.45 and g > 1.5 * r and g > 1.5 * b


# --------------------------------------------------------------------------- glTF
def accessor_array(gltf, index: int, blob: bytes) -> np.ndarray:
    """The data of accessor ``index`` (no byteStride, as twin3d writes them)."""
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    dtype = {5126: np.float32, 5125: np.uint32, 5123: np.uint16, 5121: np.uint8}[acc.componentType]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[acc.type]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    data = np.frombuffer(blob, dtype=dtype, count=acc.count * width, offset=start)
    return data.reshape(acc.count, width) if width > 1 else data


def load_gltf(path: Path):
    """``(gltf, blob)`` of a .glb or .gltf (+ its .bin) read with pygltflib."""
    import pygltflib

    gltf = pygltflib.GLTF2().load(str(path))
    if path.suffix == ".glb":
        blob = gltf.binary_blob()
    else:
        blob = (path.parent / gltf.buffers[0].uri).read_bytes()
    return gltf, blob


def validator_available() -> tuple[str, str]:
    """``(node, package)`` of the Khronos glTF-Validator; skips the test when absent."""
    node = shutil.which("node")
    pkg = os.environ.get("TWIN3D_GLTF_VALIDATOR") or str(REPO / ".ci" / "node_modules" / "gltf-validator")
    if node is None:
        pytest.skip("node is not installed: the Khronos glTF-Validator cannot run")
    if not Path(pkg).exists():
        pytest.skip(f"the Khronos glTF-Validator is not installed at {pkg} "
                    "(run `npm ci --prefix .ci`, or set TWIN3D_GLTF_VALIDATOR to the package folder)")
    return node, pkg


def validate_gltf(*paths: Path) -> list[dict]:
    """Validator reports (one per file): ``numErrors``, ``numWarnings``, ``messages``, ``info``."""
    node, pkg = validator_available()
    env = dict(os.environ, TWIN3D_GLTF_VALIDATOR=pkg)
    res = subprocess.run([node, str(VALIDATOR_SCRIPT), *map(str, paths)], capture_output=True, text=True,
                         env=env, timeout=120)
    reports = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert len(reports) == len(paths), res.stdout + res.stderr
    return reports


def assert_valid_gltf(*paths: Path) -> list[dict]:
    reports = validate_gltf(*paths)
    for r in reports:
        errors = [m for m in r.get("messages", []) if m.get("severity") == 0]
        assert r["numErrors"] == 0, (r["file"], errors[:5], r.get("error"))
    return reports
