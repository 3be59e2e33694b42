"""Which bundled instances a sweep's `--datasets` names: families, size groups, ranges, names.

    ta            every Taillard instance (ta01-ta80)
    ta:30x20      Taillard's 30 x 20 group (ta41-ta50)
    dmu41-80/5    a range, every fifth: dmu41, dmu46, ..., dmu76
    ft10          one instance
"""

from __future__ import annotations

from cpsched.instances import best_known, bundled_names
from cpsched.instances.catalog import FAMILIES
from cpsched.instances.errors import InputError


def expand(group: str) -> list[str]:
    """'ta21-30' -> ta21..ta30; 'dmu41-80/5' -> every fifth: dmu41, dmu46, ..., dmu76; a single name
    stays itself (no check that it exists: `instance_names` checks)."""
    group, _, step = group.partition("/")
    prefix = group.rstrip("0123456789-").rstrip()
    if "-" not in group:
        return [group]
    first, last = group[len(prefix):].split("-")
    return [f"{prefix}{k:0{len(first)}d}" for k in range(int(first), int(last) + 1, int(step or 1))]


def family_sizes(family: str) -> list[str]:
    sizes = dict.fromkeys(best_known(name).size for name, f in bundled_names().items() if f == family)
    return list(sizes)


def _one_dataset(spec: str) -> list[str]:
    names = bundled_names()
    if spec in FAMILIES:
        return [name for name, family in names.items() if family == spec]
    family, colon, size = spec.partition(":")
    if colon:
        if family not in FAMILIES:
            raise InputError(f"unknown dataset '{spec}': no family '{family}'; families: {', '.join(FAMILIES)}")
        chosen = [name for name, f in names.items() if f == family and best_known(name).size == size]
        if not chosen:
            raise InputError(f"unknown dataset '{spec}': {family} has no {size} instances; its sizes: "
                             f"{', '.join(family_sizes(family))}")
        return chosen
    try:
        expanded = expand(spec)
    except ValueError:
        expanded = [spec]
    missing = [name for name in expanded if name not in names]
    if missing:
        where = f" (in '{spec}')" if spec != missing[0] else ""
        raise InputError(f"unknown dataset or instance '{missing[0]}'{where}; give a family "
                         f"({', '.join(FAMILIES)}), a size group such as ta:30x20, "
                         f"a range such as ta01-10, or a bundled instance name (`cpsched instances`)")
    return expanded


def instance_names(datasets: str) -> list[str]:
    """Every instance `datasets` (comma-separated specs) names, each once, in the order given."""
    specs = [spec.strip().lower() for spec in datasets.split(",") if spec.strip()]
    if not specs:
        raise InputError("--datasets names no instance; give for example ta,dmu or la:10x5")
    return list(dict.fromkeys(name for spec in specs for name in _one_dataset(spec)))


def size_group(name: str) -> str:
    """'ta41' -> 'ta 30x20': the group a report puts the instance in."""
    return f"{bundled_names()[name]} {best_known(name).size}"
