"""The import direction of ARCHITECTURE.md: instances <- cpmodels <- solvers -> learned_pdr -> instances."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "instances": {"cpmodels", "solvers", "learned_pdr"},
    "cpmodels": {"solvers", "learned_pdr"},
    "learned_pdr": {"solvers", "cpmodels"},
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_flow_one_way(package):
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN[package], f"{path} imports {name}"
