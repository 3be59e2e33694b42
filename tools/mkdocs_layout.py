"""mkdocs hook: lay out the checkout as the installed package, so the API reference reads the code here.

pyproject.toml's package-dir installs instances/, cpmodels/, solvers/ and learned_pdr/ inside
cpsched/; in a checkout they sit beside it. The reference (mkdocstrings) finds modules by path, so
this hook lays them out under build/docs-layout/cpsched/ before the pages are rendered.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mkdocs.plugins import event_priority

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("instances", "cpmodels", "solvers", "learned_pdr")
LAYOUT = ROOT / "build" / "docs-layout" / "cpsched"


@event_priority(100)  # before mkdocstrings reads its search paths
def on_config(config):
    if LAYOUT.exists():
        shutil.rmtree(LAYOUT)
    LAYOUT.mkdir(parents=True)
    for entry in (ROOT / "cpsched").iterdir():
        if entry.suffix == ".py":  # copied: a linked file would resolve to cpsched/, where the layers are not
            shutil.copy(entry, LAYOUT / entry.name)
    for layer in LAYERS:
        (LAYOUT / layer).symlink_to(ROOT / layer, target_is_directory=True)
    return config
