"""Render jobs: many scenes x cameras x frames, in parallel worker processes or on Dask.

A job is a YAML file::

    name: factory_views
    scenes:                       # spec (.yaml) or USD files, relative to the job file
      - ../scenes/factory_line.yaml
      - {path: ../out/anatomy.usdc, name: anatomy, cameras: [front], color_by: labels}
    cameras: [iso, top]
    frames: [0, -1]               # indices (negative: from the end), "all", "last" or {count: 3}
    size: 1280x720
    output_dir: renders           # relative to the job file
    pattern: "{scene}/{camera}/frame_{frame:04d}.png"

Every (scene, camera, frame) is one *item* rendering one PNG. Items run in worker
processes, each with its own off-screen VTK context (a renderer per scene is kept
alive in each worker and reused across its items). Workers send the encoded PNG
back; only the driver writes files, atomically, so a killed job never leaves a
half-written PNG under an output name.

* **Resumable**: an output that exists, decodes as a PNG of the right size and whose
  recorded inputs (scene hash, camera, frame, size, options) match is skipped.
* **Manifest**: ``<output_dir>/manifest.json`` lists every output with its inputs
  (scene file and SHA-256, camera, frame and data time, size), status, render time
  and the PNG's SHA-256; it is rewritten (atomically) as results arrive.
* **Failures**: an item that fails (bad scene, frame out of range, renderer error,
  crashed worker) is recorded with its error; the others go on. The report lists
  the failures and :attr:`JobReport.ok` is False (the CLI exits with code 1).
* **Executors**: ``local`` (``concurrent.futures`` process pool, spawn context) or
  ``dask`` (a ``dask.distributed`` cluster at ``scheduler``, or a LocalCluster of
  ``workers`` processes). On a remote cluster, workers read the scene files at the
  same paths (shared filesystem); outputs are written by the driver.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as _dt
import hashlib
import json
import multiprocessing
import os
import re
import socket
import string
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Optional, Union

import numpy as np
from pydantic import Field as PField, field_validator, model_validator

from .._util import atomic_path, file_sha256, progress_bar
from ..errors import InputError, Twin3DError
from ..spectypes import Cameras, FrameCount, Frames, Strict

__all__ = ["RenderJob", "JobScene", "FrameCount", "load_job", "run_render_job", "JobReport", "render_item",
           "probe_scene", "EXECUTORS"]

EXECUTORS = ("local", "dask")
MANIFEST_VERSION = 1
_PATTERN_FIELDS = {"scene", "camera", "frame"}
_FRAME_SPEC = re.compile(r"0?[1-9]?d")
_MAX_POOL_RESTARTS = 3


# =========================================================================== job spec
# A job file is read by the one YAML loader (twin3d.yamlspec) into these models; cameras
# and frames use the annotated types every YAML model shares (twin3d.spectypes).


class JobScene(Strict):
    """One scene of a job; ``cameras``/``frames``/``color_by`` override the job's."""

    path: str
    name: Optional[str] = None
    cameras: Optional[Cameras] = None
    frames: Optional[Frames] = None
    color_by: Optional[str] = None

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        if v is not None and (not v or any(c in v for c in '/\\:*?"<>|') or v in (".", "..")):
            raise ValueError(f"scene name {v!r} must be usable as a folder name (no / \\ : * ? \" < > |)")
        return v


