"""Label tables: label id -> organ name and display colour.

A label map (a segmentation) holds integer ids; a :class:`LabelTable` names them and
gives each a colour. Tables come from twin3d's own anatomical table
(:func:`builtin_table`, the ids :mod:`twin3d.phantom` draws), TotalSegmentator's
``total`` task (:func:`totalsegmentator_table`), a JSON file or a mapping
(:func:`load_label_table` accepts all of them). Organs without a colour get the
conventional anatomical one (:func:`conventional_color`: bone ivory, liver brown-red,
arteries red, veins blue...).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, MissingFileError

__all__ = [
    "LabelInfo",
    "LabelTable",
    "load_label_table",
    "builtin_table",
    "totalsegmentator_table",
    "conventional_color",
    "TABLE_NAMES",
    "MAX_LABEL_ID",
]

#: The largest label id: label maps hold unsigned 32-bit integers.
MAX_LABEL_ID = 2**32 - 1

# =========================================================================== colours
def _rgb(r: int, g: int, b: int) -> tuple[float, float, float]:
    return (r / 255.0, g / 255.0, b / 255.0)


# Conventional anatomical colours (the palette used by 3D Slicer's generic anatomy
# colour table and most atlases: bone ivory, liver brown-red, arteries red, veins blue...).
_BONE = _rgb(241, 214, 145)
_CARTILAGE = _rgb(111, 184, 210)
_ARTERY = _rgb(216, 101, 79)
_VEIN = _rgb(0, 151, 206)
_MUSCLE = _rgb(192, 104, 88)
_LUNG = _rgb(197, 165, 145)
_KIDNEY = _rgb(185, 102, 83)
_HEART = _rgb(206, 110, 84)
_BOWEL = _rgb(205, 167, 142)

# Keyword rules for names outside the tables, checked in order (first match wins).
_COLOR_RULES: tuple[tuple[str, tuple[float, float, float]], ...] = (
    ("body", _rgb(177, 122, 101)),
    ("skin", _rgb(177, 122, 101)),
    ("liver", _rgb(221, 130, 101)),
    ("spleen", _rgb(157, 108, 162)),
    ("cyst", _rgb(205, 205, 100)),
    ("kidney", _KIDNEY),
    ("adrenal", _rgb(249, 186, 150)),
    ("gallbladder", _rgb(139, 150, 98)),
    ("pancrea", _rgb(249, 180, 111)),
    ("stomach", _rgb(216, 132, 105)),
    ("duoden", _rgb(255, 253, 229)),
    ("bowel", _BOWEL),
    ("colon", _rgb(204, 168, 143)),
    ("esophag", _rgb(211, 171, 143)),
    ("bladder", _rgb(222, 154, 132)),
    ("prostate", _rgb(230, 158, 140)),
    ("trachea", _rgb(182, 228, 255)),
    ("lung", _LUNG),
    ("thyroid", _rgb(220, 245, 20)),
    ("spinal_cord", _rgb(244, 214, 49)),
    ("brain", _rgb(250, 250, 225)),
    ("cartilage", _CARTILAGE),
    ("atrial", _HEART),
    ("heart", _HEART),
    ("aorta", _ARTERY),
    ("artery", _ARTERY),
    ("trunk", _ARTERY),
    ("vein", _VEIN),
    ("vena", _VEIN),
    ("gluteus", _MUSCLE),
    ("autochthon", _MUSCLE),
    ("iliopsoas", _MUSCLE),
    ("muscle", _MUSCLE),
    ("fat", _rgb(230, 220, 70)),
    ("tumor", _rgb(255, 60, 60)),
    ("lesion", _rgb(255, 60, 60)),
    ("spine", _BONE),
    ("vertebra", _BONE),
    ("sacrum", _BONE),
    ("rib", _BONE),
    ("sternum", _BONE),
    ("skull", _BONE),
    ("femur", _BONE),
    ("humerus", _BONE),
    ("hip", _BONE),
    ("scapula", _BONE),
    ("clavicula", _BONE),
    ("bone", _BONE),
)

# A qualitative palette for labels no rule recognises (Tableau-like, picked by id).
_PALETTE = tuple(
    _rgb(*c)
    for c in (
        (78, 121, 167), (242, 142, 43), (225, 87, 89), (118, 183, 178), (89, 161, 79),
        (237, 201, 72), (176, 122, 161), (255, 157, 167), (156, 117, 95), (186, 176, 172),
    )
)


def conventional_color(name: str, label: int = 0) -> tuple[float, float, float]:
    """The conventional colour for an organ ``name`` (RGB in [0, 1]).

    Names are matched by keyword (``kidney_left`` -> kidney, ``vertebrae_L3`` ->
    bone, ``iliac_vena_left`` -> vein...). Unknown names get a palette colour chosen
    by ``label`` so that neighbouring labels differ.
    """
    key = str(name).lower()
    for word, color in _COLOR_RULES:
        if word in key:
            return color
    return _PALETTE[int(label) % len(_PALETTE)]


def _parse_color(value: Any, where: str) -> tuple[float, float, float]:
    """A colour given as ``[r, g, b]`` in [0, 1] or [0, 255], or ``"#rrggbb"``."""
    if isinstance(value, str):
        m = re.fullmatch(r"#?([0-9a-fA-F]{6})", value.strip())
        if not m:
            raise InputError(f"{where}: colour {value!r} is not '#rrggbb'")
        h = m.group(1)
        return _rgb(int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))
    try:
        c = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        c = np.array([])
    if c.shape != (3,) or not np.all(np.isfinite(c)) or np.any(c < 0):
        raise InputError(f"{where}: colour {value!r} must be 3 numbers in [0, 1] or [0, 255], or '#rrggbb'")
    if np.any(c > 1.0):
        if np.any(c > 255):
            raise InputError(f"{where}: colour {value!r} has a component above 255")
        c = c / 255.0
    return (float(c[0]), float(c[1]), float(c[2]))


# =========================================================================== tables
@dataclass(frozen=True)
class LabelInfo:
    """One entry of a label table: label id, organ name and display colour (RGB 0-1)."""

    id: int
    name: str
    color: tuple[float, float, float]


class LabelTable(Mapping[int, LabelInfo]):
    """Label id -> :class:`LabelInfo` (name and colour).

    Parameters
    ----------
    entries
        ``{id: name}``, ``{id: {"name": ..., "color": ...}}``, ``{id: LabelInfo}`` or
        an iterable of :class:`LabelInfo`. Ids are integers >= 1 (an entry for the
        background id 0 is ignored); names must be unique. Colours missing from an
        entry come from :func:`conventional_color`.
    name
        A name for the table (shown in messages).
    source
        Where the entries came from (a file path), used in error messages.
    """

    def __init__(self, entries: Mapping[Any, Any] | Iterable[LabelInfo], *, name: str = "custom", source: str | None = None):
        self.name = name
        where = source or f"label table {name!r}"
        items: dict[int, LabelInfo] = {}
        if isinstance(entries, Mapping):
            pairs: Iterable[tuple[Any, Any]] = entries.items()
        else:
            pairs = []
            for e in entries:
                if not isinstance(e, LabelInfo):
                    raise InputError(f"{where}: expected LabelInfo entries, got {type(e).__name__}")
                pairs.append((e.id, e))  # type: ignore[union-attr]
        for key, value in pairs:
            try:
                ident = int(key)
                if isinstance(key, float) and key != ident:
                    raise ValueError
                if isinstance(key, str) and key.strip() != str(ident):
                    raise ValueError
            except (TypeError, ValueError):
                raise InputError(f"{where}: key {key!r} is not an integer label id") from None
            if ident < 0:
                raise InputError(f"{where}: label id {ident} is negative; ids are integers >= 1 (0 is background)")
            if ident > MAX_LABEL_ID:
                raise InputError(f"{where}: label id {ident} is above {MAX_LABEL_ID}, the largest id a label map "
                                 "holds (32-bit unsigned)")
            if ident == 0:
                continue  # background
            items[ident] = self._entry(ident, value, f"{where}, label {ident}")
        names: dict[str, int] = {}
        for info in items.values():
            if info.name in names:
                raise InputError(
                    f"{where}: organ name {info.name!r} is used by labels {names[info.name]} and {info.id}; names must be unique"
                )
            names[info.name] = info.id
        self._items = dict(sorted(items.items()))
        self._by_name = names

    @staticmethod
    def _entry(ident: int, value: Any, where: str) -> LabelInfo:
        if isinstance(value, LabelInfo):
            return LabelInfo(ident, value.name, _parse_color(value.color, where))
        color: Any = None
        if isinstance(value, str):
            name = value
        elif isinstance(value, Mapping):
            unknown = set(value) - {"name", "color"}
            if unknown:
                raise InputError(f"{where}: unknown key(s) {sorted(unknown)}; valid: 'name', 'color'")
            if "name" not in value:
                raise InputError(f"{where}: entry has no 'name'")
            name, color = value["name"], value.get("color")
        elif isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str):
            name, color = value
        else:
            raise InputError(f"{where}: entry must be a name or {{'name': ..., 'color': ...}}, got {value!r}")
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{where}: organ name must be a non-empty string, got {name!r}")
        name = name.strip()
        rgb = conventional_color(name, ident) if color is None else _parse_color(color, where)
        return LabelInfo(ident, name, rgb)

    # -- constructors
    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "LabelTable":
        """Read ``{"1": "liver", ...}`` or ``{"1": {"name": "liver", "color": [r, g, b]}, ...}``."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise MissingFileError(p, f"{p}: label table file not found", what="label table") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"{p}: label table is not UTF-8 text ({exc})") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{p}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
        if not isinstance(data, dict):
            raise InputError(
                f"{p}: a label table must be a JSON object {{id: name}} or {{id: {{name, color}}}}, got {type(data).__name__}"
            )
        if not data:
            raise InputError(f"{p}: the label table is empty")
        return cls(data, name=p.stem, source=str(p))

    # -- mapping protocol
    def __getitem__(self, label: int) -> LabelInfo:
        return self._items[int(label)]

    def __iter__(self) -> Iterator[int]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"LabelTable({self.name!r}, {len(self)} labels)"

    # -- lookups
    @property
    def names(self) -> dict[int, str]:
        """``{id: name}`` for every label."""
        return {i: e.name for i, e in self._items.items()}

    def id_of(self, name: str) -> int:
        """The label id of organ ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no organ {name!r} in label table {self.name!r}; names: {sorted(self._by_name)}") from None

    def info(self, label: int) -> LabelInfo:
        """The entry for ``label``, or a generic ``label_<id>`` entry if the table lacks it."""
        label = int(label)
        if label in self._items:
            return self._items[label]
        return LabelInfo(label, f"label_{label}", _PALETTE[label % len(_PALETTE)])

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """JSON-ready ``{"id": {"name": ..., "color": [r, g, b]}}`` (colours 0-255)."""
        return {
            str(i): {"name": e.name, "color": [int(round(c * 255)) for c in e.color]} for i, e in self._items.items()
        }


def _builtin_entries() -> dict[int, tuple[str, tuple[int, int, int]]]:
    # twin3d's own anatomical table (ids used by twin3d.phantom and the demo).
    return {
        1: ("body", (177, 122, 101)),
        2: ("liver", (221, 130, 101)),
        3: ("spleen", (157, 108, 162)),
        4: ("kidney_left", (185, 102, 83)),
        5: ("kidney_right", (185, 102, 83)),
        6: ("spine", (241, 214, 145)),
        7: ("aorta", (216, 101, 79)),
        8: ("inferior_vena_cava", (0, 151, 206)),
        9: ("portal_vein", (0, 122, 190)),
        10: ("pancreas", (249, 180, 111)),
        11: ("gallbladder", (139, 150, 98)),
        12: ("stomach", (216, 132, 105)),
        13: ("duodenum", (255, 253, 229)),
        14: ("small_bowel", (205, 167, 142)),
        15: ("colon", (204, 168, 143)),
        16: ("esophagus", (211, 171, 143)),
        17: ("urinary_bladder", (222, 154, 132)),
        18: ("adrenal_gland_left", (249, 186, 150)),
        19: ("adrenal_gland_right", (249, 186, 150)),
        20: ("lung_left", (197, 165, 145)),
        21: ("lung_right", (197, 165, 145)),
        22: ("heart", (206, 110, 84)),
        23: ("ribs", (241, 214, 145)),
        24: ("sternum", (241, 214, 145)),
        25: ("spinal_cord", (244, 214, 49)),
        26: ("trachea", (182, 228, 255)),
        27: ("prostate", (230, 158, 140)),
        28: ("muscle", (192, 104, 88)),
        29: ("fat", (230, 220, 70)),
        30: ("tumor", (255, 60, 60)),
    }


def builtin_table() -> LabelTable:
    """twin3d's built-in anatomical table (ids 1-30, conventional colours).

    Ids: 1 body, 2 liver, 3 spleen, 4 kidney_left, 5 kidney_right, 6 spine,
    7 aorta, 8 inferior_vena_cava, 9 portal_vein, 10 pancreas, 11 gallbladder,
    12 stomach, 13 duodenum, 14 small_bowel, 15 colon, 16 esophagus,
    17 urinary_bladder, 18/19 adrenal_gland_left/right, 20/21 lung_left/right,
    22 heart, 23 ribs, 24 sternum, 25 spinal_cord, 26 trachea, 27 prostate,
    28 muscle, 29 fat, 30 tumor. The phantom of :mod:`twin3d.phantom` uses these
    names.
    """
    return LabelTable({i: {"name": n, "color": c} for i, (n, c) in _builtin_entries().items()}, name="builtin")


def _totalsegmentator_names() -> dict[int, str]:
    # TotalSegmentator (v2) task "total": 117 classes, ids 1-117.
    names = [
        "spleen", "kidney_right", "kidney_left", "gallbladder", "liver", "stomach", "pancreas",
        "adrenal_gland_right", "adrenal_gland_left",
        "lung_upper_lobe_left", "lung_lower_lobe_left", "lung_upper_lobe_right", "lung_middle_lobe_right",
        "lung_lower_lobe_right", "esophagus", "trachea", "thyroid_gland", "small_bowel", "duodenum", "colon",
        "urinary_bladder", "prostate", "kidney_cyst_left", "kidney_cyst_right", "sacrum",
    ]  # 1-25
    names += ["vertebrae_S1"] + [f"vertebrae_L{i}" for i in range(5, 0, -1)]  # 26-31
    names += [f"vertebrae_T{i}" for i in range(12, 0, -1)] + [f"vertebrae_C{i}" for i in range(7, 0, -1)]  # 32-50
    names += [
        "heart", "aorta", "pulmonary_vein", "brachiocephalic_trunk",
        "subclavian_artery_right", "subclavian_artery_left",
        "common_carotid_artery_right", "common_carotid_artery_left",
        "brachiocephalic_vein_left", "brachiocephalic_vein_right", "atrial_appendage_left",
        "superior_vena_cava", "inferior_vena_cava", "portal_vein_and_splenic_vein",
        "iliac_artery_left", "iliac_artery_right", "iliac_vena_left", "iliac_vena_right",
    ]  # 51-68
    for bone in ("humerus", "scapula", "clavicula", "femur", "hip"):
        names += [f"{bone}_left", f"{bone}_right"]  # 69-78
    names += ["spinal_cord"]  # 79
    for muscle in ("gluteus_maximus", "gluteus_medius", "gluteus_minimus", "autochthon", "iliopsoas"):
        names += [f"{muscle}_left", f"{muscle}_right"]  # 80-89
    names += ["brain", "skull"]  # 90-91
    names += [f"rib_left_{i}" for i in range(1, 13)] + [f"rib_right_{i}" for i in range(1, 13)]  # 92-115
    names += ["sternum", "costal_cartilages"]  # 116-117
    return {i + 1: n for i, n in enumerate(names)}


def totalsegmentator_table() -> LabelTable:
    """TotalSegmentator's ``total`` task label ids (117 classes) with conventional colours."""
    return LabelTable(_totalsegmentator_names(), name="totalsegmentator")


