"""The course map and the notebooks directory agree, and every notebook follows the house skeleton."""

from pathlib import Path

import nbformat
import pytest

from ppml_lab.course import COURSE, course_map

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_map_is_ordered_and_numbered():
    files = [f for f, _, _ in COURSE]
    assert files == sorted(files)
    assert [int(f[:2]) for f in files] == list(range(len(files)))


def test_every_notebook_is_on_the_map():
    listed = {f for f, _, _ in COURSE}
    assert NOTEBOOKS, "no notebooks found"
    assert {p.name for p in NOTEBOOKS} <= listed


def test_course_map_frame():
    frame = course_map(ROOT / "notebooks")
    assert list(frame.columns) == ["notebook", "topic", "you will", "available"]
    assert frame["available"].sum() == len(NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_skeleton_and_committed_outputs(path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
    for section in ("learning goals", "summary", "exercises", "further reading", "what can go wrong"):
        assert section in text, f"{path.name} lacks a '{section}' section"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), f"{path.name} is committed without executing every cell"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name} has committed error outputs"
    assert "check_" in "\n".join(c.source for c in code), f"{path.name} has no checked exercises"


def test_the_capstone_stays_last():
    assert COURSE[-1][0].endswith("_choosing_and_combining.ipynb")
    assert NOTEBOOKS[-1].name == COURSE[-1][0]
