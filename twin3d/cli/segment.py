"""``twin3d segment``: segment a CT with a UNet model, train one, or evaluate one.

The forms share the ``segment`` word::

    twin3d segment IMAGE --model MODEL.pt --out SEG.nii.gz     # = twin3d segment run IMAGE ...
    twin3d segment train IMAGES... --labels SEG... --out MODEL.pt
    twin3d segment train --phantom 24 --threads 1 --out assets/models/phantom_unet.pt
    twin3d segment evaluate [--model MODEL.pt] [--seeds 7 --seeds 4242] [--image CT.nii.gz] [--repeat 3]

``segment`` is a command group whose first word is routed: a sub-command name
(``run``, ``train``, ``evaluate``) selects it, anything else (an image path, an option)
goes to ``run``. An image file literally named ``train`` or ``run`` must be written
``./train``. The library behind it is :mod:`twin3d.predictors.segmentation`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import List, Optional

import click
import typer
from typer.core import TyperGroup

from .errors import handle_errors

__all__ = ["register", "make_segment_app", "DefaultCommandGroup"]


class DefaultCommandGroup(TyperGroup):
    """A click group that runs ``default_command`` when the first word is not a sub-command.

    ``twin3d segment CT.nii.gz --model M --out S`` and ``twin3d segment --model M CT.nii.gz
    --out S`` both become ``twin3d segment run ...``; ``twin3d segment train ...`` and
    ``twin3d segment --help`` keep their usual meaning.
    """

    default_command = "run"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def _dice_table(scores: dict[str, float]) -> str:
    import math

    lines = [
        f"  {name:<20} {value:.3f}" if not math.isnan(value) else f"  {name:<20} n/a (not in reference)"
        for name, value in scores.items()
    ]
    valid = [v for v in scores.values() if not math.isnan(v)]
    if valid:
        lines.append(f"  {'mean':<20} {sum(valid) / len(valid):.3f}")
    return "\n".join(lines)


def run(
    image: Path = typer.Argument(..., help="CT volume: NIfTI file (.nii/.nii.gz) or a DICOM series folder."),
    model: Path = typer.Option(..., "--model", "-m", help="Model weights NAME.pt (NAME.json must sit next to it)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output label map (.nii or .nii.gz), on IMAGE's grid."),
    device: str = typer.Option("auto", help="auto (GPU if available, else CPU), cpu, cuda or cuda:N."),
    reference: Optional[Path] = typer.Option(
        None, "--reference", help="A ground-truth label map on IMAGE's grid: print the per-label Dice."
    ),
) -> None:
    """Segment IMAGE and write the label map (the default: 'twin3d segment IMAGE ...' runs this)."""
    import numpy as np

    from ..errors import InputError
    from ..io.volumes import read_labelmap, read_volume, write_nifti
    from ..predictors.segmentation import dice_scores, load_model

    if not (out.name.endswith(".nii") or out.name.endswith(".nii.gz")):
        raise InputError(f"{out}: the output label map must be a NIfTI file (.nii or .nii.gz)")
    seg_model = load_model(model)
    volume = read_volume(image)
    ref = read_labelmap(reference) if reference is not None else None
    t0 = time.perf_counter()
    labelmap = seg_model.predict(volume, device=device)
    seconds = time.perf_counter() - t0
    # the reference is checked before anything is written: a mismatch leaves no output
    scores = dice_scores(labelmap, ref, seg_model.labels_) if ref is not None else None
    write_nifti(labelmap, out)
    found = [int(i) for i in np.unique(labelmap.array) if i != 0]
    typer.echo(
        f"wrote {out} ({'x'.join(map(str, labelmap.array.shape))} voxels) in {seconds:.1f} s; "
        f"labels: {', '.join(seg_model.labels_.get(i, str(i)) for i in found) or 'none'}"
    )
    if scores is not None:
        typer.echo("Dice against the reference:\n" + _dice_table(scores))


def _phantom_command(
    phantom: int, validation_phantoms: int, out: Path, iterations, batch_size, learning_rate, seed, threads, device
) -> str:
    """The ``twin3d segment train --phantom`` command that reproduces a run (recorded in the model's JSON)."""
    import shlex

    parts = ["twin3d", "segment", "train", "--phantom", str(phantom)]
    extra = [
        ("--validation-phantoms", validation_phantoms, 3),
        ("--iterations", iterations, None),
        ("--batch-size", batch_size, 2),
        ("--learning-rate", learning_rate, None),
        ("--seed", seed, 0),
        ("--threads", threads, None),
        ("--device", device, "auto"),
    ]
    for flag, value, default in extra:
        if value != default:
            parts += [flag, str(value)]
    return shlex.join([*parts, "--out", str(out)])


def train(
    images: Optional[List[Path]] = typer.Argument(None, help="Training CT volumes (NIfTI or DICOM folders)."),
    labels: Optional[List[Path]] = typer.Option(
        None,
        "--labels",
        "-l",
        help="Label map of each image, same order (repeat: --labels a.nii.gz --labels b.nii.gz).",
    ),
    out: str = typer.Option(
        ...,
        "--out",
        "-o",
        help="Model to write: NAME.pt (+ NAME.json beside it); with --phantom a folder gets phantom_unet.pt.",
    ),
    label_table: str = typer.Option(
        "builtin", "--label-table", help="Names of the label ids: builtin, totalsegmentator or a JSON table."
    ),
    phantom: Optional[int] = typer.Option(
        None, "--phantom", help="Train on N generated phantoms instead of IMAGES (see twin3d.phantom); the shipped model: 24."
    ),
    validation_phantoms: int = typer.Option(
        3, "--validation-phantoms", "--n-validation", help="With --phantom: unseen phantoms for the Dice report."
    ),
    validation: Optional[List[str]] = typer.Option(
        None, "--validation", help="Held-out IMAGE:LABELS pair for the Dice report (repeatable)."
    ),
    iterations: Optional[int] = typer.Option(
        None, help="Training steps, each on --batch-size random crops (default 1000; --phantom: 1200)."
    ),
    batch_size: int = typer.Option(2, "--batch-size", help="Random crops per step."),
    learning_rate: Optional[float] = typer.Option(
        None, "--learning-rate", help="Peak AdamW learning rate (default 0.01)."
    ),
    seed: int = typer.Option(0, help="Seed of weight init and random crops."),
    device: str = typer.Option("auto", help="auto (GPU if available, else CPU), cpu, cuda or cuda:N."),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads (default: torch's choice; 1 is faster on busy cores)."),
    progress: Optional[bool] = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."
    ),
) -> None:
    """Train a UNet on image/label-map pairs, or on N phantoms (--phantom N), and save NAME.pt + NAME.json."""
    import numpy as np

    from ..errors import InputError
    from ..predictors.segmentation import SegmentationModel, model_paths, save_model, train_phantom_model

    if seed < 0:
        raise InputError(f"--seed must be an integer >= 0, got {seed}")
    out_path = Path(out)
    if phantom is not None and (out_path.is_dir() or out.endswith(("/", os.sep))):
        out_path = out_path / "phantom_unet.pt"
    model_paths(out_path)  # a bad output name fails before minutes of training
    params = dict(iterations=iterations, batch_size=batch_size, learning_rate=learning_rate, seed=seed)
    params = {k: v for k, v in params.items() if v is not None}
    if threads is not None:
        if threads < 1:
            raise InputError(f"--threads must be >= 1, got {threads}")
        import torch

        torch.set_num_threads(threads)
    if phantom is not None:
        if images or labels or validation:
            raise InputError("--phantom trains on generated phantoms: give either --phantom N or IMAGES with --labels")
        command = _phantom_command(
            phantom, validation_phantoms, out_path, iterations, batch_size, learning_rate, seed, threads, device
        )
        model = train_phantom_model(
            out_path, n_train=phantom, n_validation=validation_phantoms, device=device, progress=progress,
            command=command, **params,
        )
    else:
        from ..anatomy.labels import load_label_table
        from ..io.volumes import read_labelmap, read_volume

        images, labels = list(images or []), list(labels or [])
        if not images:
            raise InputError("no training images: give IMAGES with --labels, or --phantom N")
        if len(labels) != len(images):
            raise InputError(
                f"{len(images)} image(s) but {len(labels)} --labels; give one label map per image, in the same order"
            )
        table = load_label_table(label_table)
        vols = [read_volume(p) for p in images]
        maps = [read_labelmap(p) for p in labels]
        pairs = []
        for item in validation or []:
            text = str(item)
            if ":" not in text:
                raise InputError(f"--validation {text!r}: expected IMAGE:LABELS (two paths joined by ':')")
            img_path, lab_path = text.rsplit(":", 1)
            pairs.append((read_volume(img_path), read_labelmap(lab_path)))
        ids = sorted(set().union(*(set(np.unique(m.array).tolist()) for m in maps)) - {0})
        if not ids:
            raise InputError("the training label maps are all background (0): nothing to learn")
        names = {int(i): table.info(int(i)).name for i in ids}
        model = SegmentationModel(names, **params).fit(vols, maps, validation=pairs, device=device, progress=progress)
        save_model(model, out_path)
    pt, js = model_paths(out_path)
    info = model.training_info_
    typer.echo(
        f"wrote {pt} + {js}: {info['iterations']} steps on {info['n_images']} volume(s) in {info['seconds']} s "
        f"({info['device']}, {info['torch_threads']} threads), final loss {info['final_loss_mean_last_20']:.3f}"
    )
    if model.validation_dice_:
        typer.echo(f"Dice on {info['validation_cases']} validation case(s):\n" + _dice_table(model.validation_dice_))


def _parse_seeds(values: Optional[List[str]]) -> list[int]:
    """``--seeds 7 --seeds 4242`` or ``--seeds 7,4242`` -> ``[7, 4242]`` (``--seeds ""``: none)."""
    from ..errors import InputError
    from ..predictors.segmentation import PHANTOM_EVALUATION_SEEDS

    if values is None:
        return list(PHANTOM_EVALUATION_SEEDS)
    seeds = []
    for text in values:
        for part in text.replace(",", " ").split():
            try:
                seeds.append(int(part))
            except ValueError:
                raise InputError(f"--seeds {text!r}: expected integer phantom seeds, e.g. --seeds 7,4242") from None
    return seeds


def evaluate(
    model: Optional[Path] = typer.Option(
        None, "--model", "-m", help="Model NAME.pt (NAME.json beside it); default: the shipped phantom model."
    ),
    seeds: Optional[List[str]] = typer.Option(
        None, "--seeds", help="Phantom seeds to score: --seeds 7 --seeds 4242 or --seeds 7,4242 (default 7, 4242)."
    ),
    image: Optional[List[Path]] = typer.Option(
        None, "--image", help="Also time inference on this volume (NIfTI or DICOM folder; repeatable)."
    ),
    repeat: int = typer.Option(3, "--repeat", min=1, help="Inference runs per phantom or image (median reported)."),
    device: str = typer.Option("auto", help="auto (GPU if available, else CPU), cpu, cuda or cuda:N."),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads (default: torch's choice)."),
) -> None:
    """Dice on unseen phantoms and inference times of a model (default: the shipped phantom model)."""
    from ..errors import InputError
    from ..predictors.segmentation import evaluate_model

    seed_list = _parse_seeds(seeds)
    if threads is not None:
        if threads < 1:
            raise InputError(f"--threads must be >= 1, got {threads}")
        import torch

        torch.set_num_threads(threads)
    report = evaluate_model(model, seeds=seed_list, images=list(image or []), repeat=repeat, device=device)
    typer.echo(f"model {report['model']}, torch threads {report['torch_threads']}, device {report['device']}")
    for row in report["phantoms"]:
        detail = " ".join(f"{k}={v:.3f}" for k, v in row["dice"].items())
        typer.echo(
            f"phantom seed {row['seed']} {'x'.join(map(str, row['shape']))}: mean Dice {row['mean_dice']:.3f} "
            f"({detail}); inference median {row['median_s']:.2f} s"
        )
    if report["phantoms"]:
        typer.echo(
            f"mean Dice over {len(report['phantoms'])} unseen phantoms: {report['mean_dice']:.3f} "
            f"(min {report['min_dice']:.3f})"
        )
    for row in report["images"]:
        typer.echo(
            f"{row['path']} {'x'.join(map(str, row['shape']))}: inference median {row['median_s']:.2f} s "
            f"(min {row['min_s']:.2f}, max {row['max_s']:.2f}, n={row['n']})"
        )
    if not report["phantoms"] and not report["images"]:
        typer.echo("nothing to evaluate: give phantom --seeds or --image volumes")


def make_segment_app() -> typer.Typer:
    """The ``segment`` command group (``run`` is the default command, ``train``, ``evaluate``)."""
    segment_app = typer.Typer(
        cls=DefaultCommandGroup,
        name="segment",
        help=(
            "Segment a CT volume with a MONAI UNet model (twin3d segment IMAGE --model MODEL.pt --out SEG.nii.gz), "
            "train a model (twin3d segment train ...) or measure one (twin3d segment evaluate)."
        ),
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    segment_app.command("run")(handle_errors(run))
    segment_app.command("train")(handle_errors(train))
    segment_app.command("evaluate")(handle_errors(evaluate))
    return segment_app


def register(app: typer.Typer) -> None:
    """Mount ``twin3d segment`` (``run``, the default, ``train`` and ``evaluate``) on ``app``."""
    app.add_typer(make_segment_app(), name="segment")
