"""twin3d.predictors.segmentation: the shipped phantom model, training, inference geometry,
Dice, model files, the phantom model's recipe and evaluation, and the ``segmentation`` spec section.

The ``twin3d segment`` commands are tested in ``test_cli_segment.py``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import require_real_data
import torch

from twin3d.errors import InputError, MissingFileError, ModelFileError, NotFittedError, SpecError, TrainingError
from twin3d.io.volumes import Volume, read_labelmap, read_volume, write_nifti
from twin3d.phantom import PHANTOM_LABELS, make_phantom
from twin3d.predictors.segmentation import (
    PHANTOM_TRAIN_SEEDS,
    PHANTOM_VALIDATION_SEEDS,
    SegmentationModel,
    default_phantom_model_path,
    dice_scores,
    evaluate_model,
    load_model,
    model_paths,
    save_model,
    segment,
    train,
)

UNSEEN_SEEDS = (7, 4242)  # neither training nor validation phantoms
assert not set(UNSEEN_SEEDS) & (set(PHANTOM_TRAIN_SEEDS) | set(PHANTOM_VALIDATION_SEEDS))

TINY = dict(
    channels=(4, 8, 16),
    strides=(2, 2),
    num_res_units=0,
    spacing_mm=(8.0, 8.0, 8.0),
    roi_size=(32, 32, 16),
    iterations=30,
    batch_size=2,
    learning_rate=1e-2,
    seed=0,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ct_dir() -> Path:
    return require_real_data("ct/abdomen_ct_3mm.nii.gz").parent


@pytest.fixture(scope="module")
def shipped():
    return load_model(default_phantom_model_path())


@pytest.fixture(scope="module")
def small_pairs():
    """Two small phantoms at 6 mm (fast) for the tiny training runs."""
    return [make_phantom(spacing_mm=6.0, seed=s)[:2] for s in (101, 102)]


@pytest.fixture(scope="module")
def tiny_model(small_pairs):
    images, labelmaps = zip(*small_pairs)
    return train(images, labelmaps, PHANTOM_LABELS, device="cpu", progress=False, **TINY)


# --------------------------------------------------------------------------- shipped model
def test_shipped_model_segments_unseen_phantom(shipped):
    """The model shipped in assets/models reaches mean Dice >= 0.85 on unseen phantoms."""
    means = []
    for seed in UNSEEN_SEEDS:
        image, truth, names = make_phantom(seed=seed)
        labelmap = segment(image, shipped, device="cpu")
        assert labelmap.array.shape == image.array.shape
        np.testing.assert_array_equal(labelmap.affine, image.affine)
        scores = dice_scores(labelmap, truth, names)
        assert set(scores) == set(PHANTOM_LABELS.values())
        assert min(scores.values()) > 0.6, (seed, scores)
        means.append(np.mean(list(scores.values())))
    assert min(means) >= 0.85, means


def test_shipped_model_files(shipped):
    pt = default_phantom_model_path()
    js = pt.with_suffix(".json")
    assert pt.stat().st_size + js.stat().st_size < 5_000_000  # small enough to ship
    meta = json.loads(js.read_text())
    assert {int(k): v for k, v in meta["labels"].items()} == PHANTOM_LABELS
    assert meta["network"]["name"] == "monai.networks.nets.UNet"
    assert meta["training"]["validation_mean_dice"] >= 0.85  # measured when it was trained
    state = torch.load(pt, weights_only=True, map_location="cpu")
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert shipped.labels_ == PHANTOM_LABELS


def test_shipped_model_on_real_ct_keeps_grid(shipped, ct_dir):
    """Real 3 mm abdominal CT: output on the input grid, the patient's body found."""
    image = read_volume(ct_dir / "abdomen_ct_3mm.nii.gz")
    labelmap = shipped.predict(image, device="cpu")
    assert labelmap.array.shape == image.array.shape == (122, 101, 30)
    np.testing.assert_allclose(labelmap.affine, image.affine)
    inside = image.array > -300  # tissue
    found = labelmap.array > 0
    overlap = 2 * (inside & found).sum() / (inside.sum() + found.sum())
    assert overlap > 0.9, overlap  # the phantom model separates patient from air


