"""``twin3d segment`` (twin3d/cli/segment.py): run (the default), train, evaluate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from twin3d.io.volumes import read_labelmap, read_volume, write_nifti
from twin3d.phantom import PHANTOM_LABELS, make_phantom
from twin3d.predictors.segmentation import default_phantom_model_path, load_model


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def shipped():
    return load_model(default_phantom_model_path())


@pytest.fixture()
def nifti_pair(tmp_path):
    """A small phantom (6 mm) and its label map as NIfTI files."""
    img, lab, _ = make_phantom(spacing_mm=6.0, seed=101)
    return write_nifti(img, tmp_path / "ct.nii.gz"), write_nifti(lab, tmp_path / "seg_ref.nii.gz")


def test_segment_default_and_explicit_forms(cli, shipped, nifti_pair, tmp_path):
    image_path, ref_path = nifti_pair
    model_path = default_phantom_model_path()
    expected = shipped.predict(read_volume(image_path), device="cpu").array
    for args in (
        [image_path, "--model", model_path, "--out", tmp_path / "a.nii.gz", "--reference", ref_path],
        ["--model", model_path, image_path, "--out", tmp_path / "b.nii.gz"],
        ["run", image_path, "-m", model_path, "-o", tmp_path / "c.nii.gz", "--device", "cpu"],
    ):
        result = cli("segment", *args)
        assert result.exit_code == 0, result.output
        out = Path(args[args.index("--out" if "--out" in args else "-o") + 1])
        seg = read_labelmap(out)
        np.testing.assert_array_equal(seg.array, expected)
        np.testing.assert_allclose(seg.affine, read_volume(image_path).affine, atol=1e-5)
        assert f"wrote {out}" in result.stdout
    result = cli("segment", image_path, "--model", model_path, "--out", tmp_path / "d.nii.gz", "--reference", ref_path)
    assert "Dice against the reference" in result.stdout and "liver" in result.stdout
    help_text = cli("segment", "--help").stdout
    assert "run" in help_text and "train" in help_text and "evaluate" in help_text


def test_segment_errors(cli, nifti_pair, tmp_path):
    image_path, _ = nifti_pair
    model_path = default_phantom_model_path()
    out = tmp_path / "seg.nii.gz"
    result = cli("segment", image_path, "--model", tmp_path / "nope.pt", "--out", out)
    assert result.exit_code == 2 and "nope.json' not found" in result.stderr and not out.exists()
    result = cli("segment", image_path, "--model", model_path, "--out", tmp_path / "seg.png")
    assert result.exit_code == 2 and "NIfTI" in result.stderr
    result = cli("segment", tmp_path / "missing.nii.gz", "--model", model_path, "--out", out)
    assert result.exit_code == 2 and "missing.nii.gz: no such file or folder" in result.stderr
    truncated = tmp_path / "broken.nii.gz"
    truncated.write_bytes(image_path.read_bytes()[:200])
    result = cli("segment", truncated, "--model", model_path, "--out", out)
    assert result.exit_code == 2 and "broken.nii.gz" in result.stderr and not out.exists()
    assert "Traceback" not in result.output
    assert not any(p.name.endswith(".tmp.nii.gz") for p in tmp_path.iterdir())


def test_train_on_files(cli, nifti_pair, tmp_path):
    image_path, ref_path = nifti_pair
    out = tmp_path / "trained.pt"
    result = cli(
        "segment", "train", image_path, "--labels", ref_path, "--out", out,
        "--iterations", "2", "--batch-size", "1", "--device", "cpu", "--no-progress",
        "--validation", f"{image_path}:{ref_path}",
    )
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert model.labels_ == PHANTOM_LABELS  # ids named from the built-in table
    assert "Dice on 1 validation case" in result.stdout and "liver" in result.stdout

    result = cli("segment", "train", image_path, "--out", tmp_path / "x.pt")
    assert result.exit_code == 2 and "--labels" in result.stderr
    result = cli("segment", "train", "--phantom", "1", image_path, "--out", tmp_path / "x.pt")
    assert result.exit_code == 2 and "either --phantom" in result.stderr
    result = cli("segment", "train", "--phantom", "1", "--out", tmp_path / "x.onnx")
    assert result.exit_code == 2 and ".pt or .json" in result.stderr
    result = cli("segment", "train", "--phantom", "1", "--threads", "0", "--out", tmp_path / "x.pt")
    assert result.exit_code == 2 and "--threads must be >= 1" in result.stderr
    assert not (tmp_path / "x.pt").exists()


def test_train_phantom_into_a_folder(cli, tmp_path):
    """--phantom with a folder as --out writes FOLDER/phantom_unet.pt and records the command."""
    folder = tmp_path / "models"
    result = cli(
        "segment", "train", "--phantom", "1", "--n-validation", "0", "--iterations", "1", "--batch-size", "1",
        "--seed", "3", "--out", f"{folder}/", "--device", "cpu", "--no-progress",
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["phantom_unet.json", "phantom_unet.pt"]
    assert load_model(folder / "phantom_unet.json").labels_ == PHANTOM_LABELS
    training = json.loads((folder / "phantom_unet.json").read_text())["training"]
    assert training["command"] == (
        f"twin3d segment train --phantom 1 --validation-phantoms 0 --iterations 1 --batch-size 1 --seed 3 "
        f"--device cpu --out {folder / 'phantom_unet.pt'}"
    )
    assert training["iterations"] == 1 and training["seed"] == 3 and "seeds 1000..1000" in training["data"]


def test_evaluate_the_shipped_model(cli, nifti_pair):
    """One unseen phantom, one timing run: the shipped model's Dice is printed (and high)."""
    image_path, _ = nifti_pair
    result = cli("segment", "evaluate", "--seeds", "7", "--image", image_path, "--repeat", "1", "--device", "cpu",
                 "--threads", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"model {default_phantom_model_path()}, torch threads 1, device cpu"
    assert lines[1].startswith("phantom seed 7 128x104x68: mean Dice ")
    mean = float(re.search(r"mean Dice over 1 unseen phantoms: ([0-9.]+)", result.stdout).group(1))
    assert mean >= 0.85
    assert re.search(rf"{re.escape(str(image_path))} \d+x\d+x\d+: inference median [0-9.]+ s \(.*n=1\)", result.stdout)


def test_evaluate_errors(cli, tmp_path):
    result = cli("segment", "evaluate", "--model", tmp_path / "missing.pt", "--seeds", "7")
    assert result.exit_code == 2 and "missing.json' not found" in result.stderr
    result = cli("segment", "evaluate", "--seeds", "seven")
    assert result.exit_code == 2 and "--seeds 'seven'" in result.stderr
    result = cli("segment", "evaluate", "--repeat", "0")
    assert result.exit_code == 2 and "Traceback" not in result.output
    result = cli("segment", "evaluate", "--seeds", "", "--device", "tpu")
    assert result.exit_code == 2 and "device must be" in result.stderr


def test_a_mismatched_reference_leaves_no_output(cli, nifti_pair, tmp_path):
    image_path, _ = nifti_pair
    _, other, _ = make_phantom(spacing_mm=9.0, seed=5)  # another grid
    ref = write_nifti(other, tmp_path / "other_grid.nii.gz")
    out = tmp_path / "seg.nii.gz"
    out.write_bytes(b"previous output")
    res = cli("segment", image_path, "--model", default_phantom_model_path(), "--out", out, "--reference", ref)
    res.assert_error()
    assert out.read_bytes() == b"previous output"
    assert not any(".tmp" in p.name for p in tmp_path.iterdir())
