"""Small internal helpers: atomic output files (one file, or a command's set), progress bars."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator


def _temp_suffix(path: Path, suffix: str | None = None) -> str:
    if path.name.endswith(".nii.gz"):
        return ".nii.gz"
    return path.suffix if suffix is None else suffix


def temp_path_for(path: str | os.PathLike, *, suffix: str | None = None, create: bool = True) -> Path:
    """A new temporary path beside ``path``: ``.<stem>.<pid>.<random>.tmp<suffix>``.

    The writing process's id is in the name, so temporaries left by a killed run
    (SIGKILL leaves no chance to clean up) are recognised and removed by the next run
    writing to the same place (:func:`remove_stale_temporaries`).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.{os.getpid()}.", suffix=".tmp" + _temp_suffix(path, suffix),
                                   dir=path.parent)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path.parent) else ""
        raise OSError(exc.errno, f"{path}: cannot write there: {exc.strerror or exc}{where}") from None
    os.close(fd)
    if not create:
        os.unlink(tmp)  # writers create it (some refuse to overwrite)
    return Path(tmp)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove temporaries of ``path`` left by processes that no longer run; returns them."""
    path = Path(path)
    removed = []
    prefix = f".{path.stem}."
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(prefix) and ".tmp" in p.name]
    except OSError:
        return removed
    for p in candidates:
        pid_text = p.name[len(prefix):].split(".", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _pid_alive(int(pid_text)):
            continue
        try:
            if p.is_dir():
                import shutil

                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    If the body raises, the temporary file is removed and ``path`` is untouched, so a
    failed run never leaves a half-written file in place of a good one. The temporary
    file keeps ``path``'s suffix (writers pick the format from it).
    """
    path = Path(path)
    tmp_path = temp_path_for(path, suffix=suffix)
    try:
        yield tmp_path
        if tmp_path.is_file():
            # mkstemp creates 0600 files; give the output the usual permissions (0666 & ~umask)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


class OutputSet:
    """All outputs of one command, or none of them.

    Each output is written to a temporary file beside its target (:meth:`path`); only
    :meth:`commit` renames them all into place, when the whole command has succeeded;
    :meth:`discard` (or leaving the ``with`` block with an error) removes them, so a
    failing command never leaves some outputs written and others not::

        with OutputSet() as outputs:
            write_nifti(labelmap, outputs.path("seg.nii.gz"))
            write_usd(scene, outputs.path("scene.usdc"))
        # both renamed here, or neither

    With ``dry_run=True`` (read-only commands such as ``twin3d info --run``) every
    output goes to a private temporary folder instead, :meth:`commit` is refused and
    the folder is removed at the end: nothing is written where the user looks.
    """

    def __init__(self, *, dry_run: bool = False) -> None:
        self._pending: list[tuple[Path, Path]] = []
        self.dry_run = dry_run
        self._scratch: Path | None = None

    def path(self, target: str | os.PathLike) -> Path:
        """A temporary path for ``target`` (same folder, same suffix), renamed at commit."""
        target = Path(target)
        if self.dry_run:
            if self._scratch is None:
                self._scratch = Path(tempfile.mkdtemp(prefix="twin3d-dry-run-"))
            tmp = self._scratch / f"{len(self._pending)}{_temp_suffix(target)}"
            self._pending.append((tmp, target))
            return tmp
        tmp = temp_path_for(target, create=False)
        self._pending.append((tmp, target))
        return tmp

    @property
    def targets(self) -> list[Path]:
        return [t for _, t in self._pending]

    def commit(self) -> list[Path]:
        """Rename every written temporary onto its target; returns the targets."""
        if self.dry_run:
            raise RuntimeError("a dry-run OutputSet cannot be committed")
        umask = os.umask(0)
        os.umask(umask)
        done = []
        for tmp, target in self._pending:
            if tmp.exists():
                if tmp.is_file():
                    os.chmod(tmp, 0o666 & ~umask)
                os.replace(tmp, target)
                done.append(target)
        self._pending = []
        return done

    def discard(self) -> None:
        """Remove every temporary; targets stay as they were."""
        import shutil

        for tmp, _ in self._pending:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    tmp.unlink()
        self._pending = []
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> "OutputSet":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and not self.dry_run:
            self.commit()
        else:
            self.discard()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB chunks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def show_progress(progress: bool | None = None) -> bool:
    """Whether to draw progress bars: explicit flag, else only on an interactive terminal."""
    if progress is not None:
        return bool(progress)
    if os.environ.get("CI") or os.environ.get("TWIN3D_NO_PROGRESS"):
        return False
    return sys.stderr.isatty()


@contextlib.contextmanager
def progress_bar(description: str, total: int | None, *, enabled: bool | None = None):
    """A rich progress bar on a terminal; a no-op object in scripts and CI.

    Yields a callable ``advance(n=1, **fields)``.
    """
    if not show_progress(enabled):
        yield lambda n=1, **kw: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as prog:
        task = prog.add_task(description, total=total, info="")

        def advance(n: int = 1, **fields):
            prog.update(task, advance=n, info=" ".join(f"{k}={v}" for k, v in fields.items()))

        yield advance


# --------------------------------------------------------------------------- TF vs Mesa
_CLASH = (
    "TensorFlow and VTK's software OpenGL (Mesa llvmpipe) cannot share one process: both bring "
    "their own LLVM and the process crashes"
)


def mesa_llvm_loaded() -> bool:
    """True if Mesa's LLVM (loaded by the first VTK render on a software OpenGL) is in this process."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            return any("libLLVM" in line for line in fh)
    except OSError:  # not Linux
        return False


def tensorflow_loaded() -> bool:
    """True if TensorFlow's runtime has been imported in this process."""
    return "tensorflow" in sys.modules


def check_no_tensorflow_for_rendering() -> None:
    """Raise a clear error instead of crashing when rendering after TensorFlow was imported."""
    if tensorflow_loaded():
        from .errors import Twin3DError

        raise Twin3DError(
            f"{_CLASH}. TensorFlow is already imported here: render in another process "
            "(e.g. the `twin3d render` command), or use the torch thermal backend (the default)"
        )


def check_no_mesa_for_tensorflow() -> None:
    """Raise a clear error instead of crashing when importing TensorFlow after a VTK render."""
    if not tensorflow_loaded() and mesa_llvm_loaded():
        from .errors import Twin3DError

        raise Twin3DError(
            f"{_CLASH}. This process has already rendered with VTK: train or evaluate TensorFlow models "
            "in another process (e.g. `twin3d thermal train --backend tensorflow`), or use the torch backend"
        )
