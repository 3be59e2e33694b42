"""The import direction of ARCHITECTURE.md, on the installed names: cpsched.instances <- cpsched.cpmodels
<- cpsched.solvers -> cpsched.learned_pdr -> cpsched.instances; and no bare `import instances` anywhere."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("instances", "cpmodels", "solvers", "learned_pdr")
FORBIDDEN = {
    "instances": {"cpmodels", "solvers", "learned_pdr"},
    "cpmodels": {"solvers", "learned_pdr"},
    "learned_pdr": {"solvers", "cpmodels"},
    "solvers": set(),
}
PROJECT_FOLDERS = (*LAYERS, "cpsched", "benchmarks", "tests", "examples", "tools")


def imported_modules(path: Path) -> list[str]:
    """Every module `path` imports, relative imports resolved against its package."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: use absolute cpsched.* imports, not relative ones"
            names.append(node.module or "")
    return names


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_flow_one_way(layer):
    for path in (ROOT / layer).rglob("*.py"):
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[0] == "cpsched" and len(parts) > 1:
                assert parts[1] not in FORBIDDEN[layer], f"{path} imports {name}"


@pytest.mark.parametrize("folder", PROJECT_FOLDERS)
def test_no_bare_imports_of_the_layers(folder):
    """`import instances` would load a planner's own `instances` package, or a second copy of ours."""
    for path in (ROOT / folder).rglob("*.py"):
        for name in imported_modules(path):
            assert name.split(".")[0] not in LAYERS, f"{path} imports {name}; write cpsched.{name}"


def test_the_architecture_test_catches_a_bare_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from solvers.result import Result\n")
    assert imported_modules(bad) == ["solvers.result"]


def test_every_package_folder_is_installed():
    """pyproject.toml lists packages by hand (package-dir maps each folder): a new subpackage must be listed."""
    listed = set(re.findall(r'"(cpsched(?:\.\w+)*)",', (ROOT / "pyproject.toml").read_text()))
    on_disk = {"cpsched"} | {"cpsched." + ".".join(init.parent.relative_to(ROOT).parts)
                             for layer in LAYERS for init in (ROOT / layer).rglob("__init__.py")}
    assert listed == on_disk
