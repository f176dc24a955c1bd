"""The interactive viewer in a real window (X display, or Xvfb started here), driven through VTK events.

``twin3d view`` without a display is tested in test_cli_render.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import plain_factory_spec

from twin3d.scene import Field
from twin3d.spec import build_scene

pytestmark = pytest.mark.viewer
W, H = 640, 480
T = 5


@pytest.fixture(scope="module")
def display():
    """An X display: $DISPLAY if set, else a private Xvfb server (skip if neither exists)."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("no X display: DISPLAY is unset and Xvfb is not installed (apt-get install xvfb)")
    r, w = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(w), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    try:
        with os.fdopen(r) as f:
            number = f.readline().strip()
        if not number:
            pytest.skip("Xvfb did not start")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DISPLAY", f":{number}")
            yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def plain_spec(factory_scene_path, tmp_path_factory):
    return plain_factory_spec(factory_scene_path, tmp_path_factory.mktemp("spec"))


def _animated(spec: Path):
    """Factory line with animated risk, a motor's sensor series, a tank's volume and a thermal field."""
    sc = build_scene(spec)
    times = np.arange(T) * 60.0
    for k, a in enumerate(sc.assets()):
        values = np.linspace(0.05, 0.9, T) if a.name == "cnc_mill_03" else np.full(T, 0.01 * (k % 5))
        a.set_field(Field("risk", values, association="asset", times=times, unit="1"))
    motor = sc.get("pump_motor_01")
    motor.set_sensor("torque", np.linspace(30.0, 50.0, T), times, unit="Nm")
    tank = sc.get("coolant_tank_01")
    tank.metadata["volume_ml"] = 7630000.0
    temps = np.linspace(20.0, 80.0, tank.n_points, dtype=np.float32)
    tank.set_field(Field("temperature", np.stack([temps + 5 * k for k in range(T)]), association="vertex",
                         times=times, unit="degC"))
    return sc


def _click(viewer, x: float, y: float) -> None:
    iren = viewer.plotter.iren.interactor
    iren.SetEventPosition(int(round(x)), int(round(y)))
    iren.InvokeEvent("LeftButtonPressEvent")
    iren.InvokeEvent("LeftButtonReleaseEvent")


def _key(viewer, keysym: str) -> None:
    iren = viewer.plotter.iren.interactor
    iren.SetKeySym(keysym)
    iren.InvokeEvent("KeyPressEvent")


def _red(img: np.ndarray) -> int:
    return int(((img[..., 0] > 110) & (img[..., 1] < 45) & (img[..., 2] < 45)).sum())


