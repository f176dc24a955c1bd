"""USD backend: Scene -> stage (:func:`write_usd`), stage -> Scene (:func:`read_usd`).

This package and :mod:`twin3d.render` are the only places that import ``pxr``.
"""

from __future__ import annotations

from .reader import read_usd, stage_to_scene
from .schema import register_schema, schema_dir
from .validate import validate_usd
from .writer import USD_EXTENSIONS, scene_to_layer, write_usd

__all__ = [
    "write_usd",
    "read_usd",
    "stage_to_scene",
    "scene_to_layer",
    "validate_usd",
    "register_schema",
    "schema_dir",
    "USD_EXTENSIONS",
]
