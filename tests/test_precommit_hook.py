"""The pre-commit hook (.pre-commit-hooks.yaml) runs `kvcalc check` on a project's Markdown.

Two tests on a sample git repository with a right figure, a wrong one (the article's
'2.6 GB' for 21,474,836,480 B) and a non-Markdown file the hook must not read:
one applies the hook definition as pre-commit does (entry + files selected by `types`),
the other runs pre-commit itself (`pre-commit try-repo`, which installs kvcalc from this
repository into a fresh environment: about 30 s).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RIGHT = "GQA: <!-- kvcalc: size llama3-70b --seq 2048 --batch 32 --> 21.47 GB\n"
WRONG = "The article said\n<!-- kvcalc: size llama3-70b --seq 2048 --batch 32 --> 2.6 GB.\n"


def hook() -> dict:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    return next(h for h in hooks if h["id"] == "kvcalc-check")


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    (repo / "docs").mkdir(parents=True)
    (repo / "README.md").write_text("# project\n\n" + RIGHT)
    (repo / "docs" / "capacity.md").write_text("# capacity\n\n" + WRONG)
    (repo / "notes.txt").write_text(WRONG)  # not Markdown: the hook's types leave it alone
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "sample")
    return repo


def markdown(path: str) -> bool:
    try:  # pre-commit's own file typing, when installed (it is, with the dev extras)
        from identify.identify import tags_from_filename

        return "markdown" in tags_from_filename(path)
    except ImportError:
        return path.endswith((".md", ".markdown"))


def test_hook_definition(sample: Path):
    h = hook()
    assert (h["language"], h["types"], h["entry"].split()) == (
        "python",
        ["markdown"],
        ["kvcalc", "check"],
    )
    files = [f for f in git(sample, "ls-files").split() if markdown(f)]
    assert files == ["README.md", "docs/capacity.md"]
    entry = shlex.split(h["entry"])
    entry[0] = str(Path(sys.executable).parent / entry[0])  # the console script of this venv
    done = subprocess.run(
        [*entry, *h.get("args", []), *files], cwd=sample, capture_output=True, text=True
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "docs/capacity.md:4:56: off x8.26: 2.6 GB is 21.475 GB" in done.stdout
    assert "README.md:3:61: within rounding" in done.stdout
    (sample / "docs" / "capacity.md").write_text("# capacity\n\n" + RIGHT)
    again = subprocess.run([*entry, *files], cwd=sample, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr


@pytest.mark.slow  # builds a venv from PyPI: 'make test-hooks' (CI) runs it, 'make test' not
@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="try-repo needs this repository's git")
def test_pre_commit_try_repo(sample: Path, tmp_path: Path):
    pytest.importorskip("pre_commit")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "kvcalc-check", "--all-files"],
        cwd=sample,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "docs/capacity.md:4:56: off x8.26" in done.stdout
    assert "notes.txt" not in done.stdout
