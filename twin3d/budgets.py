"""Resource budgets: refuse a request at once when its estimated memory is too large.

Values that a schema allows can still ask for more than any machine has — ``repeat.count``
10^6, ``steps`` 10^10, a NIfTI header claiming 3000³ voxels, a ``hidden`` layer of 100,000
units. Before allocating, the code that would allocate estimates the bytes from the
request and calls :func:`check_memory`; above the budget it raises
:class:`~twin3d.errors.BudgetError` with the estimate, the limit and how to raise it,
instead of a ``MemoryError`` traceback minutes later (or the kernel's OOM killer).

The budget is, in order of precedence:

1. ``--max-memory SIZE`` on a command, or ``with twin3d.budgets.memory_budget_set(SIZE):``
   in Python;
2. the environment variable ``TWIN3D_MAX_MEMORY`` (e.g. ``32G``, ``512M``, ``1.5T``,
   plain bytes);
3. half of this machine's physical memory.

Estimates count the main arrays a request allocates (not Python overheads), so they are
lower bounds: a request refused is certain not to fit.

Some requests fit in memory but would run for hours: a million ``repeat`` copies (each
asset costs about half a millisecond to build, more to write), or tens of millions of
simulated sensor steps. Those are bounded by *count limits* (:data:`COUNT_LIMITS`,
checked with :func:`check_count`), each with its own environment variable and a
default sized to take a minute or a few on a laptop:

=========  ======================  ==========  ===============================================
limit      environment variable    default     counts
=========  ======================  ==========  ===============================================
assets     ``TWIN3D_MAX_ASSETS``   100,000     assets one scene spec builds (repeat copies count)
steps      ``TWIN3D_MAX_STEPS``    10,000,000  sensor steps one build generates: assets with
                                               sensors x timeline steps; and, on its own, the
                                               machine-steps simulated to train a ``risk`` model
=========  ======================  ==========  ===============================================

In Python, ``with twin3d.budgets.count_limit_set("assets", 10**6): ...`` raises one.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

from .errors import BudgetError, InputError

__all__ = ["ENV_MEMORY", "memory_budget", "memory_budget_set", "parse_size", "format_size", "check_memory",
           "CountLimit", "COUNT_LIMITS", "count_limit", "count_limit_set", "check_count"]

#: Environment variable holding the memory budget.
ENV_MEMORY = "TWIN3D_MAX_MEMORY"

_OVERRIDE: ContextVar[int | None] = ContextVar("twin3d_memory_budget", default=None)
_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str | int | float, *, what: str = "size") -> int:
    """``"32G"``, ``"512M"``, ``"1.5T"``, ``"4096"`` (bytes; binary units, optional ``B``/``iB``) -> bytes."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([KMGTkmgt]?)(?:i?[Bb])?\s*", str(text))
        if not m:
            raise InputError(f"{what} {text!r}: expected a size such as 512M, 32G or 1.5T")
        value, unit = float(m.group(1)), m.group(2).upper()
    nbytes = value * _UNITS[unit]
    if not (nbytes >= 1) or nbytes != nbytes or nbytes > 2**62:
        raise InputError(f"{what} {text!r}: expected a size between 1 byte and 4 EiB")
    return int(nbytes)


