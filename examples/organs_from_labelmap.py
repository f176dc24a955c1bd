"""Organs from a label map: a segmentation (NIfTI) -> named organ surfaces -> USD and PNG.

Without a file, a synthetic abdominal phantom (``twin3d.make_phantom``) is written to NIfTI
first, so the script takes the same route as a real segmentation, for example one from
TotalSegmentator:

    python examples/organs_from_labelmap.py                     # the phantom
    python examples/organs_from_labelmap.py ../shared/data/ct/abdomen_seg_3mm.nii.gz --labels totalsegmentator
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import twin3d


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("labelmap", nargs="?", help="label map: NIfTI file or DICOM folder (default: a phantom)")
    parser.add_argument("--labels", default="builtin", help="label table: builtin, totalsegmentator or a JSON file")
    parser.add_argument("--out", default="examples-out/organs_from_labelmap", help="output folder")
    parser.add_argument("--spacing", type=float, default=3.0, help="phantom voxel size in mm (larger: faster)")
    parser.add_argument("--seed", type=int, default=0, help="phantom seed")
    parser.add_argument("--camera", default="front", help="camera: front, side, top or iso")
    parser.add_argument("--size", default="1280x720", help="image size WxH")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # 1. The label map file: yours, or a synthetic phantom written as NIfTI (its label ids
    #    follow twin3d's builtin table: 1 body, 2 liver, 3 spleen, ...).
    if args.labelmap:
        path = Path(args.labelmap)
    else:
        _, phantom_labels, _ = twin3d.make_phantom(spacing_mm=args.spacing, seed=args.seed)
        path = twin3d.write_nifti(phantom_labels, out / "phantom_labels.nii.gz")
        print(f"wrote {path}")

    # 2. Read it (integer ids on a voxel grid, with its voxel-to-world affine in mm, RAS+).
    labelmap = twin3d.read_labelmap(path)
    print(f"{path}: {labelmap.shape} voxels of {labelmap.spacing.round(2).tolist()} mm")

    # 3. One smoothed surface per label, named and coloured by the label table.
    table = twin3d.load_label_table(args.labels)
    surfaces = twin3d.labelmap_to_surfaces(labelmap, table)
    print(f"{'organ':<24}{'volume mL':>12}{'voxels mL':>12}   centroid mm (RAS)")
    for name, organ in surfaces.items():
        centroid = ", ".join(f"{v:7.1f}" for v in organ.centroid_mm)
        print(f"{name:<24}{organ.volume_ml:12.1f}{organ.voxel_volume_ml:12.1f}   ({centroid})")

    # 4. The surfaces as "organ" assets of a scene in millimetres; the body drawn translucent.
    scene = twin3d.organs_to_scene(surfaces, name="organs", metadata={"labelmap": str(path)})
    for asset in scene.assets():
        if asset.semantic_label == "body":
            asset.material = dataclasses.replace(asset.material, opacity=0.2)

    # 5. Write the USD stage (semantic labels, volumes in each prim's metadata) and a picture.
    usd = twin3d.write_usd(scene, out / "organs.usdc")
    png = twin3d.render_png(scene, out / "organs.png", camera=args.camera, size=args.size)
    print(f"wrote {usd}")
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