# --------------------------------------------------------------------------- training
def test_tiny_training_decreases_loss(tiny_model):
    loss = np.array(tiny_model.loss_history_)
    assert loss.shape == (TINY["iterations"],) and np.all(np.isfinite(loss))
    assert loss[-5:].mean() < 0.8 * loss[:5].mean(), loss
    info = tiny_model.training_info_
    assert info["iterations"] == TINY["iterations"] and info["device"] == "cpu"


def test_training_with_validation_reports_dice(small_pairs):
    images, labelmaps = zip(*small_pairs)
    model = SegmentationModel(PHANTOM_LABELS, **{**TINY, "iterations": 3})
    assert model.fit(images[:1], labelmaps[:1], validation=[small_pairs[1]], device="cpu", progress=False) is model
    assert set(model.validation_dice_) == set(PHANTOM_LABELS.values())
    assert all(0.0 <= v <= 1.0 for v in model.validation_dice_.values())
    assert model.training_info_["validation_cases"] == 1


def test_predict_before_fit():
    with pytest.raises(NotFittedError, match="not trained"):
        SegmentationModel(PHANTOM_LABELS).predict(make_phantom(spacing_mm=8.0, seed=1)[0])


def test_training_bad_inputs(small_pairs):
    (img, lab), (img2, lab2) = small_pairs
    model = SegmentationModel(PHANTOM_LABELS, **{**TINY, "iterations": 1})
    with pytest.raises(InputError, match="not on the same grid"):
        model.fit([img], [Volume(lab.array[:-1], lab.affine)], device="cpu")
    shifted = lab.affine.copy()
    shifted[0, 3] += 5.0
    with pytest.raises(InputError, match="different affines"):
        model.fit([img], [Volume(lab.array, shifted)], device="cpu")
    with pytest.raises(InputError, match="non-integer"):
        model.fit([img], [Volume(lab.array.astype(np.float32) + 0.5, lab.affine)], device="cpu")
    with pytest.raises(InputError, match="not in the label table"):
        model.fit([img], [Volume(np.where(lab.array == 2, 9, lab.array).astype(np.uint8), lab.affine)], device="cpu")
    with pytest.raises(InputError, match="NaN"):
        model.fit([img.with_array(np.where(lab.array == 2, np.nan, img.array))], [lab], device="cpu")
    with pytest.raises(InputError, match="validation label map 0"):  # checked before training
        model.fit([img], [lab], validation=[(img2, Volume(lab2.array.astype(np.float32) + 0.5, lab2.affine))])
    with pytest.raises(InputError, match="2 images but 1 label maps"):
        model.fit([img, img2], [lab], device="cpu")
    with pytest.raises(InputError, match="roi_size"):
        SegmentationModel(PHANTOM_LABELS, **{**TINY, "roi_size": (30, 32, 16)}).fit([img], [lab], device="cpu")
    with pytest.raises(InputError, match="strides"):
        SegmentationModel(PHANTOM_LABELS, **{**TINY, "strides": (2, 2, 2)}).fit([img], [lab], device="cpu")
    with pytest.raises(InputError, match="device"):
        model.fit([img], [lab], device="tpu")


def test_nan_loss_raises_training_error(small_pairs, monkeypatch):
    from monai.losses import DiceCELoss

    def nan_loss(self, input, target):
        return input.sum() * float("nan")

    monkeypatch.setattr(DiceCELoss, "forward", nan_loss)
    (img, lab), _ = small_pairs
    with pytest.raises(TrainingError, match="NaN|nan"):
        SegmentationModel(PHANTOM_LABELS, **{**TINY, "iterations": 2}).fit([img], [lab], device="cpu")


