"""The one loader of twin3d's YAML files (scene specs, render jobs): YAML -> pydantic model.

Everything a user writes by hand goes through here, so every such file reads the same
way and fails the same way: a missing file is a :class:`~twin3d.errors.MissingFileError`,
bad YAML or a value that does not validate is a :class:`~twin3d.errors.SpecError` whose
message names the file, the line and the location inside it::

    line.yaml:8: assets[3].transform.rotate: Tuple should have at most 3 items after validation, not 4

Unknown keys are errors that list the valid keys. YAML is read with ``yaml.safe_load``
(no Python tags). Sections validated on their own (the spec's ``risk:``, ``thermal:``...)
use :meth:`YamlDocument.validate` with their location as prefix, so their errors read the
same as the rest of the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, TypeVar

from .errors import InputError, MissingFileError, SpecError

__all__ = ["YamlDocument", "read_yaml", "parse_yaml", "load_model", "format_location", "line_index"]

T = TypeVar("T")

#: Largest YAML file read (bytes): specs and jobs are small; anything bigger is a mistake.
MAX_YAML_BYTES = 16 * 1024 * 1024

# pydantic error types that only say "this union branch did not match either"
_BRANCH_NOISE = ("literal_error", "model_type", "dict_type", "model_attributes_type", "union_tag_invalid",
                 "is_instance_of")


def format_location(loc: Iterable[Any]) -> str:
    """``("assets", 3, "transform")`` -> ``"assets[3].transform"`` (``"(top level)"`` for ``()``)."""
    s = ""
    for part in loc:
        if isinstance(part, int):
            s += f"[{part}]"
        else:
            s += ("." if s else "") + str(part)
    return s or "(top level)"


def line_index(text: str) -> dict[tuple, int]:
    """Map YAML locations (tuples of keys and indices) to 1-based line numbers."""
    import yaml

    out: dict[tuple, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return out

    def walk(node, loc, depth=0):
        if depth > 200:
            return
        out.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                if isinstance(k, yaml.ScalarNode) and k.tag.endswith(":int"):
                    try:
                        key = int(key)
                    except ValueError:
                        pass
                out[loc + (key,)] = k.start_mark.line + 1
                walk(v, loc + (key,), depth + 1)
                out[loc + (key,)] = k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, loc + (i,), depth + 1)

    if root is not None:
        walk(root, ())
    return out


@dataclass
class YamlDocument:
    """A YAML file (or an in-memory mapping) with what is needed to point at its lines.

    Attributes
    ----------
    source
        How errors name the document (the file path, or ``"<spec>"``).
    data
        The parsed YAML.
    text
        The file's text (``None`` for an in-memory mapping: errors then carry no line).
    path
        The file, if the document came from one.
    """

    source: str
    data: Any
    text: str | None = None
    path: Path | None = None
    _lines: dict[tuple, int] | None = field(default=None, repr=False)

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the document are resolved against."""
        return self.path.parent if self.path is not None else Path(".")

    @property
    def lines(self) -> dict[tuple, int]:
        if self._lines is None:
            self._lines = line_index(self.text) if self.text else {}
        return self._lines

    def line_of(self, loc: tuple) -> int | None:
        """The line of ``loc`` (or of its nearest enclosing location that has one)."""
        lines = self.lines
        probe = tuple(loc)
        while True:
            if probe in lines:
                return lines[probe]
            if not probe:
                return None
            probe = probe[:-1]

    def where(self, loc: tuple = ()) -> str:
        """``file:line: location`` for messages."""
        line = self.line_of(loc)
        return f"{self.source}{f':{line}' if line else ''}: {format_location(loc)}"

    def error(self, loc: tuple, message: str, *, cls: type[SpecError] = SpecError) -> SpecError:
        """A located error: ``file:line: location: message``."""
        exc = cls(f"{self.where(loc)}: {message}")
        exc.located = True
        return exc

    def validate(self, model: Any, data: Any = None, *, at: tuple = ()) -> Any:
        """Validate ``data`` (default: the whole document) against a pydantic model or type.

        ``at`` is where ``data`` sits in the document (e.g. ``("risk",)``); error locations
        are reported relative to the document's top.
        """
        from pydantic import BaseModel, TypeAdapter, ValidationError

        data = self.data if data is None and not at else data
        try:
            if isinstance(model, type) and issubclass(model, BaseModel):
                return model.model_validate(data)
            return TypeAdapter(model).validate_python(data)
        except ValidationError as exc:
            raise self._validation_error(exc, model, at) from None
        except RecursionError:
            raise self.error(at, "the document is nested too deeply") from None

    # -- error formatting
    def _clean_location(self, raw: tuple, at: tuple) -> tuple:
        """The part of pydantic's location that exists in the document (drops union branch names)."""
        loc = tuple(at)
        lines = self.lines
        data_node: Any = _get(self.data, loc)
        for p in raw:
            if lines:
                if loc + (p,) in lines:
                    loc = loc + (p,)
                    data_node = _get(data_node, (p,))
                continue
            # no text: keep what indexes into the data
            child = _get(data_node, (p,))
            if child is not _MISSING:
                loc = loc + (p,)
                data_node = child
            elif not _looks_like_branch(p):
                loc = loc + (p,)
                data_node = _MISSING
        return loc

    def _validation_error(self, exc, model: Any, at: tuple) -> SpecError:
        errors = exc.errors(include_url=False)
        useful = [e for e in errors if e["type"] not in _BRANCH_NOISE] or errors
        rows = []
        for err in useful:
            raw = tuple(err["loc"])
            loc = self._clean_location(raw, at)
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                key = raw[-1] if raw else "?"
                loc = self._clean_location(raw[:-1], at)
                valid = _valid_keys(model, tuple(p for p in raw[:-1]))
                msg = f"unknown key {key!r}" + (f"; valid keys: {', '.join(valid)}" if valid else "")
                line = self.lines.get(loc + (key,)) or self.line_of(loc)
                loc = loc + (key,)
                text = f"{self.source}{f':{line}' if line else ''}: {format_location(loc)}: {msg}"
            elif err["type"] == "missing":
                loc = self._clean_location(raw[:-1], at)
                msg = f"missing required key {raw[-1]!r}"
                text = f"{self.where(loc)}: {msg}"
            else:
                text = f"{self.where(loc)}: {msg}"
            rows.append((-len(loc), text, loc, err["type"]))
        # a wrong-type error where another error sits at or below the same place is a rejected
        # union branch (e.g. "should be a string" for a mapping that is missing a key): drop it
        rows = [r for r in rows if not (r[3].endswith("_type") and any(
            o is not r and not o[3].endswith("_type") and o[2][:len(r[2])] == r[2] for o in rows))] or rows
        rows.sort(key=lambda r: r[0])  # the most specific locations first
        msgs = list(dict.fromkeys(r[1] for r in rows))
        text = msgs[0]
        if len(msgs) > 1:
            text += f" (and {len(msgs) - 1} more: " + "; ".join(m.split(": ", 1)[1] for m in msgs[1:4]) + ")"
        out = SpecError(text)
        out.located = True
        return out


