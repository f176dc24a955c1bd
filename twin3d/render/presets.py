"""Render settings shared by every VTK output (PNG, video, jobs, viewer): camera presets,
image sizes, VTK thread setup and how data time is written in titles.

Light on purpose: importing it loads neither VTK's rendering modules nor pyvista's
plotting side, so spec validation and ``twin3d --help`` can use the presets.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

__all__ = ["CAMERAS", "parse_size", "camera_pose", "fit_distance", "use_all_cores", "format_time"]

#: Camera presets (anatomical views for patient scenes: front = anterior, side = left, top = superior).
CAMERAS = ("iso", "front", "side", "top")
_SMP_SET = False


def parse_size(text: str | tuple[int, int]) -> tuple[int, int]:
    """``"1280x720"`` -> ``(1280, 720)`` with validation."""
    if isinstance(text, (tuple, list)):
        w, h = (int(v) for v in text)
    else:
        try:
            w, h = (int(v) for v in str(text).lower().split("x"))
        except ValueError:
            raise InputError(f"size {text!r} is not WIDTHxHEIGHT (e.g. 1280x720)") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise InputError(f"size {w}x{h} out of range: width and height must be 16..8192")
    return w, h


def use_all_cores() -> None:
    """Let VTK's SMP tools use every core (its default backend is sequential); once per process."""
    global _SMP_SET
    if not _SMP_SET:
        import vtk

        vtk.vtkSMPTools.SetBackend("STDThread")
        _SMP_SET = True


def format_time(t: float) -> str:
    """Data time for titles: ``12.50 s``, ``2:05.0 min``, ``1:39:00.0 h``."""
    if t >= 3600:
        return f"{int(t // 3600)}:{int(t % 3600 // 60):02d}:{t % 60:04.1f} h"
    if t >= 60:
        return f"{int(t // 60)}:{t % 60:04.1f} min"
    return f"{t:.2f} s"


def fit_distance(lo, hi, direction, up, view_angle: float, aspect: float, fill: float = 0.9) -> float:
    """Camera distance from the centre of the box ``lo``..``hi`` at which the whole box is in frame.

    The camera looks along ``-direction`` with ``up`` up and a vertical ``view_angle``
    (degrees); every corner of the box must project inside ``fill`` of the frame's
    half-height and half-width (``aspect`` = width / height). Exact for any box, up axis
    and aspect ratio, so every mesh inside the box is in frame.
    """
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    c = (lo + hi) / 2
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]) - c
    f = -d
    u = np.asarray(up, float) - f * (np.asarray(up, float) @ f)
    u /= max(np.linalg.norm(u), 1e-12)
    r = np.cross(f, u)
    tan_v = math.tan(math.radians(view_angle) / 2) * fill
    tan_h = math.tan(math.radians(view_angle) / 2) * max(aspect, 1e-3) * fill
    z = corners @ d  # towards the camera
    need = np.maximum(z + np.abs(corners @ u) / tan_v, z + np.abs(corners @ r) / tan_h)
    return max(float(need.max()), 1e-6 + float(np.linalg.norm(hi - lo)) / 2)


def camera_pose(lo: np.ndarray, hi: np.ndarray, up_axis: str, camera: str, azimuth: float = 0.0,
                aspect: float = 16 / 9, patient: str | None = None, orbit: bool = False) -> dict:
    """Camera ``position``, ``focal_point``, ``up``, ``view_angle`` for a preset.

    Presets: ``iso``, ``front``, ``side``, ``top``; with ``patient`` = ``"RAS"``/``"LPS"``
    the anatomical ones: front = anterior, side = patient's left, top = superior;
    ``azimuth`` (degrees) turns the view direction about the up axis (a turntable).
    The camera looks at the centre of the box ``lo``..``hi`` from the distance at which
    the whole box is in frame for the window's ``aspect`` (width / height), whatever the
    up axis (:func:`fit_distance`). ``orbit=True`` (turntables) uses the largest such
    distance over a whole turn, so the camera does not move in and out as it turns.
    """
    if camera not in CAMERAS:
        raise InputError(f"unknown camera {camera!r}; valid: {', '.join(CAMERAS)}")
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    c = (lo + hi) / 2
    if patient in ("RAS", "LPS"):
        a = 1.0 if patient == "RAS" else -1.0
        dirs = {"iso": (-0.7 * a, 1.3 * a, 0.6), "front": (0, a, 0.05), "side": (-a, 0, 0.05), "top": (0, 0, 1)}
        up = (0, a, 0) if camera == "top" else (0, 0, 1)
        axis = np.array([0.0, 0.0, 1.0])
    elif up_axis == "Z":
        dirs = {"iso": (1.0, -1.3, 0.9), "front": (0, -1, 0.12), "side": (1, 0, 0.12), "top": (0, 0, 1)}
        up = (0, 1, 0) if camera == "top" else (0, 0, 1)
        axis = np.array([0.0, 0.0, 1.0])
    else:
        dirs = {"iso": (1.0, 0.9, 1.3), "front": (0, 0.12, 1), "side": (1, 0.12, 0), "top": (0, 1, 0)}
        up = (0, 0, -1) if camera == "top" else (0, 1, 0)
        axis = np.array([0.0, 1.0, 0.0])
    d0 = np.asarray(dirs[camera], float)
    d0 /= np.linalg.norm(d0)
    up0 = np.asarray(up, float)

    def turned(deg: float):
        if not deg:
            return d0, up0
        th = math.radians(deg)

        def rot(v):  # Rodrigues
            return v * math.cos(th) + np.cross(axis, v) * math.sin(th) + axis * np.dot(axis, v) * (1 - math.cos(th))

        return rot(d0), rot(up0)

    d, up = turned(azimuth)
    view_angle = 30.0
    if orbit:
        dist = max(fit_distance(lo, hi, *turned(a), view_angle, aspect) for a in np.arange(0.0, 360.0, 7.5))
    else:
        dist = fit_distance(lo, hi, d, up, view_angle, aspect)
    return {"position": tuple(c + d * dist), "focal_point": tuple(c), "up": tuple(up), "view_angle": view_angle}
