"""Per-asset colours of a frame (twin3d.colors.asset_colors): the rules every backend shares."""

from __future__ import annotations

import numpy as np
import pytest
from export_support import z_up_scene

from twin3d.colors import asset_colors, color_modes, label_colors, map_values, resolve_color_mode
from twin3d.errors import InputError


def test_modes_and_defaults():
    scene = z_up_scene()
    assert color_modes(scene) == ["risk", "temperature", "labels", "material"]
    assert resolve_color_mode(scene, None) == "risk"  # the scene's color_by
    assert resolve_color_mode(scene, "") == "material"
    with pytest.raises(InputError, match="cannot color by 'x'.*valid color modes"):
        resolve_color_mode(scene, "x")


def test_field_label_part_and_explicit_colours():
    scene = z_up_scene()
    busy = asset_colors(scene, "risk", 1)
    assert "hidden" not in busy
    pump = busy["line/pump"]
    assert pump.association == "constant" and pump.source == "risk"
    assert np.allclose(pump.rgb, map_values(np.array([0.9]), "risk", (0.0, 1.0))[0])
    assert busy["line/tower"].source == "material" and np.allclose(busy["line/tower"].rgb, 0.8)
    assert busy["guard"].alpha == pytest.approx(0.4)
    temp = asset_colors(scene, "temperature", 2)["heater"]
    assert temp.association == "point" and temp.rgb.shape == (scene.get("heater").n_points, 3)
    parts = asset_colors(scene, "material", 0)["line/pump"]
    assert parts.association == "cell" and parts.source == "parts"
    labels = asset_colors(scene, "labels", 0)
    names = sorted({"tower", "pump", "heater", "guard"})
    assert np.allclose(labels["line/pump"].rgb, label_colors(len(names))[names.index("pump")])
    # a NaN vertex keeps the base colour; explicit displayColor is the base appearance
    heater = scene.get("heater")
    heater.fields["temperature"].values[0, 0] = np.nan
    heater.mesh.point_data["displayColor"] = np.tile(np.float32([0, 1, 0]), (heater.n_points, 1))
    c = asset_colors(scene, "temperature", 0)["heater"]
    assert np.allclose(c.rgb[0], (0, 1, 0)) and not np.allclose(c.rgb[1], (0, 1, 0))
    assert asset_colors(scene, "material", 0)["heater"].source == "displayColor"
