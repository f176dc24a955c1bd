"""``twin3d segment``: segment a CT with a UNet model, or train one.

Two forms share the ``segment`` word::

    twin3d segment IMAGE --model MODEL.pt --out SEG.nii.gz     # = twin3d segment run IMAGE ...
    twin3d segment train IMAGES... --labels SEG... --out MODEL.pt
    twin3d segment train --phantom 12 --out MODEL.pt

``segment`` is a command group whose first word is routed: a sub-command name
(``run``, ``train``) selects it, anything else (an image path, an option) goes to
``run``. An image file literally named ``train`` or ``run`` must be written ``./train``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import click
import numpy as np
import typer
from typer.core import TyperGroup

from .errors import InputError

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


def _handle_errors(func):
    """The lead's ``twin3d.cli.handle_errors`` (one error line, exit code 2)."""
    from .cli import handle_errors

    return handle_errors(func)


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
    from .io.volumes import read_labelmap, read_volume, write_nifti
    from .predictors.segmentation import dice_scores, load_model

    if not (out.name.endswith(".nii") or out.name.endswith(".nii.gz")):
        raise InputError(f"{out}: the output label map must be a NIfTI file (.nii or .nii.gz)")
    seg_model = load_model(model)
    volume = read_volume(image)
    ref = read_labelmap(reference) if reference is not None else None
    t0 = time.perf_counter()
    labelmap = seg_model.predict(volume, device=device)
    seconds = time.perf_counter() - t0
    write_nifti(labelmap, out)
    found = [int(i) for i in np.flatnonzero(np.bincount(labelmap.array.ravel())) if i != 0]
    typer.echo(
        f"wrote {out} ({'x'.join(map(str, labelmap.array.shape))} voxels) in {seconds:.1f} s; "
        f"labels: {', '.join(seg_model.labels_.get(i, str(i)) for i in found) or 'none'}"
    )
    if ref is not None:
        typer.echo("Dice against the reference:\n" + _dice_table(dice_scores(labelmap, ref, seg_model.labels_)))


def train(
    images: Optional[List[Path]] = typer.Argument(None, help="Training CT volumes (NIfTI or DICOM folders)."),
    labels: Optional[List[Path]] = typer.Option(
        None,
        "--labels",
        "-l",
        help="Label map of each image, same order (repeat: --labels a.nii.gz --labels b.nii.gz).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Model to write: NAME.pt (+ NAME.json beside it)."),
    label_table: str = typer.Option(
        "builtin", "--label-table", help="Names of the label ids: builtin, totalsegmentator or a JSON table."
    ),
    phantom: Optional[int] = typer.Option(
        None, "--phantom", help="Train on N generated phantoms instead of IMAGES (see twin3d.phantom)."
    ),
    validation_phantoms: int = typer.Option(
        3, "--validation-phantoms", help="With --phantom: unseen phantoms for the Dice report."
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
    threads: Optional[int] = typer.Option(None, help="torch CPU threads (default: torch's choice)."),
    progress: Optional[bool] = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."
    ),
) -> None:
    """Train a UNet on image/label-map pairs (random crops, Dice+CE) and save NAME.pt + NAME.json."""
    from .predictors.segmentation import SegmentationModel, _model_paths, save_model, train_phantom_model

    _model_paths(out)  # a bad output name fails before minutes of training
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
        model = train_phantom_model(
            out, n_train=phantom, n_validation=validation_phantoms, device=device, progress=progress, **params
        )
    else:
        from .anatomy import load_label_table
        from .io.volumes import read_labelmap, read_volume

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
        save_model(model, out)
    pt, js = _model_paths(out)
    info = model.training_info_
    typer.echo(
        f"wrote {pt} + {js}: {info['iterations']} steps on {info['n_images']} volume(s) in {info['seconds']} s "
        f"({info['device']}, {info['torch_threads']} threads), final loss {info['final_loss_mean_last_20']:.3f}"
    )
    if model.validation_dice_:
        typer.echo(f"Dice on {info['validation_cases']} validation case(s):\n" + _dice_table(model.validation_dice_))


def make_segment_app() -> typer.Typer:
    """The ``segment`` command group (``run`` is the default command, ``train``)."""
    segment_app = typer.Typer(
        cls=DefaultCommandGroup,
        name="segment",
        help=(
            "Segment a CT volume with a MONAI UNet model (twin3d segment IMAGE --model MODEL.pt --out SEG.nii.gz), "
            "or train a model (twin3d segment train ...)."
        ),
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    segment_app.command("run")(_handle_errors(run))
    segment_app.command("train")(_handle_errors(train))
    return segment_app


def register(app: typer.Typer) -> None:
    """Mount ``twin3d segment`` (``run``, the default, and ``train``) on ``app``."""
    app.add_typer(make_segment_app(), name="segment")
