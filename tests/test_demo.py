"""The demo job, end to end (what `make demo` runs), without the video."""

import numpy as np

from conftest import image_stats


def test_demo_writes_valid_usd_and_nonblank_pngs(tmp_path):
    import imageio.v3 as iio

    from twin3d.demo import DEMO_SCENES, run_demo
    from twin3d.usd import read_usd, validate_usd

    messages = []
    written = run_demo(tmp_path, quick=True, log=messages.append)
    names = {p.name for p in written}
    for spec, _ in DEMO_SCENES:
        stem = spec.removesuffix(".yaml")
        assert {f"{stem}.usdc", f"{stem}.png"} <= names
        assert validate_usd(tmp_path / f"{stem}.usdc") == []
        stats = image_stats(iio.imread(tmp_path / f"{stem}.png"))
        assert stats["std"] > 15 and stats["n_colors"] > 50, stem
    factory = read_usd(tmp_path / "factory_line.usdc")
    risk = [a.fields["risk"] for a in factory.assets() if "risk" in a.fields]
    assert len(risk) >= 8 and all(f.animated and np.all((f.values >= 0) & (f.values <= 1)) for f in risk)
    motor = read_usd(tmp_path / "motor_thermal.usdc").get("drive_motor")
    temp = motor.fields["temperature"]
    assert temp.association == "vertex" and temp.unit == "degC"
    assert temp.values[-1].mean() > temp.values[0].mean(), "the motor heats up"
    organs = read_usd(tmp_path / "anatomy_phantom.usdc")
    assert organs.units == "mm"
    assert {a.semantic_label for a in organs.assets()} >= {"liver", "spleen", "kidney_left", "kidney_right", "aorta"}
    assert any("mean Dice" in m for m in messages)
