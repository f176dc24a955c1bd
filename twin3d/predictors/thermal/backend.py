"""Backend selection for the thermal PINN: the one place torch vs TensorFlow is decided.

The backend is chosen by, in order: the explicit ``backend=`` argument, the
environment variable ``TWIN3D_BACKEND``, the default ``"torch"``. Backends are
imported lazily, on first use; importing twin3d never imports a framework, sets a
thread count or reads the environment.

A backend is an object with this small interface (see :class:`Backend`); the
mathematics lives in :mod:`._core` and is shared.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any, Callable, ContextManager, Protocol

import numpy as np

from ...errors import InputError

__all__ = ["ENV_VAR", "DEFAULT_BACKEND", "BACKENDS", "resolve_backend", "get_backend", "available_backends", "Backend", "Network"]

ENV_VAR = "TWIN3D_BACKEND"
DEFAULT_BACKEND = "torch"
#: backend name -> (implementing module, framework module it needs, install hint)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "torch": ("twin3d.predictors.thermal._torch", "torch", "pip install torch"),
    "tensorflow": ("twin3d.predictors.thermal._tensorflow", "tensorflow", "pip install 'twin3d[tf]'"),
}
_ALIASES = {"pytorch": "torch", "tf": "tensorflow"}
_LOADED: dict[str, "Backend"] = {}


class Network(Protocol):
    """A backend's trainable network (weights as framework variables)."""

    def arrays(self) -> list[np.ndarray]:
        """The weights as float64 NumPy arrays ``[W0 (in, out), b0, W1, b1, ...]``."""
        ...

    def predict(self, x: np.ndarray, batch_size: int = 262144) -> np.ndarray:
        """Network output N(x) for network inputs ``x`` (n, d + 1), as a float64 array (n,)."""
        ...

    def set_training(self, constants: dict[str, np.ndarray], dims: int, bc_weight: float) -> None:
        """Upload the loss constants (collocation points, transform, coefficients)."""
        ...

    def adam(self, lr: float) -> Callable[[], float]:
        """A function doing one Adam step on the loss and returning the loss before it."""
        ...

    def get_flat(self) -> np.ndarray: ...

    def set_flat(self, vec: np.ndarray) -> None: ...

    def value_and_grad(self, vec: np.ndarray) -> tuple[float, np.ndarray]:
        """Loss and its gradient at the flat weight vector ``vec`` (float64), for SciPy's L-BFGS-B."""
        ...


class Backend(Protocol):
    name: str

    def threads(self, n: int | None) -> ContextManager[None]:
        """Use ``n`` CPU threads inside the block (restored afterwards where possible)."""
        ...

    def network(self, arrays: list[np.ndarray], dtype: str) -> Network: ...

    def save(self, path: str, config: dict[str, Any], arrays: list[np.ndarray]) -> None:
        """Write weights + JSON config in this backend's safe format."""
        ...

    suffix: str


def resolve_backend(name: str | None = None) -> str:
    """The backend name to use: ``name``, else ``$TWIN3D_BACKEND``, else ``"torch"``."""
    source = "argument backend"
    if name is None or name == "":
        env = os.environ.get(ENV_VAR, "").strip()
        if env:
            name, source = env, f"environment variable {ENV_VAR}"
        else:
            return DEFAULT_BACKEND
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key not in BACKENDS:
        raise InputError(f"unknown thermal backend {name!r} (from {source}); valid: {sorted(BACKENDS)}")
    return key


def available_backends() -> list[str]:
    """Backends whose framework is installed (checked without importing it)."""
    return [k for k, (_, fw, _) in BACKENDS.items() if importlib.util.find_spec(fw) is not None]


def get_backend(name: str | None = None) -> Backend:
    """The backend object (imported on first use), see :func:`resolve_backend`."""
    key = resolve_backend(name)
    if key in _LOADED:
        return _LOADED[key]
    module, framework, hint = BACKENDS[key]
    if importlib.util.find_spec(framework) is None:
        raise InputError(f"thermal backend {key!r} needs {framework}, which is not installed ({hint})")
    if framework == "tensorflow":
        from ..._util import check_no_mesa_for_tensorflow

        check_no_mesa_for_tensorflow()
    mod = importlib.import_module(module)
    _LOADED[key] = mod.BACKEND
    return _LOADED[key]
