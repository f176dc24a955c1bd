"""The codeless twin3d USD schema plugin (``TwinAssetAPI``, ``TwinSensorAPI``).

The plugin files live next to this module (``schema/plugInfo.json`` and
``schema/generatedSchema.usda``, generated from ``schema/schema.usda`` by
``usdGenSchema``). :func:`register_schema` registers them with USD's plugin
registry; it must run before the first stage is created, so every twin3d USD entry
point calls it first. Set ``PXR_PLUGINPATH_NAME`` to :func:`schema_dir` to make the
schema visible to other USD tools (usdview, Omniverse).

Regenerate the plugin files after editing ``schema.usda``::

    python -m twin3d.usd.schema
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

__all__ = ["register_schema", "schema_dir", "ASSET_API", "SENSOR_API"]

ASSET_API = "TwinAssetAPI"
SENSOR_API = "TwinSensorAPI"
_REGISTERED = False


def schema_dir() -> Path:
    """Folder holding ``plugInfo.json`` and ``generatedSchema.usda`` (package data ``twin3d.usd.plugin``)."""
    from ..resources import package_dir

    return package_dir("twin3d.usd.plugin")


def register_schema() -> None:
    """Register the twin3d schema plugin with USD (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from pxr import Plug, Usd

    Plug.Registry().RegisterPlugins(str(schema_dir()))
    if Usd.SchemaRegistry().FindAppliedAPIPrimDefinition(ASSET_API) is None:
        from ..errors import Twin3DError

        raise Twin3DError(
            f"the twin3d USD schema plugin in {schema_dir()} did not load: a USD stage was probably "
            "created before twin3d registered it; call twin3d.usd.register_schema() before creating any stage, "
            f"or set PXR_PLUGINPATH_NAME={schema_dir()}"
        )
    _REGISTERED = True


def _regenerate() -> None:  # pragma: no cover - developer tool
    """Run usdGenSchema on schema.usda and make plugInfo.json relocatable."""
    d = schema_dir()
    subprocess.run([sys.executable, "-m", "pxr.Usd.usdGenSchema", "schema.usda", "."], cwd=d, check=True)
    info_path = d / "plugInfo.json"
    text = "\n".join(line for line in info_path.read_text().splitlines() if not line.lstrip().startswith("#"))
    info = json.loads(text)
    for plug in info["Plugins"]:
        plug["LibraryPath"] = ""
        plug["ResourcePath"] = "."
        plug["Root"] = "."
    info_path.write_text(json.dumps(info, indent=4) + "\n")


if __name__ == "__main__":  # pragma: no cover
    _regenerate()
