"""The layers a USD file pulls in, checked *before* USD opens any of them (confinement).

A USD file names other files that USD opens while it composes the stage: sublayers,
references, payloads and value clips. A hostile file can name ``/home/me/secret.usda``
or ``../../other_project/scene.usdc`` and have its prims (and their points) turn up in
twin3d's output. So :func:`open_layers` walks the layer graph itself before
``Usd.Stage.Open``:

1. it opens the root file (``Sdf.Layer.FindOrOpen``; a corrupt ``.usdc`` or a ``.usda``
   syntax error is an :class:`~twin3d.errors.InputError` naming the file, and the line
   for ``.usda``);
2. it lists the layer's asset dependencies (``UsdUtils.ExtractExternalReferences``:
   sublayers, references, payloads, value clips; asset-valued attributes such as
   textures or MDL/MaterialX files are not opened by USD and are left to the code that
   reads them), resolves each relative to the layer that names it, exactly as USD will
   (``layer.ComputeAbsolutePath`` + ``Ar`` under the stage's resolver context), and
   checks it with :func:`twin3d.confine.check_reference` against the *root file's*
   folder (and the allowed folders: ``--allow-path``, ``TWIN3D_ALLOW_PATH``) before
   anything there is opened -- a layer in a subfolder may name its siblings inside the
   root folder, nothing outside it;
3. it opens the layers that passed and repeats, keeping every layer open so that the
   stage composes these very layers.

Inside a ``.usdz`` package, package-relative paths (``scene.usdz[part.usdc]``) are the
package's own files and are allowed. Missing layers are not opened and not errors here:
the stage reports them as composition errors (:mod:`twin3d.usd.diagnostics`), which
know whether the arc was used. USD variable expressions in composition asset paths
(```"${ROOT}/part.usda"```) name files only USD's composition can work out, so they are
refused. As a second line of defence :meth:`LayerSet.check_used` checks every layer the
stage used after it was opened and read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..confine import allowed_folders, check_reference, is_inside
from ..errors import ConfinementError, InputError
from .diagnostics import usd_error_text

__all__ = ["LayerSet", "open_layers", "LAYER_WHAT"]

#: How each kind of layer dependency is named in messages.
LAYER_WHAT = {
    "sublayer": "USD sublayer",
    "reference": "USD reference",
    "payload": "USD payload",
    "clip": "USD value clip",
}


def outer_path(path: str) -> str:
    """The file a USD package path is in: ``/a/b.usdz[c/d.usdc]`` -> ``/a/b.usdz``."""
    path = str(path)
    return path[:path.index("[")] if path.endswith("]") and "[" in path else path


@dataclass
class LayerSet:
    """The layers of one USD file, checked and open (see the module docstring).

    Attributes
    ----------
    root
        The root ``Sdf.Layer``.
    layers
        Every layer opened by the walk (kept open, so the stage composes these).
    context
        The ``Ar.ResolverContext`` the walk resolved with; open the stage with it.
    base
        The root file's folder (symlinks resolved): every layer must lie in it or in an
        allowed folder.
    """

    root: Any
    context: Any
    base: Path
    layers: list = field(default_factory=list)

    def check_used(self, stage) -> None:
        """Raise :class:`ConfinementError` if ``stage`` used a layer outside :attr:`base` and the
        allowed folders (a file that appeared, or changed, after the walk)."""
        folders = (self.base,) + allowed_folders()
        for layer in stage.GetUsedLayers():
            if layer.anonymous or layer == self.root:  # the root file is the caller's, wherever a link points
                continue
            real = outer_path(layer.realPath or layer.identifier)
            if not real or any(is_inside(real, f) for f in folders):
                continue
            raise ConfinementError(
                f"{self.root.realPath or self.root.identifier}: USD layer {real} is outside {self.base}; "
                f"allow its folder with --allow-path {Path(real).parent} (or TWIN3D_ALLOW_PATH)")


def _open(identifier: str, shown: str, referrer: str | None = None):
    """``Sdf.Layer.FindOrOpen`` with USD's exceptions as one-line InputErrors naming the file."""
    from pxr import Sdf, Tf

    try:
        layer = Sdf.Layer.FindOrOpen(identifier)
    except Tf.ErrorException as exc:
        by = f" (named by {referrer})" if referrer else ""
        text = usd_error_text(exc, outer_path(shown))
        if "bad_alloc" in text:
            raise MemoryError(text) from None  # read_usd: a BudgetError
        raise InputError(f"{shown}: not a valid USD file{by}: {text}") from None
    if layer is None:
        by = f" (named by {referrer})" if referrer else ""
        raise InputError(f"{shown}: not a valid USD file{by}")
    check_specs(layer, shown)
    return layer


