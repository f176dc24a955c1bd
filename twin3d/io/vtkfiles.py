"""VTK's own formats (legacy ``.vtk``, XML ``.vtp``), read by VTK in a child process.

No NumPy reader replaces VTK's for its own formats (binary, ASCII, appended, compressed
data, every dataset type), and VTK's readers are not hardened: a hostile file can crash
them. So :func:`read_vtk_file` first checks the file's signature here, then runs VTK's
reader in a child process (``python -c`` importing only VTK's IO and filter modules and
NumPy), which converts the dataset to its surface triangles and hands the arrays back in
a temporary ``.npz`` (loaded without pickle). If the reader crashes (a segfault, an
abort on a huge allocation), the child dies, not twin3d: the result is one
:class:`~twin3d.errors.InputError` ("the VTK reader crashed (SIGSEGV) on FILE; the file
is corrupt"). VTK's own messages never reach the user's terminal (the child's output is
captured; the first VTK error line is quoted in the message). The child's address space
is limited to the memory budget (:mod:`twin3d.budgets`) plus
:data:`CHILD_BASE_MEMORY` for Python and VTK themselves, so a header that asks for more
fails in the child.

The result is what :func:`pyvista.read` gave before (then triangulated by
:func:`twin3d.io.read_mesh`): a ``PolyData`` as stored (points in file order), any other
dataset's outer surface, with its numeric point and cell arrays.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError
from .meshcheck import check_budget, triangle_mesh

__all__ = ["read_vtk_file", "child_main", "CHILD_BASE_MEMORY", "CHILD_TIMEOUT"]

#: Address space allowed to the child beyond the memory budget (Python, NumPy and VTK's libraries).
CHILD_BASE_MEMORY = 4 * 1024**3
#: Seconds the child may take.
CHILD_TIMEOUT = 900

_SIGNATURES = {".vtk": (b"# vtk DataFile Version", "a legacy VTK file (it must start with '# vtk DataFile Version')"),
               ".vtp": (b"<VTKFile", "a VTK XML PolyData file (a '<VTKFile type=\"PolyData\"' element)")}


def read_vtk_file(path: str | Path):
    """Read a ``.vtk`` or ``.vtp`` file through VTK in a child process; a crash is an :class:`InputError`."""
    from ..budgets import memory_budget

    path = Path(path)
    ext = path.suffix.lower()
    signature, description = _SIGNATURES[ext]
    with open(path, "rb") as f:
        head = f.read(1024)
    if (ext == ".vtk" and not head.startswith(signature)) or (ext == ".vtp" and signature not in head):
        raise InputError(f"{path}: not {description}")
    if ext == ".vtp" and b'type="PolyData"' not in head and b"type='PolyData'" not in head:
        raise InputError(f"{path}: a VTK XML file but not PolyData (only .vtp PolyData files are read)")
    limit = memory_budget() + CHILD_BASE_MEMORY
    with tempfile.TemporaryDirectory(prefix="twin3d-vtk-") as tmp:
        out = Path(tmp) / "mesh.npz"
        env = dict(os.environ)
        env.pop("DISPLAY", None)
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # no BLAS thread pools
            env[var] = "1"
        cmd = [sys.executable, "-c", "from twin3d.io.vtkfiles import child_main; child_main()",
               str(path.resolve()), str(out), str(limit)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=env,
                                  timeout=CHILD_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise InputError(f"{path}: the VTK reader did not finish in {CHILD_TIMEOUT} s; the file is corrupt "
                             f"or far too large") from None
        if proc.returncode < 0:
            raise InputError(f"{path}: the VTK reader crashed ({_signal_name(-proc.returncode)}) on this file; "
                             f"the file is corrupt, truncated or needs more memory than the budget")
        if proc.returncode != 0 or not out.is_file():
            reason = (_last_line(proc.stdout) or _vtk_error(proc.stderr) or _last_line(proc.stderr)
                      or f"exit code {proc.returncode}")
            raise InputError(f"{path}: cannot read the file: {reason}")
        problem = _logged_error(proc.stderr)
        if problem:  # VTK read on after an error (e.g. truncated binary data): the arrays are not to be trusted
            raise InputError(f"{path}: cannot read the file: VTK reported: {problem}; the file is corrupt or truncated")
        nbytes = out.stat().st_size
        check_budget(path, 2 * nbytes, detail=f"{nbytes:,} bytes of points, triangles and arrays read by VTK")
        with np.load(out, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    names = json.loads(str(arrays.pop("names")))
    point_data = {name: arrays[f"p{i}"] for i, name in enumerate(names["point"])}
    cell_data = {name: arrays[f"c{i}"] for i, name in enumerate(names["cell"])}
    return triangle_mesh(path, arrays["points"], arrays["triangles"], point_data=point_data, cell_data=cell_data)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _logged_error(text: str) -> str:
    """The first error VTK's logger wrote (``... WARN| Error reading binary data!``), or ``""``."""
    for line in (text or "").splitlines():
        if "|" in line and ("ERR|" in line or ("WARN|" in line and "error" in line.lower())):
            return re.sub(r"\x1b\[[0-9;]*m", "", line.split("|", 1)[1]).strip()
    return ""


