"""The bundled benchmark instances, their best known bounds, and `load` by name or path."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from cpsched.instances.errors import InputError
from cpsched.instances.experts.problem import ExpertProblem, read_experts_npz
from cpsched.instances.families import KINDS
from cpsched.instances.jobshop.formats import parse_jobshop, read_jobshop, read_json_document
from cpsched.instances.jobshop.problem import JobShop
from cpsched.instances.jobshop.variant import JobShopVariant, variant_from_json
from cpsched.instances.offload.problem import OffloadProblem
from cpsched.instances.pipeline.problem import PipelineProblem

FAMILIES = ("abz", "dmu", "ft", "la", "orb", "swv", "ta", "yn")
_ALIASES = {"mt06": "ft06", "mt10": "ft10", "mt20": "ft20"}


@dataclass(frozen=True)
class BestKnown:
    """Best known bounds of a benchmark instance (from bounds.json, with its source)."""

    jobs: int
    machines: int
    lower_bound: int
    upper_bound: int
    source: str

    @property
    def size(self) -> str:
        """`JOBSxMACHINES`, as the instance tables write it."""
        return f"{self.jobs}x{self.machines}"

    @property
    def closed(self) -> bool:
        """Whether the lower and upper bounds meet (the optimum is known)."""
        return self.lower_bound == self.upper_bound


def _data_dir():
    return resources.files("cpsched.instances") / "data" / "jssp"


@cache
def bundled_names() -> dict[str, str]:
    """Bundled instance name -> family, in a natural order (ta01 before ta10)."""
    names = {}
    for family in FAMILIES:
        for entry in (_data_dir() / family).iterdir():
            if entry.name.endswith(".txt"):
                names[entry.name[:-4]] = family

    def natural(name: str) -> tuple:
        prefix, number = re.match(r"([a-z]+)(\d*)", name).groups()
        return prefix, int(number or 0)

    return {name: names[name] for name in sorted(names, key=natural)}


@cache
def _bounds() -> dict[str, dict]:
    return json.loads((_data_dir() / "bounds.json").read_text())


def _key(name: str) -> str:
    """The bundled name a user's spelling refers to (case, and the mt aliases of ft)."""
    return _ALIASES.get(name.lower(), name.lower())


def best_known(name: str) -> BestKnown | None:
    """The best known bounds of a bundled instance, or None for any other name."""
    entry = _bounds().get(_key(name))
    if entry is None:
        return None
    return BestKnown(entry["jobs"], entry["machines"], entry["lower_bound"], entry["upper_bound"], entry["source"])


def family_of(name: str) -> str | None:
    """The benchmark family of a bundled instance (`ta`, `dmu`, ...), or None for any other name."""
    return bundled_names().get(_key(name))


def best_known_for(problem: JobShop) -> BestKnown | None:
    """The best known bounds if `problem` IS a bundled instance (same name and same data), so that
    an edited copy of ta01.txt is not compared with ta01's record."""
    known = best_known(problem.name)
    if known is None:
        return None
    bundled = load_bundled(problem.name)
    same = (
        problem.n_machines == bundled.n_machines
        and np.array_equal(problem.job_starts, bundled.job_starts)
        and np.array_equal(problem.machines, bundled.machines)
        and np.array_equal(problem.durations, bundled.durations)
    )
    return known if same else None


KIND_HINTS = {"layers": "pipeline", "topology": "experts", "subgroups": "offload"}  # a field only that kind has


@cache
def load_bundled(name: str) -> JobShop:
    """A bundled instance by name (ta01, ft10, dmu42, ...)."""
    key = _key(name)
    family = bundled_names().get(key)
    if family is None:
        raise InputError(f"'{name}' is not a bundled instance (see `cpsched instances`)")
    text = (_data_dir() / family / f"{key}.txt").read_text()
    return parse_jobshop(text, f"{key}.txt", key, "standard")


def load(name_or_path: str | Path,
         fmt: str | None = None) -> JobShop | JobShopVariant | PipelineProblem | ExpertProblem | OffloadProblem:
    """An existing file path (format detected unless given; a JSON file's "kind" names its family),
    else a bundled instance name."""
    if not str(name_or_path).strip():
        raise InputError("the instance is an empty name: give a file or a bundled instance name (see `cpsched "
                         "instances`)")
    path = Path(name_or_path)
    if path.is_file():
        document = None
        if fmt in (None, "json") and _starts_json_object(path):
            document = read_json_document(path)
            kind = document.get("kind") if isinstance(document, dict) else None
            for family in KINDS:
                if kind is not None and family.document_kind == kind:
                    return family.read_document(document, str(path), path.stem)
            guess = next((k for key, k in KIND_HINTS.items() if isinstance(document, dict) and key in document
                          and kind is None), None)
            if guess is not None:
                raise InputError(f'no "kind": a {guess} problem file says "kind": "{guess}"', source=str(path))
        if path.suffix == ".npz":
            return read_experts_npz(path)
        shop = read_jobshop(path, fmt)
        if isinstance(document, dict) and ("blocking" in document or "unavailable" in document):
            return variant_from_json(document, shop, str(path))
        return shop
    if family_of(str(name_or_path)) is not None:
        return load_bundled(str(name_or_path))
    if path.exists():
        raise InputError("not a regular file", source=str(path))
    raise InputError(
        f"'{name_or_path}' is neither a file nor a bundled instance name "
        "(`cpsched instances` lists the bundled ones)"
    )


def _starts_json_object(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(4096).lstrip().lstrip(b"\xef\xbb\xbf").startswith(b"{")
    except OSError:
        return False
