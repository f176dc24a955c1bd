"""Sensor streams: an AI4I 2020 process simulator, CSV tables, time alignment, sensors on assets.

Modules (data flows read -> align -> attach):

:mod:`~twin3d.sensors.schema`
    The AI4I 2020 schema: canonical names (``air_temperature``, ``torque``...), the AI4I
    headers, units, product types L/M/H, failure modes.
:mod:`~twin3d.sensors.simulator`
    :func:`simulate_ai4i`: the published AI4I 2020 generating process, seeded;
    :func:`to_ai4i_schema` for AI4I-style CSV files.
:mod:`~twin3d.sensors.tables`
    Sensor tables (:class:`pandas.DataFrame`): :func:`read_sensor_csv` (AI4I schema or a
    column mapping), column and value checks (:func:`require_columns`,
    :func:`check_numeric`, :func:`product_type_codes`) and :func:`training_table`
    (features and 0/1 target of any numeric table).
:mod:`~twin3d.sensors.streams`
    Per-machine streams on a timeline: :func:`machine_streams`, :func:`align_series`,
    :func:`attach_sensors` (a stream becomes an asset's sensors) and
    :func:`sensor_table` (read them back for the risk model).
:mod:`~twin3d.sensors.section`
    The per-asset ``sensors:`` section of scene specs: :data:`SensorSource`
    (:class:`SimulatorSource` or :class:`CsvSource`), applied by
    :func:`apply_sensor_source` / :func:`apply_sensor_sources` (and the spec loader).

Every check raises :class:`~twin3d.errors.InputError` that says what was wrong and
where (columns, rows, file lines); a missing file raises
:class:`~twin3d.errors.MissingFileError`.

Names are imported lazily: importing this package loads neither pandas nor SciPy.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_LAZY = {
    # schema
    "AI4I_QUANTITIES": "schema", "AI4I_COLUMNS": "schema", "AI4I_LABELS": "schema", "PRODUCT_TYPES": "schema",
    "SENSOR_UNITS": "schema", "FAILURE_MODES": "schema", "HEADER_TO_CANONICAL": "schema",
    # simulator
    "simulate_ai4i": "simulator", "to_ai4i_schema": "simulator",
    # tables
    "read_sensor_csv": "tables", "canonical_columns": "tables", "require_columns": "tables",
    "check_numeric": "tables", "product_type_codes": "tables", "training_table": "tables",
    # streams
    "machine_streams": "streams", "align_series": "streams", "attach_sensors": "streams",
    "sensor_table": "streams", "has_ai4i_sensors": "streams",
    # scene-spec section
    "SimulatorSource": "section", "CsvSource": "section", "SensorSource": "section",
    "apply_sensor_source": "section", "apply_sensor_sources": "section",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
