"""`make lab` opens JupyterLab on notebooks/: the student's folder holds the course and nothing else.

Test configuration (nbval's sanitiser), editions, exercise sources and build output live elsewhere; a
stray file there is what a learner would click on first.
"""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COURSE_FILE = re.compile(r"^[0-9]{2}_[a-z0-9_]+\.ipynb$")


def _shipped_files() -> list[str]:
    """Files under notebooks/ that a clone gets (tracked by git), relative to notebooks/."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", "notebooks"], cwd=ROOT, capture_output=True,
                             check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: nothing to compare against")
    return [p[len("notebooks/"):] for p in out.decode().split("\0") if p]


def test_student_folder_holds_only_course_notebooks():
    files = _shipped_files()
    assert files, "no notebooks tracked under notebooks/"
    strays = [f for f in files if not COURSE_FILE.match(f)]
    assert not strays, f"notebooks/ is what `make lab` shows students; move these out of it: {strays}"


def test_nbval_sanitiser_lives_with_the_tests():
    sanitiser = ROOT / "tests" / "nbval_sanitize.cfg"
    text = sanitiser.read_text()
    # nbval reads "regex: ... / replace: ..." pairs; an empty or mangled file would silently mask nothing
    assert len(re.findall(r"^regex: .+\n^replace: .+$", text, flags=re.MULTILINE)) >= 3
    makefile = (ROOT / "Makefile").read_text()
    assert "--nbval-sanitize-with tests/nbval_sanitize.cfg" in makefile
    assert "notebooks/sanitize.cfg" not in makefile


def test_lab_opens_on_the_course_folder():
    lab = re.search(r"^lab:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    assert lab and "--notebook-dir=notebooks" in lab.group(1)