def format_size(nbytes: float) -> str:
    """Bytes as a short human size (``745 GiB``, ``3.2 MiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" or abs(nbytes) >= 100 else f"{nbytes:.3g} {unit}"
        nbytes /= 1024
    return f"{nbytes:.3g} EiB"  # pragma: no cover


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not POSIX
        return 16 * 1024**3


def memory_budget() -> int:
    """The memory budget in bytes (see the module docstring for where it comes from)."""
    override = _OVERRIDE.get()
    if override is not None:
        return override
    env = os.environ.get(ENV_MEMORY, "").strip()
    if env:
        return parse_size(env, what=ENV_MEMORY)
    return _physical_memory() // 2


@contextmanager
def memory_budget_set(size: str | int) -> Iterator[int]:
    """Use ``size`` (bytes or ``"32G"``) as the memory budget inside the block."""
    token = _OVERRIDE.set(parse_size(size, what="--max-memory"))
    try:
        yield _OVERRIDE.get()
    finally:
        _OVERRIDE.reset(token)


def check_memory(nbytes: float, what: str, *, detail: str = "") -> None:
    """Raise :class:`BudgetError` when ``nbytes`` (an estimate for ``what``) exceeds the budget.

    ``detail`` says how the estimate was made (``"10^5 machines × 10^6 steps × 8 columns
    × 8 B"``); the message gives estimate, limit and the ways to raise it.
    """
    limit = memory_budget()
    if nbytes != nbytes or nbytes > limit:  # NaN estimates are refused too
        how = f" ({detail})" if detail else ""
        raise BudgetError(
            f"{what} needs about {format_size(nbytes)}{how}, above the memory budget of {format_size(limit)}; "
            f"raise it with --max-memory SIZE or {ENV_MEMORY}=SIZE if the machine has the memory")


# --------------------------------------------------------------------------- count limits
@dataclass(frozen=True)
class CountLimit:
    """A documented limit on how many things one request may ask for (see the module docstring)."""

    #: Key used with :func:`check_count` (``"assets"``, ``"steps"``).
    key: str
    #: Environment variable that raises (or lowers) it.
    env: str
    #: The limit when the variable is not set.
    default: int
    #: What is counted, for messages and documentation.
    counts: str
    #: Unit word of the count (``"assets"``, ``"steps"``).
    unit: str
    #: What one limit covers, for messages (``"per scene"``).
    scope: str


#: The count limits: key -> :class:`CountLimit`.
COUNT_LIMITS: dict[str, CountLimit] = {
    "assets": CountLimit("assets", "TWIN3D_MAX_ASSETS", 100_000,
                         "assets one scene spec builds (every repeat copy counts)", "assets", "per scene"),
    "steps": CountLimit("steps", "TWIN3D_MAX_STEPS", 10_000_000,
                        "sensor steps one scene build generates (assets with sensors x timeline steps; "
                        "on its own, the machine-steps simulated to train a risk model)", "steps", "per scene build"),
}

_COUNT_OVERRIDES: ContextVar[dict[str, int]] = ContextVar("twin3d_count_limits", default={})


def _limit_spec(key: str) -> CountLimit:
    try:
        return COUNT_LIMITS[key]
    except KeyError:
        raise InputError(f"no count limit {key!r}; valid: {', '.join(COUNT_LIMITS)}") from None


def _parse_count(text: str | int, what: str) -> int:
    try:
        value = int(str(text).replace("_", "").replace(",", "").strip())
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(f"{what} {text!r}: expected a whole number >= 1")
    return value


def count_limit(key: str) -> int:
    """The current limit ``key`` (``"assets"``, ``"steps"``): :func:`count_limit_set`, its
    environment variable, else its default."""
    spec = _limit_spec(key)
    override = _COUNT_OVERRIDES.get().get(key)
    if override is not None:
        return override
    env = os.environ.get(spec.env, "").strip()
    return _parse_count(env, spec.env) if env else spec.default


@contextmanager
def count_limit_set(key: str, value: int) -> Iterator[int]:
    """Use ``value`` as the limit ``key`` inside the block."""
    _limit_spec(key)
    limits = dict(_COUNT_OVERRIDES.get())
    limits[key] = _parse_count(value, f"limit {key!r}")
    token = _COUNT_OVERRIDES.set(limits)
    try:
        yield limits[key]
    finally:
        _COUNT_OVERRIDES.reset(token)


def check_count(key: str, count: float, what: str, *, detail: str = "") -> None:
    """Raise :class:`BudgetError` when ``count`` exceeds the limit ``key``.

    ``what`` says what asked for it (``"assets[0].repeat.count"``), ``detail`` how the
    count was made (``"8 assets x 10,000,000 steps"``); the message gives the count, the
    limit and the variable that raises it.
    """
    spec = _limit_spec(key)
    limit = count_limit(key)
    if count != count or count > limit:
        how = f" ({detail})" if detail else ""
        raise BudgetError(
            f"{what} asks for {count:,.0f} {spec.unit}{how}, above the limit of {limit:,} {spec.unit} {spec.scope}; "
            f"raise it with {spec.env}=N if the machine has the time")
