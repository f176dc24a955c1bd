"""Model files: a segmentation model on disk is two files side by side.

``NAME.pt``
    The network's ``state_dict``, read with ``torch.load(..., weights_only=True)``.
``NAME.json``
    Network config, label id -> name table, preprocessing, inference settings, the
    twin3d version, the SHA-256 of ``NAME.pt`` (a mismatched pair is refused) and what
    training measured (iterations, time, per-label validation Dice). Its schema is
    :class:`~.config.ModelFileConfig`.

Nothing in them runs code on load. :func:`save_model` writes both atomically,
:func:`load_model` reads either name of the pair, :func:`model_paths` maps one name to
the pair.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ..._util import atomic_path, file_sha256
from ...errors import InputError, MissingFileError, ModelFileError
from . import _common
from .config import FORMAT, FORMAT_VERSION, ModelFileConfig, WeightsInfo
from .network import SegmentationModel

__all__ = ["save_model", "load_model", "model_paths"]


def model_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``x.pt`` / ``x.json`` -> (weights, config) paths of one model.

    Raises :class:`~twin3d.errors.InputError` for any other suffix, so a bad output name
    fails before minutes of training.
    """
    path = Path(path)
    if path.suffix not in (".pt", ".json"):
        raise InputError(f"model path must end in .pt or .json (the pair NAME.pt + NAME.json), got '{path}'")
    return path.with_suffix(".pt"), path.with_suffix(".json")


def save_model(model: SegmentationModel, path: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``model`` as ``NAME.pt`` (state dict) + ``NAME.json`` (config), atomically.

    Parameters
    ----------
    model : SegmentationModel
        A trained model.
    path : path
        ``NAME.pt`` or ``NAME.json``; both files are written next to each other.

    Returns
    -------
    (Path, Path)
        The weights and config paths.
    """
    if not isinstance(model, SegmentationModel):
        raise InputError(f"save_model needs a SegmentationModel, got {type(model).__name__}")
    model.check_fitted()
    torch = _common.torch()
    net, pre, inf, labels = model.configs()
    pt_path, json_path = model_paths(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.network_.state_dict().items()}
    # serialise in memory: the bytes then do not depend on the (temporary) file name,
    # so the same weights always give the same file and SHA-256
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    with atomic_path(pt_path) as tmp_pt:
        tmp_pt.write_bytes(payload)
        config = ModelFileConfig(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            twin3d_version=_common.twin3d_version(),
            network=net,
            labels=labels,
            preprocessing=pre,
            inference=inf,
            weights=WeightsInfo(file=pt_path.name, sha256=digest),
            training=_jsonable(getattr(model, "training_info_", {})),
        )
        with atomic_path(json_path) as tmp_json:
            tmp_json.write_text(json.dumps(config.model_dump(mode="json"), indent=2) + "\n")
    return pt_path, json_path


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


def load_model(path: str | os.PathLike) -> SegmentationModel:
    """Load a model saved by :func:`save_model` (no code runs on load).

    Parameters
    ----------
    path : path
        ``NAME.pt`` or ``NAME.json``; the other file must sit next to it.

    Raises
    ------
    MissingFileError
        ``NAME.pt`` or ``NAME.json`` does not exist.
    InputError
        ``path`` ends in neither ``.pt`` nor ``.json``.
    ModelFileError
        Corrupt or truncated files, a JSON that does not validate, weights whose
        SHA-256 differs from the JSON's (a mismatched pair), a weights file with anything
        but tensors (refused by ``weights_only=True``), or tensors that do not fit the
        network the JSON describes.
    """
    torch = _common.torch()
    pt_path, json_path = model_paths(path)
    for p in (json_path, pt_path):
        if not p.is_file():
            raise MissingFileError(
                p,
                f"model file '{p}' not found (a model is the pair {pt_path.name} + {json_path.name} in one folder)",
                what="model file",
            )
    try:
        raw = json.loads(json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelFileError(
            f"'{json_path}' is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"cannot read '{json_path}': {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ModelFileError(f"'{json_path}' is not a twin3d segmentation model (expected \"format\": \"{FORMAT}\")")
    if raw.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"'{json_path}' has format_version {raw.get('format_version')!r}; "
            f"this twin3d reads version {FORMAT_VERSION}"
        )
    try:
        config = ModelFileConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise ModelFileError(f"'{json_path}' does not describe a valid model: {problems}") from None
    if config.weights.file != pt_path.name:
        raise ModelFileError(
            f"'{json_path}' belongs to weights '{config.weights.file}', not '{pt_path.name}'"
        )
    digest = file_sha256(pt_path)
    if digest != config.weights.sha256:
        raise ModelFileError(
            f"'{pt_path}' does not match '{json_path}' (SHA-256 {digest[:12]}... vs {config.weights.sha256[:12]}...): "
            "the weights were replaced, truncated or belong to another model"
        )
    try:
        state = torch.load(pt_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        raise ModelFileError(
            f"cannot load weights '{pt_path}' with weights_only=True: {type(exc).__name__}: "
            f"{' '.join(str(exc).splitlines()[0].split()) if str(exc) else ''}"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"'{pt_path}' must hold a state dict (names -> tensors), got {type(state).__name__}")

    model = SegmentationModel(
        config.labels,
        channels=config.network.channels,
        strides=config.network.strides,
        num_res_units=config.network.num_res_units,
        norm=config.network.norm,
        dropout=config.network.dropout,
        spacing_mm=config.preprocessing.spacing_mm,
        hu_window=config.preprocessing.hu_window,
        roi_size=config.inference.roi_size,
        overlap=config.inference.overlap,
    )
    net_cfg, _pre, _inf, labels = model.configs()
    network = model.build_network(net_cfg, len(labels) + 1, what=f"the network '{json_path}' describes")
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[:4]
        raise ModelFileError(
            f"weights '{pt_path}' do not fit the network in '{json_path}': {' '.join(first)}"
        ) from None
    model.network_ = network.eval()
    model.labels_ = labels
    model.loss_history_ = []
    model.training_info_ = dict(config.training)
    model.validation_dice_ = dict(config.training.get("validation_dice", {}))
    return model