class RenderJob(Strict):
    """A render job file (see the module documentation)."""

    name: str = "render_job"
    scenes: list[Union[str, JobScene]] = PField(min_length=1)
    cameras: Cameras = PField(default_factory=lambda: ["iso"])
    frames: Frames = "last"
    size: str = "1280x720"
    output_dir: str = "renders"
    pattern: str = "{scene}/{camera}/frame_{frame:04d}.png"
    manifest: str = "manifest.json"
    color_by: Optional[str] = None
    label_top: int = PField(0, ge=0, le=1000)
    title: bool = False
    instancing: Literal["auto", "always", "never"] = "auto"
    anti_aliasing: Literal["msaa", "fxaa", "none"] = "msaa"
    workers: Optional[int] = PField(None, ge=1, le=1024)

    @field_validator("size")
    @classmethod
    def _size(cls, v):
        from .presets import parse_size

        try:
            parse_size(v)
        except InputError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v):
        try:
            parsed = [f for f in string.Formatter().parse(v) if f[1] is not None]
        except ValueError as exc:
            raise ValueError(f"bad pattern {v!r}: {exc}") from None
        names = {f[1] for f in parsed}
        for _, name, spec, conversion in parsed:
            # field names only: no attribute or index access ({scene.__class__}), no conversions,
            # and format specs only on the frame number ({frame:04d})
            if name in ("scene", "camera") and (spec or conversion):
                raise ValueError(f"placeholder {{{name}}} takes no format spec or conversion in pattern {v!r}")
            if name == "frame" and (conversion or (spec and not _FRAME_SPEC.fullmatch(spec))):
                raise ValueError(f"{{frame:{spec}}}: only integer formats such as {{frame:04d}} are allowed")
        unknown = names - _PATTERN_FIELDS
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)} in pattern; valid: {{scene}}, {{camera}}, {{frame}}")
        missing = _PATTERN_FIELDS - names
        if missing:
            raise ValueError(f"pattern must contain {{scene}}, {{camera}} and {{frame}} so every output is unique; "
                             f"missing: {sorted(missing)}")
        if not v.lower().endswith(".png"):
            raise ValueError("pattern must end with .png")
        if Path(v).is_absolute() or ".." in Path(v).parts:
            raise ValueError("pattern must be a relative path inside output_dir (no '..')")
        return v

    @field_validator("manifest")
    @classmethod
    def _manifest(cls, v):
        if not v.lower().endswith(".json") or Path(v).is_absolute() or ".." in Path(v).parts:
            raise ValueError("manifest must be a .json file name inside output_dir")
        return v

    @model_validator(mode="after")
    def _unique_names(self):
        seen: dict[str, int] = {}
        for i, s in enumerate(self.scenes):
            name = _scene_name(s)
            if name in seen:
                raise ValueError(f"scenes[{i}]: scene name {name!r} is already used by scenes[{seen[name]}]; "
                                 "give each scene a distinct 'name'")
            seen[name] = i
        return self


def _scene_name(s: Union[str, JobScene]) -> str:
    name = Path(s).stem if isinstance(s, str) else (s.name or Path(s.path).stem)
    if not name or name.strip(".") == "" or any(c in name for c in '/\\:*?"<>|'):
        raise ValueError(f"scene name {name!r} (from {s if isinstance(s, str) else s.path!r}) cannot be a folder "
                         "name: give the scene a 'name'")
    return name


def load_job(path: str | os.PathLike) -> RenderJob:
    """Read and validate a job file; errors name the file, line and key.

    Raises
    ------
    MissingFileError
        When the job file does not exist.
    SpecError
        Bad YAML, an unknown key (the message lists the valid ones) or a bad value.
    """
    from ..yamlspec import load_model

    job, _ = load_model(path, RenderJob, what="render job")
    return job


# =========================================================================== worker side
_SCENES: dict[tuple, Any] = {}
_RENDERERS: dict[tuple, Any] = {}
_MAX_RENDERERS = 2
_LOCK = threading.Lock()


def _load(path: str, sha: str | None):
    """The scene at ``path`` (cached per process and file content)."""
    from ..spec import load_scene

    p = Path(path)
    digest = file_sha256(p)
    if sha is not None and digest != sha:
        raise InputError(f"{path}: the scene file changed while the job was running (hash mismatch)")
    key = (str(p.resolve()), digest)
    if key not in _SCENES:
        if len(_SCENES) >= 4:
            _SCENES.pop(next(iter(_SCENES)))
        _SCENES[key] = load_scene(p)
    return _SCENES[key], digest