# --------------------------------------------------------------------------- inference geometry
def test_prediction_follows_the_affine(tiny_model, small_pairs):
    """A flipped image (same world data, mirrored affine) gives the flipped label map."""
    image = small_pairs[0][0]
    direct = tiny_model.predict(image, device="cpu")
    flipped = tiny_model.predict(image.flip(0), device="cpu")
    np.testing.assert_allclose(flipped.affine, image.flip(0).affine)
    agree = np.mean(np.flip(flipped.array, 0) == direct.array)
    assert agree > 0.999, agree
    # the same image in LPS coordinates: result in RAS, same labels
    lps = tiny_model.predict(image.to_lps(), device="cpu")
    assert lps.coordinate_system == "RAS"
    assert np.mean(lps.array == direct.array) > 0.999


def test_prediction_on_another_grid(tiny_model):
    """Anisotropic 2x2x5 mm input: output on that grid, labels where the truth is."""
    image, truth, names = make_phantom(spacing_mm=(5.0, 5.0, 7.0), seed=103)
    labelmap = tiny_model.predict(image, device="cpu")
    assert labelmap.array.shape == image.array.shape and labelmap.array.dtype == np.uint8
    scores = dice_scores(labelmap, truth, names)
    assert scores["body"] > 0.8  # even a 30-step model finds the body


def test_segment_rejects_bad_images(tiny_model):
    img = make_phantom(spacing_mm=8.0, seed=1)[0]
    with pytest.raises(InputError, match="NaN"):
        tiny_model.predict(img.with_array(np.full(img.array.shape, np.nan, dtype=np.float32)))
    with pytest.raises(InputError, match="Volume"):
        tiny_model.predict(img.array)
    with pytest.raises(InputError, match="device"):
        tiny_model.predict(img, device="gpu0")


# --------------------------------------------------------------------------- dice
def test_label_table_as_labels(small_pairs):
    """A LabelTable (id -> LabelInfo) names the labels as well as a plain dict."""
    from twin3d.anatomy import builtin_table

    table = {i: builtin_table()[i] for i in PHANTOM_LABELS}
    (img, lab), _ = small_pairs
    model = SegmentationModel(table, **{**TINY, "iterations": 1}).fit([img], [lab], device="cpu")
    assert model.labels_ == PHANTOM_LABELS
    assert set(dice_scores(lab, lab, table).values()) == {1.0}


def test_dice_scores_analytic():
    a = np.zeros((20, 20, 20), np.uint8)
    b = np.zeros_like(a)
    a[2:12, 2:12, 2:12] = 1  # 1000 voxels
    b[4:14, 2:12, 2:12] = 1  # 1000 voxels, 800 shared
    a[15:18, 15:18, 15:18] = 2
    vol = lambda arr: Volume(arr, np.diag([2.0, 2.0, 2.0, 1.0]))  # noqa: E731
    scores = dice_scores(vol(a), vol(b), {1: "liver", 2: "spleen"})
    assert scores["liver"] == pytest.approx(2 * 800 / 2000)
    assert np.isnan(scores["spleen"])  # absent from the reference
    with pytest.raises(InputError, match="same grid"):
        dice_scores(vol(a), Volume(b[:-1], np.eye(4)), {1: "liver"})


# --------------------------------------------------------------------------- model files
def test_save_load_round_trip(tiny_model, small_pairs, tmp_path):
    pt, js = save_model(tiny_model, tmp_path / "tiny.pt")
    assert pt.is_file() and js.is_file() and pt.suffix == ".pt" and js.suffix == ".json"
    meta = json.loads(js.read_text())
    assert meta["network"]["channels"] == list(TINY["channels"])
    assert meta["preprocessing"]["spacing_mm"] == list(TINY["spacing_mm"])
    assert meta["preprocessing"]["hu_window"] == [-250.0, 450.0]
    assert {int(k): v for k, v in meta["labels"].items()} == PHANTOM_LABELS
    assert meta["twin3d_version"] and meta["training"]["iterations"] == TINY["iterations"]
    state = torch.load(pt, weights_only=True)  # plain tensors only
    for k, v in tiny_model.network_.state_dict().items():
        torch.testing.assert_close(state[k], v)
    first = pt.read_bytes()
    save_model(tiny_model, tmp_path / "tiny.json")  # same weights -> same bytes, same SHA-256
    assert pt.read_bytes() == first
    loaded = load_model(js)  # either file of the pair names the model
    image = small_pairs[1][0]
    np.testing.assert_array_equal(loaded.predict(image, device="cpu").array, tiny_model.predict(image, device="cpu").array)
    assert segment(image, pt, device="cpu").array.shape == image.array.shape


