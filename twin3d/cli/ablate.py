"""``twin3d ablate``: simulate a thermal ablation in a segmented organ.

    twin3d ablate SEG.nii.gz --organ liver --target X,Y,Z --power W --time S --out ablation.usdc|.png|.mp4|.gif
                  [--direction DX,DY,DZ] [--labels builtin|totalsegmentator|TABLE.json] [--vessels auto|none|A,B]
                  [--spacing MM] [--margin MM] [--cool S] [--report r.json] [--json]

The organ (coloured by temperature over time), the large vessels, the ``lesion`` and the
applicator are written as a USD stage, a PNG render (the end of heating) or a video;
``--report`` writes lesion volume (ml), maximum temperature, margin and the heat each
vessel removes as JSON. All outputs are written together or not at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .errors import handle_errors

__all__ = ["OUTPUT_EXTENSIONS", "ablate", "register"]

#: Output extensions of ``twin3d ablate --out``.
OUTPUT_EXTENSIONS = (".usdc", ".usda", ".usd", ".png", ".mp4", ".gif")


def _triple(text: str, option: str) -> tuple[float, float, float]:
    from ..errors import InputError

    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise InputError(f"{option} {text!r}: expected three numbers X,Y,Z (millimetres, RAS), e.g. 95,167.3,148.3")
    return values  # type: ignore[return-value]


def ablate(
    seg: Path = typer.Argument(..., help="Label map: NIfTI (.nii/.nii.gz) or a DICOM series folder."),
    target: str = typer.Option(..., "--target", help="Centre of the heating X,Y,Z in mm (RAS), inside the organ."),
    power: float = typer.Option(..., "--power", help="Power absorbed in tissue, W (0-250]."),
    time_s: float = typer.Option(..., "--time", help="Heating time, s [1-3600]."),
    out: Path = typer.Option(..., "--out", "-o", help="Output: .usdc/.usda/.usd, .png, .mp4 or .gif."),
    organ: str = typer.Option("liver", "--organ", help="Organ name in the label table."),
    direction: str | None = typer.Option(None, "--direction", help="Applicator axis DX,DY,DZ towards the tip "
                                            "(RAS; default -1,0,0: from the patient's right)."),
    labels: str = typer.Option("builtin", "--labels", "-l",
                               help="Label table: builtin, totalsegmentator, or a JSON file {id: name}."),
    vessels: str = typer.Option("auto", "--vessels", help="Heat sinks: auto (large vessels found by name), none, "
                                "or names A,B,..."),
    spacing: float | None = typer.Option(None, "--spacing", help="Voxel size of the simulation grid, mm "
                                            "(default: the label map's)."),
    margin: float = typer.Option(40.0, "--margin", help="Half-size of the simulated box around the target, mm."),
    cool: float = typer.Option(60.0, "--cool", help="Time simulated after the power is off, s."),
    sigma_radial: float = typer.Option(3.0, "--sigma-radial", help="Gaussian width of the heating across the axis, mm."),
    sigma_axial: float = typer.Option(7.5, "--sigma-axial", help="Gaussian width of the heating along the axis, mm."),
    frames: int = typer.Option(11, "--frames", min=2, max=1000, help="Frames of the temperature field over time."),
    report: Path | None = typer.Option(None, "--report", help="Write the report as JSON here."),
    size: str = typer.Option("1280x720", "--size", help="Image/video size WxH."),
    camera: str = typer.Option("iso", "--camera", help="Camera preset for .png/.mp4: iso, front, side, top."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
) -> None:
    """Simulate a thermal ablation (Pennes bioheat, finite volumes) and write the lesion and the heated organ."""
    from .._util import OutputSet
    from ..errors import UnsupportedFormatError
    from ..predictors.ablation.lesion import run_ablation
    from ..predictors.ablation.problem import DEFAULT_DIRECTION, Applicator

    ext = out.suffix.lower()
    if ext not in OUTPUT_EXTENSIONS:
        raise UnsupportedFormatError(
            f"{out}: unsupported output {ext or '(no extension)'!r}; valid: {', '.join(OUTPUT_EXTENSIONS)}")
    if report is not None and report.suffix.lower() != ".json":
        raise UnsupportedFormatError(f"{report}: the report is JSON; name it *.json")
    app = Applicator(target_mm=_triple(target, "--target"), power_w=power, duration_s=time_s,
                     direction=_triple(direction, "--direction") if direction else DEFAULT_DIRECTION,
                     sigma_radial_mm=sigma_radial, sigma_axial_mm=sigma_axial)
    vessel_arg = None if vessels.strip() == "none" else vessels.strip()
    if ext in (".png", ".mp4", ".gif"):
        from ..render.presets import parse_size

        parse_size(size)  # a bad size fails before the simulation
    result = run_ablation(seg, app, organ=organ, table=labels, vessels=vessel_arg, spacing_mm=spacing,
                          margin_mm=margin, cool_s=cool, n_times=frames, source=str(seg),
                          progress=None if not quiet else False)
    scene = result.scene
    scene.name = "ablation"
    with OutputSet() as outputs:
        if ext in (".usdc", ".usda", ".usd"):
            from ..usd import write_usd

            write_usd(scene, outputs.path(out), color_by="temperature")
        elif ext == ".png":
            from ..render import render_png

            heating = result.solution.solver["heating_steps"] * result.solution.solver["dt_s"]
            frame = int(abs(result.solution.times - heating).argmin())
            render_png(scene, outputs.path(out), size=size, camera=camera, frame=frame, color_by="temperature",
                       title=f"{organ} ablation {power:g} W, {time_s:g} s: lesion "
                             f"{result.report['lesion_volume_ml']:.1f} ml")
        else:
            from ..render import render_animation

            render_animation(scene, outputs.path(out), size=size, camera=camera, color_by="temperature",
                             progress=None if not quiet else False)
        if report is not None:
            outputs.path(report).write_text(json.dumps(result.report, indent=2), encoding="utf-8")
    if quiet:
        return
    rep = result.report
    if as_json:
        typer.echo(json.dumps(rep, indent=2))
        return
    margin_text = "n/a" if rep["margin_mm"] is None else f"{rep['margin_mm']:.1f} mm"
    cooling = ", ".join(f"{v['name']} {v['heat_removed_j'] / 1000:.2f} kJ" for v in rep["vessels"]
                        if v["heat_removed_j"] > 0) or "none"
    typer.echo(f"lesion {rep['lesion_volume_ml']:.2f} ml (diameter {rep['lesion']['diameter_mm']:.1f} mm, "
               f"length {rep['lesion']['length_mm']:.1f} mm), margin {margin_text}, "
               f"max temperature {rep['max_temperature_c']:.1f} degC")
    typer.echo(f"vessels cooling it: {cooling}")
    typer.echo(f"wrote {out}" + (f" and {report}" if report else "") +
               f" ({rep['solver']['unknowns']} voxels, {rep['solver']['steps']} steps, {rep['solver']['time_s']:.1f} s)")


def register(app: typer.Typer) -> None:
    """Add ``twin3d ablate`` to ``app``."""
    app.command("ablate")(handle_errors(ablate))
