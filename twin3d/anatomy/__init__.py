"""Anatomy: label tables, label map -> named organ surfaces, organ scenes.

A segmentation (a label map: integer ids on a CT's grid) becomes one named, coloured
triangle surface per organ in world millimetres (RAS+), and those surfaces become
``"organ"`` assets of a scene for the USD and render backends:

==================  ==================================================================
module              what it holds
==================  ==================================================================
``labels``          label tables: id -> organ name and colour (:class:`LabelTable`,
                    :func:`builtin_table`, :func:`totalsegmentator_table`,
                    :func:`load_label_table`, :func:`conventional_color`)
``surfaces``        label map -> organ surfaces (:func:`labelmap_to_surfaces`,
                    :class:`OrganSurface`): the surface-nets / flying-edges pipeline,
                    windowed-sinc smoothing, its thread pool
``kernels``         the compiled (numba) kernels ``surfaces`` runs on all cores
``organs``          surfaces -> scene (:func:`organs_to_scene`) and organ output files
                    (:func:`write_organs`: USD, PNG or a VTK multiblock)
``section``         the scene spec's ``anatomy:`` section (:class:`AnatomySpec`)
==================  ==================================================================

Data flows ``read_labelmap`` -> :func:`labelmap_to_surfaces` (+ a label table) ->
:func:`organs_to_scene` -> ``write_usd`` / ``render_png``. Names are imported lazily:
importing this package loads neither VTK nor numba.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_LAZY = {
    # label tables
    "LabelInfo": "labels",
    "LabelTable": "labels",
    "load_label_table": "labels",
    "builtin_table": "labels",
    "totalsegmentator_table": "labels",
    "conventional_color": "labels",
    "TABLE_NAMES": "labels",
    # surfaces
    "OrganSurface": "surfaces",
    "labelmap_to_surfaces": "surfaces",
    "SURFACE_METHODS": "surfaces",
    "DEFAULT_SMOOTHING_ITERATIONS": "surfaces",
    "DEFAULT_PASSBAND": "surfaces",
    # organ scene and files
    "organs_to_scene": "organs",
    "write_organs": "organs",
    "save_multiblock": "organs",
    "OUTPUT_EXTENSIONS": "organs",
    # scene spec section
    "AnatomySpec": "section",
    "apply_anatomy_spec": "section",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