def _vtk_error(text: str) -> str:
    """The message of VTK's first error report (``vtkReader (0x..): message``), on one line."""
    for line in (text or "").splitlines():
        if "): " in line and "vtk" in line:
            return "VTK reported: " + line.split("): ", 1)[1].strip()
    return ""


# --------------------------------------------------------------------------- the child
def child_main() -> None:
    """Entry point of the child: ``SRC DST LIMIT`` -> ``DST`` (npz), or exit 3 with one line on stdout."""
    src, dst, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not POSIX, or a lower hard limit already
        pass
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkCommonCore import vtkLogger, vtkOutputWindow, vtkStringOutputWindow

    vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_WARNING)  # captured by the parent, which checks it
    window = vtkStringOutputWindow()
    vtkOutputWindow.SetInstance(window)
    if src.lower().endswith(".vtp"):
        from vtkmodules.vtkIOXML import vtkXMLPolyDataReader as Reader
    else:
        from vtkmodules.vtkIOLegacy import vtkDataSetReader as Reader
    reader = Reader()
    reader.SetFileName(src)
    reader.Update()
    data = reader.GetOutputDataObject(0)
    errors = [ln for ln in window.GetOutput().splitlines() if "): " in ln and "vtk" in ln]
    if data is None or reader.GetErrorCode() != 0 or (errors and data.GetNumberOfPoints() == 0):
        first = errors[0].split("): ", 1)[1].strip() if errors else "the reader returned no data"
        print(f"VTK reported: {first}; the file is corrupt or not a VTK file")
        sys.exit(3)
    from vtkmodules.vtkCommonDataModel import vtkPolyData

    if not isinstance(data, vtkPolyData):
        from vtkmodules.vtkFiltersGeometry import vtkDataSetSurfaceFilter

        surface = vtkDataSetSurfaceFilter()
        surface.SetInputData(data)
        surface.Update()
        data = surface.GetOutput()
    mesh = data
    polys = data.GetPolys()
    all_triangles = (data.GetNumberOfVerts() == 0 and data.GetNumberOfLines() == 0 and data.GetNumberOfStrips() == 0
                     and polys.GetNumberOfCells() > 0 and polys.IsHomogeneous() == 3)
    if not all_triangles:  # polygons, strips, or verts/lines to drop
        from vtkmodules.vtkFiltersCore import vtkTriangleFilter

        tri = vtkTriangleFilter()
        tri.SetInputData(data)
        tri.PassVertsOff()
        tri.PassLinesOff()
        tri.Update()
        mesh = tri.GetOutput()
    if mesh.GetNumberOfPoints() == 0 or mesh.GetPolys().GetNumberOfCells() == 0:
        print("contains no surface geometry (no polygons)")
        sys.exit(3)
    polys = mesh.GetPolys()
    offsets = vtk_to_numpy(polys.GetOffsetsArray())
    if not np.all(np.diff(offsets) == 3):
        print("the triangulated surface holds cells that are not triangles")
        sys.exit(3)
    index_type = np.int32 if mesh.GetNumberOfPoints() < 2**31 else np.int64
    out = {"points": vtk_to_numpy(mesh.GetPoints().GetData()),
           "triangles": vtk_to_numpy(polys.GetConnectivityArray()).astype(index_type).reshape(-1, 3)}
    names = {"point": [], "cell": []}
    for key, attrs, n in (("point", mesh.GetPointData(), mesh.GetNumberOfPoints()),
                          ("cell", mesh.GetCellData(), mesh.GetNumberOfCells())):
        for i in range(attrs.GetNumberOfArrays()):
            arr = attrs.GetArray(i)  # None for string arrays
            name = attrs.GetArrayName(i)
            if arr is None or not name or name in names[key]:
                continue
            values = vtk_to_numpy(arr)
            if values.dtype.kind in "biuf" and len(values) == n:
                out[f"{key[0]}{len(names[key])}"] = values
                names[key].append(name)
    out["names"] = np.array(json.dumps(names))
    np.savez(dst, **out)