def check_specs(layer, shown: str) -> None:
    """Raise InputError when ``layer`` lists children it has no specs for.

    A corrupt ``.usdc`` can name a prim child with an empty or invalid name, or one
    without a spec; USD's own walks over the layer (its dependency queries, stage
    composition) then dereference a spec that is not there and abort the process
    ("FATAL ERROR: Dereferenced an invalid SdfPrimSpec"). ``layer.Traverse`` only builds
    paths, so it is safe; every prim (and variant) path it reaches must have a spec.
    """
    bad: list[str] = []

    def visit(p) -> None:
        if bad:
            return
        if p.isEmpty:
            bad.append("a prim with an invalid name")
        elif (p.IsPrimPath() or p.IsPrimVariantSelectionPath()) and not layer.GetPrimAtPath(p):
            bad.append(f"prim {p} is listed but has no spec")

    from pxr import Sdf

    layer.Traverse(Sdf.Path.absoluteRootPath, visit)
    if bad:
        raise InputError(f"{shown}: not a valid USD file: {bad[0]} (a corrupt file?)")


def _is_layer_path(path: str) -> bool:
    from pxr import Sdf

    ext = Sdf.FileFormat.GetFileExtension(path)  # of the inner file for a package path
    return bool(ext) and Sdf.FileFormat.FindByExtension(ext) is not None


def _dependencies(layer) -> list[tuple[str, str]]:
    """``(kind, asset path as written)`` of every layer ``layer`` names (see :data:`LAYER_WHAT`)."""
    from pxr import UsdUtils

    composition = set(layer.GetCompositionAssetDependencies())
    expressions = sorted(p for p in composition if p.strip().startswith("`"))
    if expressions:
        raise InputError(
            f"{layer.realPath or layer.identifier}: asset path {expressions[0]} is a USD variable expression; "
            "twin3d checks every layer a file names before USD opens it and cannot evaluate expressions: "
            "write the path itself")
    sublayers, others, payloads = UsdUtils.ExtractExternalReferences(layer.identifier)
    deps = [("sublayer", p) for p in sublayers] + [("payload", p) for p in payloads]
    for p in others:
        if p in composition:
            deps.append(("reference", p))
        elif _is_layer_path(p):  # value clips and their manifests (textures, MDL... are not layers)
            deps.append(("clip", p))
    return deps


def open_layers(path: str | os.PathLike) -> LayerSet:
    """Open the USD file ``path`` and every layer it pulls in, each checked before it is opened.

    Raises :class:`~twin3d.errors.ConfinementError` for a sublayer, reference, payload or
    value clip outside the root file's folder and the allowed folders (that file is
    never opened), and :class:`~twin3d.errors.InputError` for a file USD cannot parse.
    Call inside :func:`twin3d.usd.diagnostics.collect_problems` (USD's warnings).
    """
    from pxr import Ar, Sdf

    path = Path(path)
    resolver = Ar.GetResolver()
    context = resolver.CreateDefaultContextForAsset(str(path))
    base = Path(os.path.realpath(path.parent if str(path.parent) else "."))
    with Ar.ResolverContextBinder(context):
        root = _open(str(path), str(path))
        found = LayerSet(root=root, context=context, base=base, layers=[root])
        queue = [root]
        seen = {root.identifier}
        while queue:
            layer = queue.pop()
            referrer = outer_path(layer.realPath or layer.identifier)
            for kind, written in _dependencies(layer):
                text, args = Sdf.Layer.SplitIdentifier(written)
                what = LAYER_WHAT[kind]
                if kind == "clip" and "#" in text:  # a clip template: its files are in one folder
                    folder = str(Path(outer_path(layer.ComputeAbsolutePath(text))).parent)
                    check_reference(folder, referrer=referrer, what=f"{what} template @{written}@", base=base)
                    continue
                anchored = layer.ComputeAbsolutePath(text)
                resolved = str(resolver.Resolve(anchored) or "")
                target = outer_path(resolved or anchored)
                shown = what if target == written else f"{what} @{written}@"
                check_reference(target, referrer=referrer, what=shown, base=base)
                if not resolved or kind == "clip" or not _is_layer_path(anchored):
                    continue  # missing (the stage reports it), clips (values only), no USD format (MaterialX)
                identifier = Sdf.Layer.CreateIdentifier(anchored, args) if args else anchored
                if identifier in seen:
                    continue
                seen.add(identifier)
                child = _open(identifier, resolved, referrer)
                found.layers.append(child)
                queue.append(child)
    return found