_MISSING = object()


def _get(node: Any, loc: tuple) -> Any:
    for p in loc:
        if node is _MISSING:
            return _MISSING
        if isinstance(node, Mapping) and p in node:
            node = node[p]
        elif isinstance(node, list) and isinstance(p, int) and -len(node) <= p < len(node):
            node = node[p]
        else:
            return _MISSING
    return node


def _looks_like_branch(p: Any) -> bool:
    return isinstance(p, str) and ("[" in p or p.startswith(("function-", "tagged-union")) or p[:1].isupper())


def _models_in(annotation: Any) -> list:
    """The pydantic models inside an annotation (Optional[...], list[...], unions...)."""
    from pydantic import BaseModel

    out = []
    stack = [annotation]
    while stack:
        a = stack.pop()
        if isinstance(a, type) and issubclass(a, BaseModel):
            out.append(a)
            continue
        stack.extend(getattr(a, "__args__", ()) or ())
        stack.extend(getattr(a, "__metadata__", ()) and () or ())
        origin = getattr(a, "__origin__", None)
        if origin is not None and origin is not a and not getattr(a, "__args__", None):
            stack.append(origin)
    return out


def _valid_keys(model: Any, loc: tuple) -> list[str]:
    """Field names of the model found at ``loc`` under ``model`` (``[]`` if unknown)."""
    candidates = _models_in(model)
    for p in loc:
        if isinstance(p, int):
            continue
        nxt = []
        for m in candidates:
            f = m.model_fields.get(p)
            if f is not None:
                nxt.extend(_models_in(f.annotation))
        if not nxt:
            # a dict key (e.g. an asset name under 'appearance') or a branch name: stay
            if any(p in m.model_fields for m in candidates):
                return []
            continue
        candidates = nxt
    if len(candidates) != 1:
        names: list[str] = []
        for m in candidates:
            names.extend(k for k in m.model_fields if k not in names)
        return names
    return list(candidates[0].model_fields)


