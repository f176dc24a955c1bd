"""The AI4I 2020 schema: canonical sensor names, file headers, units, product types, failure modes.

twin3d's canonical names for the AI4I 2020 process variables are

============================  =========================  ======
canonical name                AI4I 2020 column           unit
============================  =========================  ======
``product_type``              ``Type`` (L / M / H)       (code)
``air_temperature``           ``Air temperature [K]``    K
``process_temperature``       ``Process temperature [K]`` K
``rotational_speed``          ``Rotational speed [rpm]`` rpm
``torque``                    ``Torque [Nm]``            Nm
``tool_wear``                 ``Tool wear [min]``        min
============================  =========================  ======

Plain constants only (no imports): every other sensor module, and the risk model's
features, read the names from here.
"""

from __future__ import annotations

__all__ = [
    "AI4I_QUANTITIES",
    "AI4I_COLUMNS",
    "AI4I_LABELS",
    "PRODUCT_TYPES",
    "SENSOR_UNITS",
    "FAILURE_MODES",
    "HEADER_TO_CANONICAL",
]

#: The AI4I 2020 process variables: canonical name -> AI4I 2020 column header.
AI4I_COLUMNS: dict[str, str] = {
    "product_type": "Type",
    "air_temperature": "Air temperature [K]",
    "process_temperature": "Process temperature [K]",
    "rotational_speed": "Rotational speed [rpm]",
    "torque": "Torque [Nm]",
    "tool_wear": "Tool wear [min]",
}
#: Canonical names of the AI4I process variables, in AI4I column order.
AI4I_QUANTITIES: tuple[str, ...] = tuple(AI4I_COLUMNS)
#: Label columns of the AI4I schema: canonical name -> AI4I header.
AI4I_LABELS: dict[str, str] = {
    "machine_failure": "Machine failure",
    "TWF": "TWF",
    "HDF": "HDF",
    "PWF": "PWF",
    "OSF": "OSF",
    "RNF": "RNF",
}
#: Failure modes of the AI4I process (tool wear, heat dissipation, power, overstrain, random).
FAILURE_MODES: tuple[str, ...] = ("TWF", "HDF", "PWF", "OSF", "RNF")
#: Product quality variants, in code order (L=0, M=1, H=2).
PRODUCT_TYPES: tuple[str, ...] = ("L", "M", "H")
#: Units of the canonical sensors (product_type is a code: 0=L, 1=M, 2=H).
SENSOR_UNITS: dict[str, str] = {
    "product_type": "1",
    "air_temperature": "K",
    "process_temperature": "K",
    "rotational_speed": "rpm",
    "torque": "Nm",
    "tool_wear": "min",
}
#: AI4I 2020 header (process variables and labels) -> canonical name.
HEADER_TO_CANONICAL: dict[str, str] = {v: k for k, v in {**AI4I_COLUMNS, **AI4I_LABELS}.items()}
