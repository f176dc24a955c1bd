"""Atomic outputs (twin3d/_util.py): one file, or all outputs of a command, and what a killed run leaves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from twin3d._util import OutputSet, atomic_path, remove_stale_temporaries


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    with atomic_path(target) as tmp:
        assert tmp.name.startswith(f".out.{os.getpid()}.") and tmp.name.endswith(".tmp.csv")
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_output_set_is_all_or_nothing(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "sub" / "b.nii.gz"
    with pytest.raises(ValueError):
        with OutputSet() as outs:
            outs.path(a).write_text("a")
            raise ValueError("the second output failed")
    assert not a.exists() and not [p for p in tmp_path.rglob("*") if p.is_file()]
    with OutputSet() as outs:
        outs.path(a).write_text("a")
        tb = outs.path(b)
        assert tb.name.endswith(".tmp.nii.gz")
        tb.write_text("b")
        assert not a.exists()
    assert a.read_text() == "a" and b.read_text() == "b"


def test_temporaries_of_a_killed_run_are_removed_by_the_next_run(tmp_path):
    target = tmp_path / "big.csv"
    dead = tmp_path / f".big.{_dead_pid()}.abc123.tmp.csv"
    dead.write_text("left by SIGKILL")
    alive = tmp_path / f".big.{os.getppid()}.def456.tmp.csv"  # a writer that is still running
    alive.write_text("in progress")
    other = tmp_path / ".other.1.x.tmp.csv"
    other.write_text("another target's")
    with atomic_path(target) as tmp:
        tmp.write_text("data")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert dead.name not in names and alive.name in names and other.name in names and "big.csv" in names
    assert remove_stale_temporaries(target) == []


def test_a_sigkilled_writer_leaves_a_recognisable_temporary(tmp_path):
    target = tmp_path / "x.txt"
    code = ("import sys, time; from twin3d._util import atomic_path\n"
            f"with atomic_path({str(target)!r}) as tmp:\n"
            "    tmp.write_text('partial'); print(tmp, flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    left = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert os.path.exists(left) and not target.exists()
    with atomic_path(target) as tmp:
        tmp.write_text("done")
    assert not os.path.exists(left) and target.read_text() == "done"


def test_dry_run_output_set_writes_nothing_beside_its_targets(tmp_path):
    target = tmp_path / "out" / "seg.nii.gz"
    with OutputSet(dry_run=True) as outs:
        tmp = outs.path(target)
        assert tmp.name.endswith(".nii.gz") and tmp_path not in tmp.parents
        tmp.write_text("scratch")
        with pytest.raises(RuntimeError, match="cannot be committed"):
            outs.commit()
    assert not tmp.exists() and not tmp.parent.exists()
    assert list(tmp_path.iterdir()) == []


def test_unwritable_target_is_one_clear_oserror(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OSError, match=r"file/x\.csv: cannot write there"):
        with atomic_path(tmp_path / "file" / "x.csv"):
            pass
