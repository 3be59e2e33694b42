"""The docs: every module, class and public function the API reference shows has a docstring, and
every relative link of the README reaches a file (the strict mkdocs build in CI checks the rest)."""

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCED = sorted({name for page in (ROOT / "docs" / "reference").glob("*.md")
                     for name in re.findall(r"^::: ([\w.]+)", page.read_text(), re.M)})


def undocumented(module) -> list[str]:
    """The public functions, classes, methods and properties `module` defines without a docstring."""
    missing = [] if module.__doc__ else [module.__name__]
    for name, item in vars(module).items():
        if name.startswith("_") or getattr(item, "__module__", None) != module.__name__:
            continue
        if not (inspect.isfunction(item) or inspect.isclass(item)):
            continue
        if not item.__doc__:
            missing.append(f"{module.__name__}.{name}")
        if inspect.isclass(item):
            for member, value in vars(item).items():
                function = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
                if not member.startswith("_") and inspect.isfunction(function) and not function.__doc__:
                    missing.append(f"{module.__name__}.{name}.{member}")
    return missing


@pytest.mark.parametrize("name", REFERENCED)
def test_everything_the_reference_shows_has_a_docstring(name):
    assert undocumented(importlib.import_module(name)) == []


def test_the_check_finds_a_missing_docstring():
    fake = type(inspect)("fake", "a module")
    exec("def shown(): pass\nclass Shown:\n    '''A class.'''\n    def method(self): pass\n", fake.__dict__)
    for item in (fake.shown, fake.Shown):
        item.__module__ = "fake"
    assert undocumented(fake) == ["fake.shown", "fake.Shown.method"]


def test_the_readme_links_reach_files():
    readme = (ROOT / "README.md").read_text()
    links = [link for link in re.findall(r"\]\(([^)#]+)\)", readme) if "://" not in link]
    broken = [link for link in links if not (ROOT / link).is_file()]
    assert links and not broken, broken


def test_the_readme_stays_a_front_page():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200
