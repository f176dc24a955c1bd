"""The TensorFlow backend of the thermal PINN (optional extra: ``pip install 'twin3d[tf]'``).

Same mathematics as the torch backend (:mod:`._core`), same initial weights and
collocation points (drawn with NumPy), Adam from Keras and the same SciPy L-BFGS-B, so
both backends train to the same results up to floating-point rounding.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import numpy as np
import tensorflow as tf

from . import _core

__all__ = ["BACKEND", "TensorFlowBackend"]

_DTYPES = {"float32": tf.float32, "float64": tf.float64}
#: XLA-compile the loss/gradient used by L-BFGS (measured 1.4-1.7x less CPU per
#: evaluation on the rod and plate problems than plain tf.function).
_JIT = True


class _Ops:
    matmul = staticmethod(tf.matmul)
    tanh = staticmethod(tf.tanh)
    reshape = staticmethod(tf.reshape)
    mean = staticmethod(tf.reduce_mean)

    @staticmethod
    def sum0(x: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(x, axis=0)


class TensorFlowNetwork:
    def __init__(self, arrays: list[np.ndarray], dtype: str) -> None:
        self.dtype = _DTYPES[dtype]
        self.np_dtype = np.float32 if dtype == "float32" else np.float64
        self.vars = [tf.Variable(a.astype(self.np_dtype), dtype=self.dtype) for a in arrays]
        self._shapes = [tuple(a.shape) for a in arrays]
        self._sizes = [int(np.prod(s)) for s in self._shapes]
        self._C: dict[str, tf.Tensor] | None = None
        self._forward = tf.function(
            lambda x: _core.forward(_Ops, self.vars, x),
            input_signature=[tf.TensorSpec([None, self._shapes[0][0]], self.dtype)],
            reduce_retracing=True,
        )

    # -- weights
    def arrays(self) -> list[np.ndarray]:
        return [v.numpy().astype(np.float64) for v in self.vars]

    def get_flat(self) -> np.ndarray:
        return np.concatenate([v.numpy().reshape(-1) for v in self.vars]).astype(np.float64)

    def set_flat(self, vec: np.ndarray) -> None:
        parts = np.split(np.asarray(vec, dtype=self.np_dtype), np.cumsum(self._sizes)[:-1])
        for v, p, s in zip(self.vars, parts, self._shapes):
            v.assign(p.reshape(s))

    # -- inference
    def predict(self, x: np.ndarray, batch_size: int = 65536) -> np.ndarray:
        out = np.empty(x.shape[0], dtype=np.float64)
        for s in range(0, x.shape[0], batch_size):
            xb = tf.convert_to_tensor(np.ascontiguousarray(x[s : s + batch_size], dtype=self.np_dtype))
            out[s : s + batch_size] = self._forward(xb).numpy()[:, 0]
        return out

    # -- training
    def set_training(self, constants: dict[str, np.ndarray], dims: int, bc_weight: float) -> None:
        C = {k: tf.constant(v.astype(self.np_dtype)) for k, v in constants.items()}
        self._C = C
        variables = self.vars
        sizes, shapes = self._sizes, self._shapes

        def loss_fn() -> tf.Tensor:
            return _core.loss(_Ops, variables, C, dims, bc_weight)

        @tf.function(jit_compile=_JIT)
        def value_and_grad_flat(flat: tf.Tensor):
            for v, p, s in zip(variables, tf.split(flat, sizes), shapes):
                v.assign(tf.reshape(p, s))
            with tf.GradientTape() as tape:
                value = loss_fn()
            grads = tape.gradient(value, variables)
            return value, tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0)

        self._loss_fn = loss_fn
        self._vg = value_and_grad_flat

    def adam(self, lr: float) -> Callable[[], float]:
        opt = tf.keras.optimizers.Adam(learning_rate=lr, epsilon=1e-8)
        variables = self.vars
        loss_fn = self._loss_fn

        @tf.function
        def step() -> tf.Tensor:
            with tf.GradientTape() as tape:
                value = loss_fn()
            grads = tape.gradient(value, variables)
            opt.apply_gradients(zip(grads, variables))
            return value

        return lambda: float(step().numpy())

    def value_and_grad(self, vec: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = self._vg(tf.constant(np.asarray(vec, dtype=self.np_dtype)))
        return float(value.numpy()), grad.numpy().astype(np.float64)


class TensorFlowBackend:
    """TensorFlow 2 (eager + ``tf.function``), CPU."""

    name = "tensorflow"
    suffix = ".npz"

    @contextlib.contextmanager
    def threads(self, n: int | None) -> Iterator[None]:
        # TensorFlow fixes its thread pools when its runtime starts; set them if that
        # has not happened yet, else keep the running configuration.
        if n is not None:
            try:
                if tf.config.threading.get_intra_op_parallelism_threads() != int(n):
                    tf.config.threading.set_intra_op_parallelism_threads(int(n))
                    tf.config.threading.set_inter_op_parallelism_threads(int(n))
            except RuntimeError:
                pass
        yield

    def network(self, arrays: list[np.ndarray], dtype: str) -> TensorFlowNetwork:
        return TensorFlowNetwork(arrays, dtype)

    def save(self, path: str, config: dict[str, Any], arrays: list[np.ndarray]) -> None:
        """Weights and JSON config in one ``.npz`` (no pickled objects; read with allow_pickle=False)."""
        from .pinn import write_npz

        write_npz(path, config, arrays, config["dtype"])


BACKEND = TensorFlowBackend()