def probe_scene(path: str) -> dict:
    """Load a scene (worker side) and return its frame count, times and file hash."""
    try:
        scene, digest = _load(path, None)
        times = scene.times
        return {"ok": True, "sha256": digest, "n_frames": scene.n_frames,
                "times": None if times is None else [float(t) for t in times]}
    except Exception as exc:  # noqa: BLE001 - reported as the scene's failure
        return {"ok": False, "error": _describe(exc)}


def _describe(exc: BaseException) -> str:
    """An item's error on one line (it is printed as one ``failed: ...`` line)."""
    text = " ".join(str(exc).split())
    return text if isinstance(exc, Twin3DError) else f"{type(exc).__name__}: {text}"


def render_item(task: dict) -> dict:
    """Render one item (worker side) and return the PNG bytes, or the error.

    ``task`` keys: ``scene_path``, ``scene_sha256``, ``camera``, ``frame``,
    ``size`` (w, h), ``color_by``, ``label_top``, ``title``, ``instancing``,
    ``anti_aliasing``, ``scene_name``.
    """
    import imageio.v3 as iio

    from .presets import format_time
    from .renderer import InstancedRenderer

    t0 = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        scene, digest = _load(task["scene_path"], task["scene_sha256"])
        key = (task["scene_path"], digest, tuple(task["size"]), task["color_by"], task["label_top"],
               task["instancing"], task["anti_aliasing"], threading.get_ident())
        with _LOCK:
            r = _RENDERERS.get(key)
            if r is None:
                while len(_RENDERERS) >= _MAX_RENDERERS:
                    _RENDERERS.pop(next(iter(_RENDERERS))).close()
                r = InstancedRenderer(scene, size=tuple(task["size"]), camera=task["camera"],
                                      color_by=task["color_by"], label_top=task["label_top"],
                                      instancing=task["instancing"], anti_aliasing=task["anti_aliasing"])
                _RENDERERS[key] = r
        r.set_camera(task["camera"])
        r.set_frame(task["frame"])
        if task["title"]:
            t = r.frame_time()
            r.title(f"{task['scene_name']}   {task['camera']}" + ("" if t is None else f"   t = {format_time(t)}"))
        img = r.image()
        png = iio.imwrite("<bytes>", img, extension=".png")
        return {"status": "rendered", "png": png, "render_s": time.perf_counter() - t0, "worker": worker,
                "time_s": r.frame_time()}
    except Exception as exc:  # noqa: BLE001 - one failing item must not stop the job
        return {"status": "failed", "error": _describe(exc), "render_s": time.perf_counter() - t0, "worker": worker}


def _worker_init(parent_pid: int) -> None:
    """Worker process setup: quiet progress, and exit if the job process dies."""
    os.environ["TWIN3D_NO_PROGRESS"] = "1"

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(3)

    threading.Thread(target=watch, daemon=True, name="twin3d-parent-watch").start()