def _saved(tiny_model, tmp_path) -> tuple[Path, Path]:
    return save_model(tiny_model, tmp_path / "m.pt")


def _rewrite_json(js: Path, pt: Path, **changes) -> None:
    import hashlib

    meta = json.loads(js.read_text())
    meta.update(changes)
    meta["weights"]["sha256"] = hashlib.sha256(pt.read_bytes()).hexdigest()
    js.write_text(json.dumps(meta))


def test_bad_model_files(tiny_model, tmp_path):
    pt, js = _saved(tiny_model, tmp_path)
    with pytest.raises(InputError, match=r"\.pt or \.json"):
        load_model(tmp_path / "m.pth")
    with pytest.raises(MissingFileError, match="not found") as err:
        load_model(tmp_path / "missing.pt")
    assert err.value.filename.endswith("missing.json")  # the pair: the JSON is checked first
    js.unlink()
    with pytest.raises(MissingFileError, match="m.json' not found"):
        load_model(pt)

    # corrupt JSON
    pt, js = _saved(tiny_model, tmp_path)
    js.write_text('{"format": "twin3d-segmentation",')
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_model(pt)

    # a JSON of another kind, and one of a future version
    js.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ModelFileError, match="not a twin3d segmentation model"):
        load_model(pt)
    pt, js = _saved(tiny_model, tmp_path)
    meta = json.loads(js.read_text())
    js.write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ModelFileError, match="format_version 99"):
        load_model(pt)
    js.write_text(json.dumps({**meta, "preprocessing": {**meta["preprocessing"], "hu_window": [400, -100]}}))
    with pytest.raises(ModelFileError, match="hu_window"):
        load_model(pt)
    js.write_text(json.dumps({**meta, "network": {**meta["network"], "strides": [2, 2, 2, 2]}}))
    with pytest.raises(ModelFileError, match="strides needs"):
        load_model(pt)
    js.write_text(json.dumps({**meta, "unexpected": 1}))
    with pytest.raises(ModelFileError, match="unexpected"):
        load_model(pt)

    # truncated weights: SHA-256 no longer matches
    pt, js = _saved(tiny_model, tmp_path)
    pt.write_bytes(pt.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match="does not match"):
        load_model(pt)
    # truncated weights whose hash was updated: torch cannot read them
    _rewrite_json(js, pt)
    with pytest.raises(ModelFileError, match="cannot load weights"):
        load_model(pt)


def test_weights_only_refuses_code(tiny_model, tmp_path):
    """A .pt that pickles an arbitrary object is refused by weights_only=True."""
    import collections

    pt, js = _saved(tiny_model, tmp_path)
    torch.save({"payload": collections.Counter(a=1)}, pt)  # not a tensor-only file
    _rewrite_json(js, pt)
    with pytest.raises(ModelFileError, match="weights_only"):
        load_model(pt)


def test_weights_that_do_not_fit_the_network(tiny_model, tmp_path):
    pt, js = _saved(tiny_model, tmp_path)
    meta = json.loads(js.read_text())
    _rewrite_json(js, pt, network={**meta["network"], "channels": [8, 16, 32]})
    with pytest.raises(ModelFileError, match="do not fit the network"):
        load_model(pt)
    pt, js = _saved(tiny_model, tmp_path)
    _rewrite_json(js, pt, labels={"1": "body", "2": "liver"})  # 3 classes, weights have 8
    with pytest.raises(ModelFileError, match="do not fit the network"):
        load_model(pt)


