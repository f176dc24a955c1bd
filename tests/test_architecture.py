"""The layout rules a newcomer relies on, checked on the source: no import circles, no
private names imported across modules, the spec layer and the reader layer kept apart,
every package listed for the wheel, and a fast start for ``twin3d --help`` / ``info``."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "twin3d"

#: Must not be imported by ``twin3d --help`` or ``twin3d info FILE``.
HEAVY = ("sklearn", "pandas", "scipy", "torch", "tensorflow", "monai", "skops", "numba",
         "vtkmodules.vtkRenderingCore", "pyvista.plotting.plotter")


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _resolve(module: str, is_pkg: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _top_level_imports(path: Path, name: str) -> list[tuple[str, list[str]]]:
    """(imported module, names) for imports that run when the module is imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    out = []

    def visit(body):
        for node in body:
            if isinstance(node, ast.If):
                test = ast.unparse(node.test)
                if "TYPE_CHECKING" in test:
                    continue
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif isinstance(node, ast.Import):
                out.extend((a.name, []) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                out.append((_resolve(name, is_pkg, node.level, node.module), [a.name for a in node.names]))

    visit(tree.body)
    return out


def _all_imports(path: Path, name: str) -> list[tuple[str, list[str]]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    return [(_resolve(name, is_pkg, n.level, n.module), [a.name for a in n.names])
            for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]


def test_no_import_circles():
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        for target, names in _top_level_imports(p, m):
            for cand in [f"{target}.{n}" for n in names] + [target]:
                if cand in mods and cand != m:
                    graph[m].add(cand)
                    break
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            strong(v)
    assert cycles == []


def test_no_private_names_imported_across_modules():
    mods = _modules()
    bad = []
    for m, p in mods.items():
        for target, names in _all_imports(p, m):
            for n in names:
                if n.startswith("_") and not n.startswith("__") and f"{target}.{n}" not in mods:
                    bad.append(f"{m}: from {target} import {n}")
    tests = [(t, _all_imports(t, "tests." + t.stem)) for t in (REPO / "tests").glob("*.py")]
    for t, imports in tests:
        for target, names in imports:
            if target.startswith("twin3d"):
                bad += [f"tests/{t.name}: from {target} import {n}" for n in names
                        if n.startswith("_") and not n.startswith("__")]
    assert bad == []


def test_reader_layer_never_imports_the_spec_layer():
    mods = _modules()
    for m, p in mods.items():
        if m == "twin3d.io" or m.startswith("twin3d.io."):
            targets = [t for t, _ in _all_imports(p, m)]
            assert not any(t == "twin3d.spec" or t.startswith("twin3d.sections") for t in targets), m


def test_every_package_is_listed_for_the_wheel():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {_module_name(p.parent) for p in PKG.rglob("__init__.py")}
    # data folders inside the package (the USD schema plugin)
    found |= {_module_name(d / "x.py").rsplit(".", 1)[0] for d in PKG.rglob("*") if d.is_dir()
              and d.name != "__pycache__" and any(f.suffix in (".json", ".usda") for f in d.iterdir())}
    # the repository's scenes/ and assets/ (and its data folders) are mapped into the package
    found |= {"twin3d.scenes", "twin3d.assets"} | {f"twin3d.assets.{d.name}" for d in (REPO / "assets").iterdir()
                                                  if d.is_dir() and not d.name.startswith((".", "_"))}
    assert listed == found


def _imported_by(*code_lines: str) -> list[str]:
    code = "\n".join([*code_lines, f"import sys; print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"])
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("HEAVY:")][-1]
    return [m for m in line.removeprefix("HEAVY:").split(",") if m]


def _run_cli(*args: str) -> str:
    return ("from twin3d.cli import app\n"
            "try:\n"
            f"    app({list(args)!r}, prog_name='twin3d', standalone_mode=False)\n"
            "except SystemExit:\n"
            "    pass\n")


@pytest.mark.parametrize("args", [("--help",), ("info", "scenes/factory_line.yaml"),
                                  ("info", "scenes/motor_thermal.yaml"), ("info", "scenes/anatomy_phantom.yaml")])
def test_fast_start_imports_no_heavy_library(args):
    assert _imported_by(_run_cli(*args)) == []


def test_fast_start_info_on_a_usd_file(tmp_path):
    from twin3d import Scene, write_usd
    from twin3d.equipment import equipment_asset

    scene = Scene("cell")
    scene.add(equipment_asset("motor", "electric_motor"))
    usd = write_usd(scene, tmp_path / "cell.usdc")
    assert _imported_by(_run_cli("info", str(usd))) == []


def test_python_dash_m_twin3d():
    res = subprocess.run([sys.executable, "-m", "twin3d", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "Usage: twin3d" in res.stdout and "render-job" in res.stdout