# =========================================================================== executors
class _LocalExecutor:
    """A spawn-context process pool that is rebuilt when a worker process dies."""

    name = "local"

    def __init__(self, workers: int):
        self.workers = workers
        self.restarts = 0
        self._pool = self._new_pool()

    def _new_pool(self):
        return cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_worker_init, initargs=(os.getpid(),))

    def submit(self, fn, arg):
        return self._pool.submit(fn, arg)

    def as_completed(self, futures):
        return cf.as_completed(futures)

    @staticmethod
    def result(fut):
        return fut.result()

    @staticmethod
    def is_broken(exc: BaseException) -> bool:
        from concurrent.futures.process import BrokenProcessPool

        return isinstance(exc, BrokenProcessPool)

    def restart(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.restarts += 1
        self._pool = self._new_pool()

    def worker_pids(self) -> list[int]:
        procs = getattr(self._pool, "_processes", None) or {}
        return [p.pid for p in procs.values()]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class _DaskExecutor:
    """A ``dask.distributed`` client: on ``scheduler`` or on a new LocalCluster."""

    name = "dask"

    def __init__(self, workers: int, scheduler: str | None):
        import logging

        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - distributed is a dependency
            raise Twin3DError("the dask executor needs dask.distributed: pip install 'dask[distributed]'") from None
        self.cluster = None
        self.restarts = 0
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise Twin3DError(f"cannot connect to the Dask scheduler at {scheduler!r}: {exc}") from None
        else:
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        self.workers = len(self.client.scheduler_info().get("workers", {})) or workers

    def submit(self, fn, arg):
        return self.client.submit(fn, arg, pure=False)

    def as_completed(self, futures):
        from distributed import as_completed

        return as_completed(futures)

    @staticmethod
    def result(fut):
        return fut.result()

    @staticmethod
    def is_broken(exc: BaseException) -> bool:
        return False

    def restart(self) -> None:  # pragma: no cover - dask reschedules on its own
        raise RuntimeError("not used")

    def worker_pids(self) -> list[int]:
        return []

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


# =========================================================================== driver
@dataclass
class JobReport:
    """Outcome of a render job."""

    job: str
    manifest: Path
    output_dir: Path
    items: list[dict]
    executor: str
    workers: int
    wall_s: float

    @property
    def counts(self) -> dict[str, int]:
        out = {"total": len(self.items), "rendered": 0, "skipped": 0, "failed": 0}
        for it in self.items:
            if it["status"] in out:
                out[it["status"]] += 1
        return out

    @property
    def failures(self) -> list[dict]:
        return [it for it in self.items if it["status"] == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failures


#: Memory one item of a job takes (its record, the manifest entry, the task sent to a worker).
BYTES_PER_ITEM = 4096


def _frame_count(spec: Frames, n: int) -> int:
    """How many frames :func:`_frames_for` selects (without listing them)."""
    if spec == "all":
        return n
    if spec == "last":
        return 1
    if isinstance(spec, FrameCount):
        return min(spec.count, n)
    return len(spec)


def _frames_for(spec: Frames, n: int) -> list[int]:
    if spec == "all":
        return list(range(n))
    if spec == "last":
        return [n - 1]
    if isinstance(spec, FrameCount):
        k = min(spec.count, n)
        return sorted(set(int(i) for i in np.rint(np.linspace(0, n - 1, k)).astype(int)))
    out = []
    for f in spec:
        out.append(f + n if f < 0 else f)  # out-of-range stays visible (item fails with a clear error)
    return list(dict.fromkeys(out))


def _valid_png(path: Path, size: tuple[int, int]) -> bool:
    """True if ``path`` decodes as an image of ``size`` (width, height)."""
    import imageio.v3 as iio

    try:
        img = iio.imread(path, extension=".png")
    except Exception:  # noqa: BLE001 - any decode failure means "re-render"
        return False
    return img.ndim == 3 and img.shape[0] == size[1] and img.shape[1] == size[0]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


_INPUT_KEYS = ("scene", "scene_sha256", "camera", "frame", "size", "color_by", "label_top", "title", "instancing",
               "anti_aliasing")


def run_render_job(job_path: str | os.PathLike, *, executor: str = "local", workers: int | None = None,
                   scheduler: str | None = None, progress: bool | None = None,
                   on_item: Callable[[dict], None] | None = None) -> JobReport:
    """Run (or resume) a render job.

    Parameters
    ----------
    job_path
        The job YAML file.
    executor
        ``"local"`` (process pool on this machine) or ``"dask"``.
    workers
        Worker processes (default: the job's ``workers``, else the number of CPU
        cores, at most 8). With ``dask`` and ``scheduler``, the cluster's own workers.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``); implies ``dask``.
    progress
        Show a progress bar (default: on an interactive terminal only).
    on_item
        Called in the driver with each finished item record (for logging).

    Returns
    -------
    JobReport
        Items with their status (``rendered``, ``skipped``, ``failed``); ``ok`` is
        False when any item failed.
    """
    from .presets import parse_size

    t_start = time.perf_counter()
    job_path = Path(job_path)
    job = load_job(job_path)
    if scheduler:
        executor = "dask"
    if executor not in EXECUTORS:
        raise InputError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
    n_workers = int(workers or job.workers or min(os.cpu_count() or 1, 8))
    if n_workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}")
    base = job_path.resolve().parent
    out_dir = (base / job.output_dir).resolve()
    manifest_path = out_dir / job.manifest
    size = parse_size(job.size)
    previous = _read_manifest(manifest_path)
    prev_items = {it.get("output"): it for it in previous.get("items", [])}
    prev_scenes = previous.get("scenes", {})

    scenes = []
    for s in job.scenes:
        entry = JobScene(path=s) if isinstance(s, str) else s
        p = Path(entry.path)
        p = (base / p).resolve() if not p.is_absolute() else p
        scenes.append({"name": _scene_name(s), "path": p, "cameras": entry.cameras or job.cameras,
                       "frames": entry.frames if entry.frames is not None else job.frames,
                       "color_by": entry.color_by if entry.color_by is not None else job.color_by})

    out_dir.mkdir(parents=True, exist_ok=True)
    items: list[dict] = []
    started = _now()
    state: dict[str, Any] = {"last_write": 0.0, "ex": None}

    def get_ex():
        """The executor, started on first use (a resumed job with nothing to do starts none)."""
        if state["ex"] is None:
            state["ex"] = _LocalExecutor(n_workers) if executor == "local" else _DaskExecutor(n_workers, scheduler)
        return state["ex"]

    def n_used_workers() -> int:
        return state["ex"].workers if state["ex"] is not None else n_workers

    def write_manifest(final: bool = False) -> None:
        counts = JobReport(job.name, manifest_path, out_dir, items, executor, n_used_workers(), 0.0).counts
        if not final:
            status = "running"
        elif any(it["status"] == "pending" for it in items):
            status = "interrupted"
        else:
            status = "complete" if counts["failed"] == 0 else "failed"
        doc = {"version": MANIFEST_VERSION, "job": job.name, "job_file": str(job_path.resolve()), "status": status,
               "started": started, "updated": _now(), "executor": executor, "workers": n_used_workers(),
               "size": list(size), "counts": counts, "scenes": scene_info,
               "items": [{k: v for k, v in it.items() if not k.startswith("_")} for it in items]}
        with atomic_path(manifest_path) as tmp:
            tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        state["last_write"] = time.perf_counter()

    scene_info: dict[str, dict] = {}
    try:
        # 1. frame counts: from the previous manifest when the file is unchanged, else probed by a worker
        probes = {}
        for s in scenes:
            if not s["path"].is_file():
                scene_info[s["name"]] = {"path": str(s["path"]), "error": f"{s['path']}: no such scene file"}
                continue
            digest = file_sha256(s["path"])
            old = prev_scenes.get(s["name"])
            if old and old.get("sha256") == digest and "n_frames" in old and old.get("path") == str(s["path"]):
                scene_info[s["name"]] = old
            else:
                probes[s["name"]] = str(s["path"])

        def probe_done(name, res):
            s = next(x for x in scenes if x["name"] == name)
            if res.get("status") == "failed":  # the worker died while loading
                res = {"ok": False, "error": res["error"]}
            if res["ok"]:
                scene_info[name] = {"path": str(s["path"]), "sha256": res["sha256"], "n_frames": res["n_frames"],
                                    "times": res["times"]}
            else:
                scene_info[name] = {"path": str(s["path"]), "error": res["error"]}

        if probes:
            _execute(get_ex(), probe_scene, list(probes.items()), probe_done)

        # 2. items (each a small record: refuse a job whose list would not fit in memory)
        from ..budgets import check_memory

        n_items = sum(len(s["cameras"]) * (1 if "error" in scene_info[s["name"]] else
                                           _frame_count(s["frames"], scene_info[s["name"]]["n_frames"]))
                      for s in scenes)
        check_memory(float(n_items) * BYTES_PER_ITEM, f"{job_path}: the job's item list",
                     detail=f"{n_items:,} scene x camera x frame items x {BYTES_PER_ITEM} B")
        seen_outputs: dict[Path, str] = {}
        for s in scenes:
            info = scene_info[s["name"]]
            # a scene that cannot be loaded gives one failed item per camera
            frames = [None] if "error" in info else _frames_for(s["frames"], info["n_frames"])
            for cam in s["cameras"]:
                for f in frames:
                    rel = None if f is None else job.pattern.format(scene=s["name"], camera=cam, frame=f)
                    if rel is not None:
                        out = (out_dir / rel).resolve()
                        if out_dir not in out.parents:
                            raise InputError(f"{job_path}: pattern {job.pattern!r} puts {rel!r} outside "
                                             f"output_dir {out_dir}; outputs must stay inside it")
                        if out in seen_outputs:
                            raise InputError(f"{job_path}: pattern {job.pattern!r} gives the same output {rel} for "
                                             f"{seen_outputs[out]} and {s['name']}/{cam}/{f}")
                        seen_outputs[out] = f"{s['name']}/{cam}/{f}"
                    times = info.get("times")
                    item = {"output": rel, "scene": s["name"], "scene_path": str(s["path"]),
                            "scene_sha256": info.get("sha256"), "camera": cam, "frame": f,
                            "time_s": None if (times is None or f is None or not 0 <= f < len(times)) else times[f],
                            "size": list(size), "color_by": s["color_by"], "label_top": job.label_top,
                            "title": job.title, "instancing": job.instancing, "anti_aliasing": job.anti_aliasing,
                            "status": "pending",
                            "render_s": None, "worker": None, "png_sha256": None, "error": None}
                    if "error" in info:
                        item.update(status="failed", error=info["error"])
                    items.append(item)
        _clean_stale_temp(out_dir, [it["output"] for it in items if it["output"]])
        state["items_ready"] = True  # from here on the manifest is rewritten, even on errors

        # 3. resume: skip valid outputs whose recorded inputs match
        todo = []
        for it in items:
            if it["status"] != "pending":
                continue
            path = out_dir / it["output"]
            old = prev_items.get(it["output"])
            same_inputs = old is None or all(old.get(k) == it.get(k) for k in _INPUT_KEYS)
            if path.is_file() and same_inputs and _valid_png(path, size):
                it.update(status="skipped", png_sha256=(old or {}).get("png_sha256") or file_sha256(path),
                          render_s=(old or {}).get("render_s"), worker=(old or {}).get("worker"))
            else:
                todo.append(it)
        write_manifest()

        # 4. render
        with progress_bar(f"render job {job.name}", total=len(todo), enabled=progress) as advance:
            def item_done(it, res):
                _finish(it, res, out_dir)
                advance(1, ok=it["status"] == "rendered")
                if on_item is not None:
                    on_item(dict(it))
                if time.perf_counter() - state["last_write"] > 1.0:
                    write_manifest()

            tasks = []
            for it in todo:
                tasks.append((it, {"scene_path": it["scene_path"], "scene_sha256": it["scene_sha256"],
                                   "camera": it["camera"], "frame": it["frame"], "size": it["size"],
                                   "color_by": it["color_by"], "label_top": it["label_top"], "title": it["title"],
                                   "instancing": it["instancing"], "anti_aliasing": it["anti_aliasing"],
                                   "scene_name": it["scene"]}))
            if tasks:
                _execute(get_ex(), render_item, tasks, item_done)
    finally:
        try:
            if state.get("items_ready"):  # a job refused before its items exist leaves the manifest as it was
                write_manifest(final=True)
        finally:
            if state["ex"] is not None:
                state["ex"].close()
    return JobReport(job.name, manifest_path, out_dir, items, executor, n_used_workers(), time.perf_counter() - t_start)


def _execute(ex, fn, tasks: list[tuple[Any, Any]], done: Callable[[Any, dict], None]) -> None:
    """Run ``fn(arg)`` for every ``(key, arg)``; call ``done(key, result)`` as each finishes.

    Exceptions become ``{"status": "failed", "error": ...}`` results. When a local
    worker process dies (the pool breaks), the pool is rebuilt and the unfinished
    tasks are submitted again; a task caught in too many breaks fails.
    """
    pending = list(tasks)
    attempts: dict[int, int] = {}
    while pending:
        futures = {ex.submit(fn, arg): (key, arg) for key, arg in pending}
        pending = []
        broken = False
        for fut in ex.as_completed(list(futures)):
            key, arg = futures[fut]
            try:
                res = ex.result(fut)
            except Exception as exc:  # noqa: BLE001 - reported per task
                if ex.is_broken(exc):
                    broken = True
                    attempts[id(key)] = attempts.get(id(key), 0) + 1
                    if attempts[id(key)] < _MAX_POOL_RESTARTS:
                        pending.append((key, arg))
                        continue
                    res = {"status": "failed", "error": "a worker process died while working on this item"}
                else:
                    res = {"status": "failed", "error": _describe(exc)}
            done(key, res)
        if broken and pending:
            if ex.restarts >= _MAX_POOL_RESTARTS:
                for key, _ in pending:
                    done(key, {"status": "failed", "error": "worker processes keep dying; gave up"})
                return
            ex.restart()


def _finish(it: dict, res: dict, out_dir: Path) -> None:
    it["render_s"] = res.get("render_s")
    it["worker"] = res.get("worker")
    if res.get("status") == "rendered":
        png = res["png"]
        path = out_dir / it["output"]
        try:
            with atomic_path(path) as tmp:
                tmp.write_bytes(png)
        except OSError as exc:
            it.update(status="failed", error=f"cannot write {path}: {exc}")
            return
        it.update(status="rendered", png_sha256=hashlib.sha256(png).hexdigest(), error=None,
                  time_s=res.get("time_s", it.get("time_s")))
    else:
        it.update(status="failed", error=res.get("error", "unknown error"))


def _read_manifest(path: Path) -> dict:
    """The previous run's manifest, keeping only entries of the shape this module writes.

    A manifest is only a cache (what is already rendered, each scene's frame count): an
    unreadable one, or entries of the wrong shape (a hand-edited or hostile file), are
    ignored, so those scenes are probed and those outputs checked again.
    """
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}  # an unreadable manifest only means nothing can be trusted from it
    if not isinstance(doc, dict) or doc.get("version") != MANIFEST_VERSION:
        return {}
    items = doc.get("items")
    scenes = doc.get("scenes")
    return {
        "items": [it for it in items if isinstance(it, dict) and isinstance(it.get("output"), str)]
        if isinstance(items, list) else [],
        "scenes": {name: info for name, info in scenes.items() if _valid_scene_info(info)}
        if isinstance(scenes, dict) else {},
    }


def _valid_scene_info(info: Any) -> bool:
    """A probed scene as :func:`run_render_job` records it: path, SHA-256, frame count and times."""
    if not isinstance(info, dict) or not isinstance(info.get("path"), str) or not isinstance(info.get("sha256"), str):
        return False
    n = info.get("n_frames")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        return False
    times = info.get("times")
    if times is None:
        return True
    return (isinstance(times, list) and len(times) == n
            and all(isinstance(t, (int, float)) and not isinstance(t, bool) and np.isfinite(t) for t in times))


def _clean_stale_temp(out_dir: Path, outputs: Iterable[str]) -> None:
    """Remove temporary files an interrupted run left next to this job's outputs."""
    stems: dict[Path, set[str]] = {}
    for rel in outputs:
        p = out_dir / rel
        stems.setdefault(p.parent, set()).add(p.stem)
    for folder, names in stems.items():
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            n = entry.name
            if n.startswith(".") and n.endswith(".tmp.png") and n[1:].split(".", 1)[0] in names:
                try:
                    entry.unlink()
                except OSError:
                    pass