#: Most nodes a document may expand to once its aliases are followed (a "billion laughs"
#: file of a few hundred bytes expands to 10^9); specs and jobs have a few thousand.
MAX_YAML_NODES = 1_000_000
#: Deepest nesting of lists and mappings.
MAX_YAML_DEPTH = 64

_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge")}


def _loader_class():
    """A SafeLoader that leaves dates as text (a spec holds plain values only)."""
    import yaml

    class PlainLoader(yaml.SafeLoader):
        pass

    PlainLoader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return PlainLoader


def _check_nodes(root, source: str) -> None:
    """Bound alias expansion and depth; refuse recursive anchors and non-plain tags."""
    import yaml

    sizes: dict[int, int] = {}
    active: set[int] = set()

    def fail(node, message: str):
        raise SpecError(f"{source}:{node.start_mark.line + 1}: {message}")

    def size(node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            fail(node, "invalid YAML: a recursive anchor (a list or mapping that contains itself)")
        if depth > MAX_YAML_DEPTH:
            fail(node, f"invalid YAML: nested more than {MAX_YAML_DEPTH} levels deep")
        if node.tag not in _PLAIN_TAGS:
            fail(node, f"unsupported YAML tag {node.tag.replace('tag:yaml.org,2002:', '!!')!r}: use plain "
                       "text, numbers, booleans, lists and mappings")
        active.add(key)
        n = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                n += size(child, depth + 1)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                n += size(k, depth + 1) + size(v, depth + 1)
        active.discard(key)
        if n > MAX_YAML_NODES:
            fail(node, f"invalid YAML: its aliases expand to more than {MAX_YAML_NODES:,} values "
                       "(an alias bomb?)")
        sizes[key] = n
        return n

    size(root, 0)


def parse_yaml(text: str, *, source: str = "<yaml>"):
    """Parse YAML text with limits: plain values only, bounded alias expansion and depth.

    Dates stay text; tags such as ``!!binary`` or ``!!python/object`` are refused; every
    problem is a :class:`~twin3d.errors.SpecError` naming ``source`` and the line.
    """
    import yaml

    loader = _loader_class()(text)
    try:
        try:
            root = loader.get_single_node()
        except RecursionError:
            mark = loader.get_mark()  # where the reader stopped: inside the too-deep part
            raise SpecError(f"{source}:{mark.line + 1}: invalid YAML: nested more than {MAX_YAML_DEPTH} "
                            "levels deep") from None
        if root is None:
            return None
        _check_nodes(root, source)
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{source}{where}: invalid YAML: {problem}") from None
    finally:
        loader.dispose()


def read_yaml(path: str | os.PathLike, *, what: str = "scene spec") -> YamlDocument:
    """Read a YAML file safely; errors name the file (and line for syntax errors)."""

    path = Path(path)
    if not path.exists():
        raise MissingFileError(path, what=what)
    if not path.is_file():
        raise InputError(f"{path}: is a folder, expected a {what} (YAML)")
    size = path.stat().st_size
    if size > MAX_YAML_BYTES:
        raise SpecError(f"{path}: {size} bytes is too large for a {what} (at most {MAX_YAML_BYTES // 2**20} MiB)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: a {what} must be UTF-8 text (byte {exc.start} is not)") from None
    if "\x00" in text:
        raise SpecError(f"{path}: a {what} must be text, this file holds binary data")
    data = parse_yaml(text, source=str(path))
    if data is None:
        raise SpecError(f"{path}: the {what} is empty")
    return YamlDocument(source=str(path), data=data, text=text, path=path)


def load_model(path: str | os.PathLike, model: type[T], *, what: str = "scene spec") -> tuple[T, YamlDocument]:
    """Read a YAML file and validate it against a pydantic model (its top must be a mapping)."""
    doc = read_yaml(path, what=what)
    if not isinstance(doc.data, dict):
        raise SpecError(f"{doc.source}: a {what} must be a mapping of keys, got {type(doc.data).__name__}")
    return doc.validate(model), doc