def test_viewer_driven_through_the_interactor(display, plain_spec, tmp_path):
    """Runs :func:`drive_viewer` in a fresh interpreter: VTK keeps the OpenGL backend (X window or
    off-screen EGL) it chose first in a process, and other tests here render off-screen."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_viewer; "
            f"test_viewer.drive_viewer({str(plain_spec)!r}, {str(tmp_path)!r})")
    env = {**os.environ, "DISPLAY": display, "TWIN3D_NO_PROGRESS": "1"}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"viewer session failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}"
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["window_class"] == "vtkXOpenGLRenderWindow"
    assert state["color_mode"] == "material" and state["groups"]["utilities"]["opacity"] == pytest.approx(0.7)
    assert Path(state["last_screenshot"]).is_file()


def drive_viewer(spec: str, out: str) -> None:
    """The viewer session: a real window, driven only through VTK interactor and widget events."""
    import imageio.v3 as iio

    from twin3d.render.viewer import Viewer

    tmp_path = Path(out)
    viewer = Viewer(_animated(Path(spec)), size=(W, H), screenshot_dir=tmp_path / "shots")
    try:
        viewer.open()
        assert viewer.plotter.ren_win.GetClassName() == "vtkXOpenGLRenderWindow"  # a real X window
        st = viewer.state
        assert st["window_open"] and st["n_frames"] == T and st["color_mode"] == "risk"
        assert st["color_modes"] == ["risk", "temperature", "labels", "material"]
        assert st["legend"]["title"] == "Failure risk"

        # click a machine: name, type and its current risk
        mill = viewer.geometry.index["line/cnc_mill_03"]
        _click(viewer, *viewer.renderer.display_position(mill))
        st = viewer.state
        assert st["selected"] == "line/cnc_mill_03"
        assert st["info"]["type"] == "cnc_mill" and st["info"]["group"] == "line"
        assert st["info"]["fields"]["risk"]["value"] == pytest.approx(0.05)
        # a click on the empty sky clears the selection
        _click(viewer, W * 0.6, H - 60)
        assert viewer.state["selected"] is None
        # the motor shows its sensor reading, the tank its volume and temperature
        _click(viewer, *viewer.renderer.display_position(viewer.geometry.index["utilities/pump_motor_01"]))
        assert viewer.state["info"]["sensors"]["torque"]["value"] == pytest.approx(30.0)
        _click(viewer, *viewer.renderer.display_position(viewer.geometry.index["utilities/coolant_tank_01"]))
        info = viewer.state["info"]
        assert info["volume_ml"] == pytest.approx(7630000.0)
        assert info["fields"]["temperature"]["min"] == pytest.approx(20.0, abs=1e-3)
        _click(viewer, *viewer.renderer.display_position(mill))
        first = viewer.screenshot(tmp_path / "frame0.png")

        # the time slider, moved through its widget representation and interaction event
        slider = viewer._slider
        slider.GetRepresentation().SetValue(3)
        slider.InvokeEvent("InteractionEvent")
        st = viewer.state
        assert st["frame"] == 3 and st["time_s"] == pytest.approx(180.0)
        assert st["info"]["fields"]["risk"]["value"] == pytest.approx(np.linspace(0.05, 0.9, T)[3])
        # play: the timer advances the frame; space pauses
        _key(viewer, "space")
        assert viewer.state["playing"]
        viewer.plotter.iren.interactor.InvokeEvent("TimerEvent")
        assert viewer.state["frame"] == 4
        viewer.plotter.iren.interactor.InvokeEvent("TimerEvent")
        assert viewer.state["frame"] == 0  # playback loops
        _key(viewer, "space")
        assert not viewer.state["playing"]
        _key(viewer, "Left")
        assert viewer.state["frame"] == 0
        for _ in range(4):
            _key(viewer, "Right")
        last = viewer.screenshot(tmp_path / "frame4.png")
        assert viewer.state["frame"] == 4
        img0, img4 = iio.imread(first), iio.imread(last)
        assert img0.shape == (H, W, 3)
        assert _red(img4) > _red(img0) + 30  # the selected mill turned red

        # color modes: key 'm' cycles, the radio button selects directly
        _key(viewer, "m")
        assert viewer.state["color_mode"] == "temperature"
        assert viewer.state["legend"]["title"].startswith("Temperature")
        _key(viewer, "m")
        assert viewer.state["color_mode"] == "labels" and viewer.state["legend"] is None
        labels = np.asarray(viewer.renderer.image())
        button = viewer._mode_buttons["material"]
        button.GetRepresentation().SetState(1)
        button.InvokeEvent("StateChangedEvent")
        assert viewer.state["color_mode"] == "material"
        material = np.asarray(viewer.renderer.image())
        assert np.abs(labels.astype(int) - material).mean() > 2
        robots_orange = (material[..., 0] > 180) & (material[..., 1] > 60) & (material[..., 1] < 150) & \
            (material[..., 2] < 80)
        assert robots_orange.sum() > 20  # material mode shows the robots' paint

        # groups: 'x' hides the selected group, its checkbox shows it again; '[' lowers the opacity
        assert viewer.state["active_group"] == "utilities"
        shown = np.asarray(viewer.renderer.image())
        _key(viewer, "x")
        assert viewer.state["groups"]["utilities"]["visible"] is False
        hidden = np.asarray(viewer.renderer.image())
        assert np.abs(shown.astype(int) - hidden).mean() > 1
        box = viewer._group_buttons["utilities"]
        box.GetRepresentation().SetState(1)
        box.InvokeEvent("StateChangedEvent")
        assert viewer.state["groups"]["utilities"]["visible"] is True
        for _ in range(3):
            _key(viewer, "bracketleft")
        assert viewer.state["groups"]["utilities"]["opacity"] == pytest.approx(0.7)
        _key(viewer, "g")
        assert viewer.state["active_group"] == "line"

        # the screenshot key writes a PNG of the window
        _key(viewer, "k")
        shot = viewer.state["last_screenshot"]
        assert shot and shot.startswith(str(tmp_path / "shots"))
        assert iio.imread(shot).shape == (H, W, 3)
        _key(viewer, "h")  # help overlay on
        state = dict(viewer.state, window_class=viewer.plotter.ren_win.GetClassName())
        assert viewer.on_screen
        (tmp_path / "state.json").write_text(json.dumps(state))  # the state is plain JSON
    finally:
        viewer.close()


def test_cli_view_screenshot(display, tmp_path, plain_spec):
    """``twin3d view --screenshot`` in its own process (so VTK opens an X window, not EGL)."""
    import imageio.v3 as iio

    out = tmp_path / "view.png"
    env = {**os.environ, "DISPLAY": display, "TWIN3D_NO_PROGRESS": "1"}
    res = subprocess.run([sys.executable, "-m", "twin3d.cli", "view", str(plain_spec), "--size", "480x320",
                          "--screenshot", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"wrote {out}" in res.stdout
    img = iio.imread(out)
    assert img.shape == (320, 480, 3) and img.std() > 20