def test_save_model_is_atomic_and_checks(tiny_model, tmp_path):
    with pytest.raises(InputError, match=r"\.pt or \.json"):
        save_model(tiny_model, tmp_path / "model.onnx")
    with pytest.raises(NotFittedError):
        save_model(SegmentationModel(PHANTOM_LABELS), tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- phantom model
def test_model_paths():
    assert model_paths("a/m.json") == (Path("a/m.pt"), Path("a/m.json"))
    with pytest.raises(InputError, match=r"\.pt or \.json"):
        model_paths("a/m.onnx")


def test_default_phantom_model_path_is_package_data():
    from twin3d.resources import package_dir

    path = default_phantom_model_path()
    assert path == package_dir("twin3d.assets") / "models" / "phantom_unet.pt" and path.is_file()


def test_evaluate_model_reports_dice_and_times(tiny_model, small_pairs, tmp_path):
    """In memory and from a path; phantoms scored, volumes timed."""
    image_path = write_nifti(small_pairs[0][0], tmp_path / "ct.nii.gz")
    report = evaluate_model(tiny_model, seeds=[], images=[image_path], repeat=2, device="cpu")
    assert report["model"] == "<in memory>" and report["phantoms"] == [] and report["mean_dice"] is None
    (timing,) = report["images"]
    assert timing["path"] == str(image_path) and timing["n"] == 2 and timing["shape"] == small_pairs[0][0].array.shape
    assert 0 < timing["min_s"] <= timing["median_s"] <= timing["max_s"]
    with pytest.raises(InputError, match="repeat"):
        evaluate_model(tiny_model, seeds=[], repeat=0)
    with pytest.raises(MissingFileError):
        evaluate_model(tmp_path / "missing.pt", seeds=[])


# --------------------------------------------------------------------------- scene spec
def test_segmentation_spec_adds_named_organs(tmp_path):
    from twin3d.predictors.segmentation import SegmentationSpec, apply_segmentation_spec
    from twin3d.scene import Scene

    scene = Scene(name="patient", units="mm", up_axis="Z")
    spec = {"phantom": {"seed": UNSEEN_SEEDS[0], "spacing_mm": 4.0}, "labelmap_out": "seg.nii.gz"}
    assert apply_segmentation_spec(spec, scene, base_dir=tmp_path) is scene
    organs = {a.name: a for _, a in scene.root.walk() if getattr(a, "asset_type", None) == "organ"}
    assert set(organs) == set(PHANTOM_LABELS.values())
    assert all(a.semantic_label == name and a.n_points > 100 for name, a in organs.items())
    info = scene.metadata["segmentation"]
    assert np.mean(list(info["dice"].values())) >= 0.85
    assert info["model"] == str(default_phantom_model_path())
    seg = read_labelmap(tmp_path / "seg.nii.gz")
    assert set(np.unique(seg.array)) <= {0, *PHANTOM_LABELS}
    with pytest.raises(SpecError, match="exactly one of 'image'"):
        apply_segmentation_spec({"image": "ct.nii.gz", "phantom": {"seed": 1}}, scene)
    with pytest.raises(SpecError, match="segmentation.bogus"):
        apply_segmentation_spec({"phantom": {"seed": 1}, "bogus": 1}, scene)
    with pytest.raises(MissingFileError, match="segmentation.model: .*missing.pt: no such segmentation model file"):
        apply_segmentation_spec(SegmentationSpec(phantom={"seed": 1}, model="missing.pt"), scene, base_dir=tmp_path)
    with pytest.raises(SpecError, match=r"segmentation.model: model path must end in \.pt or \.json"):
        apply_segmentation_spec(SegmentationSpec(phantom={"seed": 1}, model="model.onnx"), scene, base_dir=tmp_path)


def test_segmentation_spec_file_with_an_image(tiny_model, small_pairs, tmp_path):
    """A spec file: image and model relative to it; missing files name the spec and the key."""
    from twin3d.spec import build_scene

    write_nifti(small_pairs[0][0], tmp_path / "scans" / "ct.nii.gz")
    save_model(tiny_model, tmp_path / "models" / "tiny.pt")
    spec = tmp_path / "patient.yaml"
    text = "name: patient\nunits: mm\nsegmentation:\n  image: scans/ct.nii.gz\n  model: models/tiny.pt\n  device: cpu\n"
    spec.write_text(text)
    scene = build_scene(spec)
    info = scene.metadata["segmentation"]
    assert info["source"] == "scans/ct.nii.gz" and "dice" not in info
    assert {a.asset_type for a in scene.assets()} == {"organ"} and "body" in {a.semantic_label for a in scene.assets()}
    for key, broken in (("segmentation.image", text.replace("scans/ct", "scans/missing")),
                        ("segmentation.model", text.replace("models/tiny.pt", "models/missing.pt"))):
        spec.write_text(broken)
        with pytest.raises(MissingFileError) as err:
            build_scene(spec)
        assert str(spec) in str(err.value) and key in str(err.value), str(err.value)


# --------------------------------------------------------------------------- budgets (issue 14)
@pytest.mark.parametrize("channels, strides, res_units", [
    ((16, 32, 64, 128), (2, 2, 2), 1), ((16, 32, 64, 128, 256), (2, 2, 2, 2), 2), ((8, 16), (2,), 0),
])
def test_unet_parameter_estimate_is_within_6_percent(channels, strides, res_units):
    from twin3d.predictors.segmentation.config import NetworkConfig
    from twin3d.predictors.segmentation.network import unet_parameters

    net = NetworkConfig(channels=channels, strides=strides, num_res_units=res_units)
    real = sum(p.numel() for p in SegmentationModel({1: "a"}).build_network(net, 5).parameters())
    assert unet_parameters(net) == pytest.approx(real, rel=0.06)


def test_huge_networks_are_refused_before_they_are_built():
    from twin3d.errors import BudgetError

    model = SegmentationModel({1: "liver"}, channels=(100_000,) * 4, strides=(2, 2, 2))
    net, _pre, _inf, labels = model.configs()
    with pytest.raises(BudgetError, match=r"the segmentation network needs about 11.8 TiB"):
        model.build_network(net, len(labels) + 1)


def test_training_and_inference_memory_are_checked(small_pairs):
    from twin3d.budgets import memory_budget_set
    from twin3d.errors import BudgetError

    images, labelmaps = zip(*small_pairs)
    with pytest.raises(BudgetError, match=r"training the segmentation network needs about .* 100000 crop\(s\)"):
        SegmentationModel(PHANTOM_LABELS, **{**TINY, "batch_size": 100_000}).fit(images, labelmaps, device="cpu")
    # a model file asking for a 0.05 mm grid would resample the CT to ~10^12 voxels
    model = SegmentationModel(PHANTOM_LABELS, **{**TINY, "spacing_mm": (0.05, 0.05, 0.05)})
    model.network_ = torch.nn.Identity()
    with pytest.raises(BudgetError, match=r"segmenting the image needs about .* at the model's 0.05x0.05x0.05 mm"):
        model.predict(images[0], device="cpu")
    with memory_budget_set("1M"), pytest.raises(BudgetError, match="memory budget of 1 MiB"):
        SegmentationModel(PHANTOM_LABELS, **TINY).fit(images, labelmaps, device="cpu")


def test_dice_scores_with_a_label_id_near_2_to_the_32():
    big = 4_000_000_000
    a = np.zeros((20, 20, 20), np.uint32)
    b = np.zeros_like(a)
    a[2:12, 2:12, 2:12] = big
    b[4:14, 2:12, 2:12] = big
    vol = lambda arr: Volume(arr, np.diag([2.0, 2.0, 2.0, 1.0]))  # noqa: E731
    assert dice_scores(vol(a), vol(b), {big: "huge"})["huge"] == pytest.approx(0.8)


def test_invalid_parameters_are_one_line():
    with pytest.raises(InputError) as err:
        SegmentationModel({4_000_000_000: "x", 0: "y"}, channels=(0, 4)).configs()
    assert "\n" not in str(err.value)
    assert "channels: all entries must be >= 1" in str(err.value)
