"""Sensor tables: reading CSV files, canonical column names, checking columns and values.

A *sensor table* is a :class:`pandas.DataFrame` with one row per reading and one column
per quantity (canonical names: :mod:`twin3d.sensors.schema`). :func:`read_sensor_csv`
reads a CSV file in the AI4I schema or any schema with a column mapping
(:func:`canonical_columns`); any other numeric table (temperature, vibration,
pressure...) works too: :func:`training_table` splits a table into features and a
target column.

Every check raises :class:`~twin3d.errors.InputError` that says what was wrong and
where: missing columns (listing the available ones), non-numeric, NaN or infinite
values (with row numbers and, for CSV files, file lines; nothing is silently dropped),
empty files. A CSV file that does not exist raises :class:`~twin3d.errors.MissingFileError`.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError, require_file
from .schema import AI4I_COLUMNS, AI4I_QUANTITIES, HEADER_TO_CANONICAL, PRODUCT_TYPES

__all__ = [
    "read_sensor_csv",
    "canonical_columns",
    "require_columns",
    "check_numeric",
    "product_type_codes",
    "training_table",
    "source_prefix",
    "row_references",
]


def read_sensor_csv(
    path: str | os.PathLike,
    *,
    columns: Mapping[str, str] | None = None,
    required: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read a CSV sensor table; AI4I headers and mapped columns get canonical names.

    Parameters
    ----------
    path
        CSV file (first line: column names).
    columns
        Optional mapping ``canonical name -> column in the file`` for files in a user
        schema, e.g. ``{"air_temperature": "T_amb", "torque": "M"}``. AI4I 2020 headers
        are recognised without a mapping.
    required
        Canonical columns that must be present (after mapping); checked for numeric,
        finite values (``product_type`` for valid L/M/H codes).

    Returns
    -------
    pandas.DataFrame
        The table with canonical column names; ``attrs["source"]`` is the path.

    Raises
    ------
    MissingFileError
        The file does not exist (an :class:`InputError` and a ``FileNotFoundError``).
    InputError
        A folder, an empty file, unreadable CSV, missing columns (lists missing and
        available), non-numeric / NaN / infinite values (with row and file-line numbers).
    OSError
        The file cannot be opened.
    """
    path = require_file(path, what="sensor CSV file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (expected a header line and data rows)")
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty (expected a header line and data rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV file: {str(exc).strip()}") from None
    if table.shape[0] == 0:
        raise InputError(f"{path}: the file has a header but no data rows")
    table.attrs["source"] = str(path)
    table.attrs["csv"] = True
    table = canonical_columns(table, columns)
    if required:
        require_columns(table, required)
        for name in required:
            if name == "product_type":
                product_type_codes(table["product_type"], table=table)
        check_numeric(table, [c for c in required if c != "product_type"])
    return table


def canonical_columns(table: pd.DataFrame, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Rename mapped columns (``canonical -> file column``) and AI4I headers to canonical names."""
    attrs = dict(table.attrs)
    where = source_prefix(table)
    rename: dict[str, str] = {}
    if columns:
        from ..scene import valid_name

        missing = [src for src in columns.values() if src not in table.columns]
        if missing:
            raise InputError(
                f"{where}column mapping names columns that are not in the table: {missing}; "
                f"available columns: {list(map(str, table.columns))}"
            )
        for canon, src in columns.items():
            valid_name(canon)
            rename[src] = canon
    for col in table.columns:
        if col not in rename and col in HEADER_TO_CANONICAL and HEADER_TO_CANONICAL[col] not in table.columns:
            rename[col] = HEADER_TO_CANONICAL[col]
    out = table.rename(columns=rename)
    dup = out.columns[out.columns.duplicated()].tolist()
    if dup:
        raise InputError(f"{where}columns {dup} appear twice after applying the column mapping {dict(columns or {})}")
    out.attrs.update(attrs)
    original = dict(attrs.get("original_columns", {}))
    for src, canon in rename.items():
        original[canon] = original.get(src, src)
    out.attrs["original_columns"] = original
    return out


def require_columns(table: pd.DataFrame, names: Sequence[str], *, source: str | None = None) -> None:
    """Raise :class:`InputError` listing the missing and the available columns."""
    missing = [n for n in names if n not in table.columns]
    if missing:
        hint = ""
        ai4i = [AI4I_COLUMNS.get(n) for n in missing if n in AI4I_COLUMNS]
        if ai4i:
            hint = f" (AI4I headers {ai4i} are recognised too; otherwise map them with a column mapping)"
        raise InputError(
            f"{source_prefix(table, source)}missing columns {missing}{hint}; available columns: {list(map(str, table.columns))}"
        )


def check_numeric(table: pd.DataFrame, names: Sequence[str], *, source: str | None = None) -> np.ndarray:
    """Check columns hold finite numbers; return them as a float64 array (rows x columns).

    Raises :class:`InputError` naming the column and the rows (and CSV lines) with
    non-numeric, missing (NaN) or infinite values. Nothing is dropped.
    """
    where = source_prefix(table, source)
    out = np.empty((len(table), len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        col = table[name]
        if pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
            vals = col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            vals = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            bad = np.flatnonzero(np.isnan(vals) & col.notna().to_numpy())
            if bad.size:
                examples = ", ".join(repr(col.iloc[i]) for i in bad[:3])
                raise InputError(
                    f"{where}column {name!r} has non-numeric values at {row_references(table, bad)}: {examples}; "
                    "expected numbers"
                )
        nan = np.flatnonzero(np.isnan(vals))
        if nan.size:
            raise InputError(f"{where}column {name!r} has missing (NaN/empty) values at {row_references(table, nan)}")
        inf = np.flatnonzero(np.isinf(vals))
        if inf.size:
            raise InputError(f"{where}column {name!r} has infinite values at {row_references(table, inf)}")
        out[:, j] = vals
    return out


def product_type_codes(values: pd.Series | np.ndarray | Sequence, *, table: pd.DataFrame | None = None,
                       source: str | None = None) -> np.ndarray:
    """Product quality L / M / H (or codes 0 / 1 / 2) -> float codes 0 / 1 / 2.

    Raises :class:`InputError` with the rows of any other value.
    """
    ser = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object))
    ref = table if table is not None else pd.DataFrame(index=ser.index)
    where = source_prefix(ref, source)
    if pd.api.types.is_numeric_dtype(ser.dtype) and not pd.api.types.is_bool_dtype(ser.dtype):
        codes = ser.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(~np.isin(codes, (0.0, 1.0, 2.0)))
    else:
        # factorize once, normalise the few distinct values (fast on millions of rows)
        idx, uniques = pd.factorize(ser, use_na_sentinel=True)
        table_codes = np.array(
            [PRODUCT_TYPES.index(u.strip().upper()) if isinstance(u, str) and u.strip().upper() in PRODUCT_TYPES
             else (float(u) if _is_code(u) else -1.0) for u in uniques] + [-1.0],
            dtype=np.float64,
        )
        codes = table_codes[idx]  # NaN sentinel -1 picks the trailing -1
        bad = np.flatnonzero(codes < 0)
    if bad.size:
        examples = ", ".join(repr(ser.iloc[i]) for i in bad[:3])
        raise InputError(
            f"{where}column 'product_type' has invalid values at {row_references(ref, bad)}: {examples}; "
            f"valid: {', '.join(PRODUCT_TYPES)} (or codes 0, 1, 2)"
        )
    return codes


def _is_code(u: Any) -> bool:
    """A numeric product code 0/1/2 given as a number (in an object column)."""
    if isinstance(u, (bool, np.bool_)) or isinstance(u, str):
        return False
    try:
        return float(u) in (0.0, 1.0, 2.0)
    except (TypeError, ValueError):
        return False


def training_table(
    table: pd.DataFrame,
    *,
    target: str | None = None,
    features: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Split a sensor table into model inputs ``X`` and 0/1 labels ``y``.

    - AI4I tables (all six process variables present, canonical or AI4I headers):
      ``X`` is those six columns; the target defaults to ``machine_failure``. IDs
      (``UDI``, ``Product ID``) and the failure-mode flags are left out.
    - Any other table: the target must be given; ``X`` is ``features`` or every other
      column, which must all be numeric (the message lists offending columns).

    Raises :class:`InputError` for a missing target/feature column, non-numeric or
    non-finite values (with rows), and a target that is not two classes.
    """
    table = canonical_columns(table)
    where = source_prefix(table)
    if target is not None and target not in table.columns and target in HEADER_TO_CANONICAL:
        target = HEADER_TO_CANONICAL[target]
    is_ai4i = all(q in table.columns for q in AI4I_QUANTITIES)
    if target is None:
        if "machine_failure" in table.columns:
            target = "machine_failure"
        else:
            raise InputError(
                f"{where}no target column given and no 'Machine failure' column found; "
                f"name the label column (--target); available columns: {list(map(str, table.columns))}"
            )
    require_columns(table, [target])
    if features is None:
        if is_ai4i and target not in AI4I_QUANTITIES:
            features = list(AI4I_QUANTITIES)
        else:
            features = [c for c in table.columns if c != target]
            non_numeric = [
                c for c in features
                if not (pd.api.types.is_numeric_dtype(table[c].dtype) or c == "product_type")
                and pd.to_numeric(table[c], errors="coerce").isna().all()
            ]
            if non_numeric:
                raise InputError(
                    f"{where}columns {non_numeric} are not numeric; choose the feature columns explicitly "
                    f"(--features) or drop them; numeric columns: "
                    f"{[c for c in features if c not in non_numeric]}"
                )
    else:
        features = [(HEADER_TO_CANONICAL.get(f, f) if f not in table.columns else f) for f in features]
        require_columns(table, list(features))
        if target in features:
            raise InputError(f"{where}the target column {target!r} cannot also be a feature")
    if not features:
        raise InputError(f"{where}no feature columns left besides the target {target!r}")
    X = table[list(features)].copy()
    X.attrs.update(table.attrs)
    # validate now so errors name the file and lines
    num = [c for c in features if c != "product_type"]
    check_numeric(X, num)
    if "product_type" in X.columns:
        product_type_codes(X["product_type"], table=X)
    y = _binary_target(table, target)
    return X, y, target


def _binary_target(table: pd.DataFrame, target: str) -> np.ndarray:
    where = source_prefix(table)
    col = table[target]
    if col.isna().any():
        raise InputError(f"{where}target column {target!r} has missing values at {row_references(table, np.flatnonzero(col.isna().to_numpy()))}")
    if pd.api.types.is_bool_dtype(col.dtype):
        y = col.to_numpy().astype(np.int64)
    else:
        vals = pd.to_numeric(col, errors="coerce")
        bad = np.flatnonzero(vals.isna().to_numpy())
        if bad.size:
            raise InputError(f"{where}target column {target!r} must hold 0/1 labels; non-numeric at {row_references(table, bad)}")
        v = vals.to_numpy(dtype=np.float64)
        wrong = np.flatnonzero(~np.isin(v, (0.0, 1.0)))
        if wrong.size:
            raise InputError(
                f"{where}target column {target!r} must hold 0/1 labels (1 = failure); "
                f"other values at {row_references(table, wrong)}: {sorted(set(v[wrong][:5].tolist()))}"
            )
        y = v.astype(np.int64)
    classes = np.unique(y)
    if classes.size < 2:
        raise InputError(
            f"{where}target column {target!r} has a single class ({int(classes[0])} in all {y.size} rows); "
            "training needs both failures (1) and normal rows (0)"
        )
    return y


# --------------------------------------------------------------------------- message helpers
def source_prefix(table: pd.DataFrame, source: str | None = None) -> str:
    """``"path: "`` (``source``, else the table's ``attrs["source"]``) to start a message, or ``""``."""
    src = source or table.attrs.get("source")
    return f"{src}: " if src else ""


def row_references(table: pd.DataFrame, positions: np.ndarray, limit: int = 10) -> str:
    """Human row references for integer positions: data rows and, for CSV files, lines."""
    positions = np.asarray(positions)
    shown = positions[:limit]
    more = f" (and {positions.size - limit} more)" if positions.size > limit else ""
    rows = ", ".join(str(int(p) + 1) for p in shown)
    if table.attrs.get("csv"):
        lines = ", ".join(str(int(p) + 2) for p in shown)
        return f"rows {rows}{more} (file lines {lines})"
    return f"rows {rows}{more}"