_TABLE_ALIASES = {"builtin": builtin_table, "totalsegmentator": totalsegmentator_table, "total": totalsegmentator_table}

#: Names :func:`load_label_table` accepts for the shipped tables (anything else is a JSON path).
TABLE_NAMES = tuple(_TABLE_ALIASES)


def load_label_table(table: LabelTable | Mapping[Any, Any] | str | os.PathLike | None = None) -> LabelTable:
    """Resolve a label table argument.

    Parameters
    ----------
    table
        ``None`` or ``"builtin"`` (twin3d's table), ``"totalsegmentator"`` (alias
        ``"total"``), a path to a JSON table, a mapping ``{id: name}`` /
        ``{id: {"name", "color"}}``, or a :class:`LabelTable`.
    """
    if table is None:
        return builtin_table()
    if isinstance(table, LabelTable):
        return table
    if isinstance(table, Mapping):
        return LabelTable(table)
    if isinstance(table, str) and table.lower() in _TABLE_ALIASES:
        return _TABLE_ALIASES[table.lower()]()
    p = Path(table)
    if p.suffix.lower() == ".json" or p.exists():
        return LabelTable.from_json(p)
    raise InputError(
        f"unknown label table {str(table)!r}; valid: 'builtin', 'totalsegmentator', or a path to a JSON file "
        f"{{id: name}} / {{id: {{name, color}}}}"
    )

