"""What every hostile-input case asserts (used by ``tests/test_hostile_inputs.py``).

A case runs a real ``twin3d`` command in a child process (so native crashes, VTK/USD
log lines written straight to file descriptor 2 and exit codes are what a user sees)
and checks: the exit code, exactly one ``twin3d: error: ...`` line on stderr, no
traceback, no file created or changed in the watched folders (no partial output, no
leftover temporary, existing outputs unchanged) and, for confinement cases, that the
bytes of a marker file outside the allowed folders appear in no output.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Run", "run_twin3d", "assert_refused", "snapshot", "assert_unchanged", "Marker"]


@dataclass
class Run:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __repr__(self) -> str:
        return f"Run({' '.join(self.args)!r}, rc={self.returncode}, stderr={self.stderr[-3000:]!r})"


def run_twin3d(*args, cwd: str | os.PathLike | None = None, env: dict | None = None, timeout: float = 180) -> Run:
    """``python -m twin3d ARGS`` in a child process (progress bars off, no DISPLAY)."""
    full_env = dict(os.environ)
    full_env["TWIN3D_NO_PROGRESS"] = "1"
    full_env.pop("DISPLAY", None)
    if env:
        full_env.update(env)
    cmd = [sys.executable, "-m", "twin3d", *[str(a) for a in args]]
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    return Run([str(a) for a in args], proc.returncode, proc.stdout, proc.stderr)


def assert_refused(run: Run, *needles: str, code: int = 2) -> str:
    """Exit ``code``, exactly one stderr line ``twin3d: error: ...`` holding every needle, no traceback."""
    assert run.returncode == code, run
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, run
    assert lines[0].startswith("twin3d: error: "), run
    assert "Traceback" not in run.stderr + run.stdout, run
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(*folders: str | os.PathLike) -> dict[str, str]:
    """Every file (recursively, hidden ones included) under ``folders`` with its SHA-256."""
    out = {}
    for folder in folders:
        for p in sorted(Path(folder).rglob("*")):
            if p.is_file() or p.is_symlink():
                out[str(p)] = _digest(p) if p.is_file() else "link"
            elif p.is_dir():
                out[str(p) + "/"] = "dir"
    return out


def assert_unchanged(before: dict[str, str], *folders: str | os.PathLike) -> None:
    """No file created, removed or changed under ``folders`` since ``before``."""
    after = snapshot(*folders)
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not (added or removed or changed), {"added": added, "removed": removed, "changed": changed}


class Marker:
    """A secret file in a folder that no case allows; its content must never reach an output.

    The content is 4096 bytes that are also plausible geometry (finite float32 values),
    so a reader that follows a hostile reference would turn them into mesh points.
    """

    def __init__(self, folder: Path):
        import numpy as np

        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.path = folder / "secret.bin"
        self.values = (np.arange(1024, dtype=np.float32) * 0.5 + 12345.25).astype("<f4")
        self.path.write_bytes(self.values.tobytes())
        self.text_path = folder / "secret.txt"
        self.text_path.write_text("TWIN3D-MARKER-7f3a9c\n")

    def assert_not_in(self, *paths: str | os.PathLike) -> None:
        """Neither the marker's bytes nor its text appear in any of the files (recursively)."""
        needle_bin = self.values[:8].tobytes()
        needle_txt = b"TWIN3D-MARKER-7f3a9c"
        for root in paths:
            root = Path(root)
            files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
            for f in files:
                data = f.read_bytes()
                assert needle_bin not in data and needle_txt not in data, f"marker content found in {f}"
