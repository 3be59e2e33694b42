"""JSON round trips of solutions: one piece of code for every family's solution dataclass."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from numbers import Integral
from typing import Any, ClassVar

import numpy as np

from cpsched.instances.errors import InputError


def plain(value: Any) -> Any:
    """`value` with numpy arrays, scalars and tuples turned into JSON's lists and numbers."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


class JsonSolution:
    """`to_dict` / `from_dict` and `to_json` / `from_json` for a solution dataclass: what it holds and
    nothing of its problem, so a stored Result reads back without the instance at hand.

    `FIELDS` says what each field holds, and `from_dict` checks it as the file readers check theirs:
    "ints" (a list of whole numbers), "ints2" (a list of such lists), "bools", "int", "strs". A field
    annotated `np.ndarray` is read back as an int64 array, one annotated `tuple[...]` as a tuple.
    """

    FIELDS: ClassVar[dict[str, str]] = {}

    def to_dict(self) -> dict:
        """The solution's fields as JSON-ready values (arrays as nested lists)."""
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}

    def to_json(self) -> str:
        """`to_dict` as a JSON string (not the solution file `cpsched check` reads: see `to_document`)."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: object, source: str | None = None):
        """The solution `to_dict` wrote; an InputError naming the field for anything else."""
        where = source or f"{cls.__name__}.from_dict"
        if not isinstance(data, dict):
            raise InputError(f"expected an object with the fields of {cls.__name__}, got {type(data).__name__}",
                             source=where)
        known = {f.name: f for f in fields(cls)}
        for name in data:
            if name not in known:
                raise InputError(f"unknown field '{name}' for {cls.__name__} (fields: {', '.join(known)})",
                                 source=where)
        values = {}
        for name, spec in known.items():
            if name not in data:
                if spec.default is MISSING and spec.default_factory is MISSING:
                    raise InputError(f"missing field '{name}' of {cls.__name__}", source=where)
                continue
            value = _checked(data[name], cls.FIELDS[name], name, where)
            annotation = spec.type if isinstance(spec.type, str) else repr(spec.type)
            if "ndarray" in annotation:
                value = np.asarray(value, dtype=np.int64)
            elif annotation.startswith("tuple"):
                value = tuple(value)
            values[name] = value
        return cls(**values)

    @classmethod
    def from_json(cls, text: str, source: str | None = None):
        """The solution `to_json` wrote; an InputError naming the field for anything else."""
        return cls.from_dict(parse_json(text, source or f"{cls.__name__}.from_json"), source)


def parse_json(text: str, source: str) -> object:
    """The JSON value of `text`, or one InputError naming `source` (and the line): every reader of
    JSON goes through here, so none lets the decoder's RecursionError out."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"invalid JSON: {error.msg}", source=source, line=error.lineno) from None
    except RecursionError:  # the decoder recurses once per level of nesting
        raise InputError("invalid JSON: nested deeper than any problem or schedule file is", source=source) from None


def _whole(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


_CHECKS = {
    "int": (_whole, "a whole number"),
    "ints": (lambda v: isinstance(v, list) and all(_whole(x) for x in v), "a list of whole numbers"),
    "ints2": (lambda v: isinstance(v, list) and all(isinstance(row, list) and all(_whole(x) for x in row) for row in v),
              "a list of lists of whole numbers"),
    "bools": (lambda v: isinstance(v, list) and all(isinstance(x, bool) for x in v), "a list of true/false"),
    "strs": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings"),
}


def _checked(value: object, kind: str, name: str, where: str) -> object:
    """`value` if it holds what `kind` says, else an InputError naming the field."""
    accepts, what = _CHECKS[kind]
    if not accepts(value):
        raise InputError(f"field '{name}' must be {what}, got {value!r:.60}", source=where)
    return value


class FromDocument:
    """`from_dict` for a problem whose family reads JSON documents: the dict is validated exactly as
    a file of that family is (the family's `read_document`), and errors name `<Type>.from_dict`."""

    @classmethod
    def from_dict(cls, document: dict, name: str | None = None):
        """The problem from its JSON document given as a dict (the fields of docs/formats.md)."""
        from cpsched.instances.families import BY_PROBLEM_TYPE  # the registry imports every family's module

        source = f"{cls.__name__}.from_dict"
        if not isinstance(document, dict):
            raise InputError(f"expected a dict, got {type(document).__name__}", source=source)
        kind = BY_PROBLEM_TYPE[cls]
        if document.get("kind", kind.document_kind) != kind.document_kind:
            raise InputError(f"'kind' is {document['kind']!r}; a {cls.__name__} document has \"{kind.document_kind}\"",
                             source=source)
        return kind.read_document(document, source, name or kind.name)
