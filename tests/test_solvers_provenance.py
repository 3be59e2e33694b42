"""The commit a result records: '+' only when code changed, not when a results file or the docs did."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cpsched.solvers.provenance import checkout_commit


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def _repo_with_code_and_results(tmp_path: Path) -> Path:
    (tmp_path / "solvers").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "solvers" / "code.py").write_text("x = 1\n")
    (tmp_path / "results" / "full.sqlite").write_text("cells\n")
    (tmp_path / "docs" / "benchmarks.md").write_text("# Benchmarks\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "start")
    return tmp_path


def test_a_changed_results_file_leaves_the_commit_clean(tmp_path):
    repo = _repo_with_code_and_results(tmp_path)
    head = _git(repo, "rev-parse", "--short", "HEAD")
    assert checkout_commit(repo / "solvers") == head
    (repo / "results" / "full.sqlite").write_text("cells and more cells\n")
    assert checkout_commit(repo / "solvers") == head


def test_edited_docs_leave_the_commit_clean(tmp_path):
    repo = _repo_with_code_and_results(tmp_path)
    head = _git(repo, "rev-parse", "--short", "HEAD")
    (repo / "docs" / "benchmarks.md").write_text("# Benchmarks\n\nA new table.\n")
    assert checkout_commit(repo / "solvers") == head


def test_changed_code_marks_the_commit_dirty(tmp_path):
    repo = _repo_with_code_and_results(tmp_path)
    (repo / "solvers" / "code.py").write_text("x = 2\n")
    assert checkout_commit(repo / "solvers") == _git(repo, "rev-parse", "--short", "HEAD") + "+"


def test_outside_a_checkout_there_is_no_commit(tmp_path):
    assert checkout_commit(tmp_path) is None
