"""`ProblemKind`: what the data layer knows of a problem family, one record per family."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProblemKind:
    """A family's problem and solution types, its independent check, and its JSON reader.

    `document_kind` is the "kind" field of the family's JSON files (None where its files are not
    JSON documents of their own, as for job shops); `read_document(document, source, name)` builds
    the problem from such a document, validating every field.
    """

    name: str
    problem_type: type
    solution_type: type
    evaluate: Callable[[Any, Any], Any]
    document_kind: str | None = None
    read_document: Callable[[dict, str, str], Any] | None = None
