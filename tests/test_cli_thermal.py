"""``twin3d thermal train | eval`` (twin3d/cli/thermal.py)."""

from __future__ import annotations

import numpy as np

from twin3d.predictors.thermal import pretrained_model_path


def test_cli_train_and_eval(cli, tmp_path):
    model = tmp_path / "rod.pt"
    res = cli("thermal", "train", "--problem", "rod", "--out", str(model),
                              "--adam-steps", "20", "--lbfgs-steps", "250")
    assert res.exit_code == 0, res.output
    assert "relative L2 error" in res.stdout and "analytic" in res.stdout and "trained in" in res.stdout
    err = float(res.stdout.split("relative L2 error ")[1].split()[0])
    assert err < 1e-3
    pts = tmp_path / "pts.csv"
    pts.write_text("x,t\n0.5,0.5\n0.25,1.0\n0.0,0.3\n")
    res = cli("thermal", "eval", str(model), "--points", str(pts))
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0] == "x,t,temperature_degC"
    vals = np.array([[float(v) for v in ln.split(",")] for ln in lines[1:]])
    exact = np.exp(-0.4 * np.pi**2 * vals[:, 1]) * np.sin(np.pi * vals[:, 0])
    assert np.allclose(vals[:, 2], exact, atol=2e-3)
    assert "temperature [degC]" in res.stderr
    # times given separately, written to .npy
    npy = tmp_path / "pts.npy"
    np.save(npy, np.array([[0.1], [0.9]]))
    out = tmp_path / "vals.npy"
    res = cli("thermal", "eval", str(model), "--points", str(npy), "--times", "0,1", "--out", str(out))
    assert res.exit_code == 0, res.output
    table = np.load(out)
    assert table.shape == (4, 3) and np.allclose(table[:2, 2], np.sin(np.pi * np.array([0.1, 0.9])), atol=1e-6)


def test_cli_errors_are_one_line_exit_2(cli, tmp_path):
    cases = [
        (["thermal", "train", "--problem", "sphere", "--out", str(tmp_path / "a.pt")], "sphere"),
        (["thermal", "train", "--problem", "rod", "--out", str(tmp_path / "a.npz")], "'.pt'"),
        (["thermal", "eval", str(tmp_path / "missing.pt"), "--points", str(tmp_path / "p.csv")], "no such thermal model file"),
        (["thermal", "train", "--problem", "rod", "--backend", "jax", "--out", str(tmp_path / "a.pt")], "jax"),
    ]
    for args, needle in cases:
        res = cli(*args)
        assert res.exit_code == 2, (args, res.output)
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("twin3d: error:") and needle in lines[0], res.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"geometry": {"kind": "rod", "length": 1}, "material": {"diffusivity": -1}, "t_end": 1,'
                   ' "initial": {"kind": "constant", "temperature": 0}}')
    res = cli("thermal", "train", "--problem", str(bad), "--out", str(tmp_path / "b.pt"))
    assert res.exit_code == 2 and "diffusivity must be > 0" in res.stderr
    # outside points fail cleanly, nothing is written
    model = pretrained_model_path()
    pts = tmp_path / "far.csv"
    pts.write_text("1.0,0.0,0.1\n")
    out = tmp_path / "far_out.csv"
    res = cli("thermal", "eval", str(model), "--points", str(pts), "--out", str(out))
    assert res.exit_code == 2 and "outside the cylinder domain" in res.stderr
    assert not out.exists() and not list(tmp_path.glob(".far_out*"))
