"""Read a USD file that another tool wrote, then look at it: summary and a picture.

Without a file, the script first writes one with plain ``pxr`` the way another tool
would: a Y-up stage in centimetres, two meshes under transforms, a constant display
colour each, and nothing twin3d-specific. ``twin3d.read_usd`` turns any such stage into a
:class:`twin3d.Scene` (Xforms become groups, meshes become assets, units and up axis kept).

    python examples/read_foreign_usd.py                 # the generated file
    python examples/read_foreign_usd.py model.usdz      # any .usd/.usda/.usdc/.usdz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import twin3d
from twin3d.usd import register_schema


def write_foreign_stage(path: Path) -> Path:
    """A workbench (a box) with a lamp (a pyramid) on it, as any USD tool might write it."""
    from pxr import Gf, Usd, UsdGeom

    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)  # Y up
    UsdGeom.SetStageMetersPerUnit(stage, 0.01)  # centimetres
    root = UsdGeom.Xform.Define(stage, "/Workshop")
    stage.SetDefaultPrim(root.GetPrim())

    def mesh(xform_path, points, faces, color, translate):
        xform = UsdGeom.Xform.Define(stage, xform_path)
        xform.AddTranslateOp().Set(Gf.Vec3d(*translate))
        geom = UsdGeom.Mesh.Define(stage, f"{xform_path}/Geom")
        geom.CreatePointsAttr([Gf.Vec3f(*p) for p in points])
        geom.CreateFaceVertexCountsAttr([len(f) for f in faces])  # quads and triangles mixed
        geom.CreateFaceVertexIndicesAttr([i for f in faces for i in f])
        geom.CreateDisplayColorAttr([Gf.Vec3f(*color)])  # one constant colour

    # a 120 x 80 x 60 cm bench (y is up): 8 corners, 6 quads
    x, y, z = 60.0, 80.0, 30.0
    corners = [(sx * x, sy * y, sz * z) for sy in (0, 1) for sz in (-1, 1) for sx in (-1, 1)]
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]  # outward
    mesh("/Workshop/Bench", corners, quads, (0.55, 0.35, 0.2), (0.0, 0.0, 0.0))
    # a 30 cm pyramid standing on the bench: a square base and four triangles
    apex = [(-15, 0, -15), (15, 0, -15), (15, 0, 15), (-15, 0, 15), (0, 30, 0)]
    faces = [(0, 1, 2, 3), (0, 4, 1), (1, 4, 2), (2, 4, 3), (3, 4, 0)]
    mesh("/Workshop/Lamp", apex, faces, (0.95, 0.8, 0.1), (20.0, 80.0, 0.0))
    stage.Save()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("usd", nargs="?", help="a USD file (default: write a foreign one first)")
    parser.add_argument("--out", default="examples-out/read_foreign_usd", help="output folder")
    parser.add_argument("--size", default="1280x720", help="image size WxH")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # USD reads schema plugins when the first stage of a process is created: register
    # twin3d's before this script writes a stage with pxr (twin3d's own calls do it themselves).
    register_schema()
    path = Path(args.usd) if args.usd else write_foreign_stage(out / "workshop.usda")

    # Read it: units and up axis come from the stage metadata, colours from displayColor.
    scene = twin3d.read_usd(path)
    info = scene.summary()
    print(f"{path}: scene {info['name']!r}, units {info['units']} ({info['meters_per_unit']} m), "
          f"up axis {info['up_axis']}, {info['frames']} frame(s)")
    for asset in info["assets"]:
        print(f"  {asset['path']:<28} {asset['type']:<8} {asset['vertices']:>6} vertices {asset['triangles']:>6} triangles")

    png = twin3d.render_png(scene, out / f"{path.stem}.png", size=args.size)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
