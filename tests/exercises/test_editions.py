"""Coding exercises (otter-grader): the committed student sections are generated, keep solutions and hidden
tests out of notebooks/, the solutions pass every test and typical wrong answers fail one.

Parametrised over every master in exercises/source/, so a new master is covered without editing this file.
``otter assign`` runs once per master per session (without otter's own kernel run: part (c) checks the
solutions here, in-process).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import editions  # noqa: E402

MASTERS = editions.masters()
IDS = [m.stem for m in MASTERS]


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """stem -> Edition, built lazily once per session."""
    out = tmp_path_factory.mktemp("editions")
    cache: dict[str, editions.Edition] = {}

    def get(master: Path) -> editions.Edition:
        if master.stem not in cache:
            cache[master.stem] = editions.build(master, out_root=out, run_tests=False)
        return cache[master.stem]

    return get


def _otter_env(ed: editions.Edition, nb) -> dict:
    """Execute the notebook's code cells (not otter's init/check lines) in a fresh namespace, cwd notebooks/."""
    env: dict = {"__name__": "__exercise__"}
    with contextlib.chdir(ROOT / "notebooks"):
        for cell in nb.cells:
            if cell["cell_type"] != "code" or "import otter" in cell["source"]:
                continue
            src = "\n".join(ln for ln in cell["source"].splitlines() if not ln.lstrip().startswith("grader."))
            exec(compile(src, f"<{ed.stem}>", "exec"), env)
    return env


def _run_tests(ed: editions.Edition, question: str, env: dict, *, otter_meta: dict):
    from otter.test_files.exception_test import ExceptionTestFile

    tf = ExceptionTestFile.from_string(otter_meta["tests"][question], path=f"{ed.stem}.ipynb")
    with contextlib.chdir(ROOT / "notebooks"):
        tf.run(env)
    return tf


def _wrong_module(stem: str):
    path = editions.WRONG / f"{stem}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"wrong_{stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _all_notebook_text() -> str:
    """Every string in every notebook under notebooks/ (sources, outputs, metadata), JSON-unescaped."""
    chunks: list[str] = []

    def walk(x):
        if isinstance(x, str):
            chunks.append(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    for p in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        walk(json.loads(p.read_text(encoding="utf-8")))
    return "\n".join(chunks)


def test_there_are_masters():
    assert MASTERS, "no otter masters in exercises/source/"


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_committed_section_is_generated(master, built):
    """(a) notebooks/NN's coding-exercise section and otter metadata equal what the pipeline builds now."""
    ed = built(master)
    committed = nbformat.read(editions.course_notebook(ed.stem), as_version=4)
    section = editions.section_of(committed)
    assert section, f"notebooks/{ed.stem}.ipynb has no '{editions.HEADING}' section: run scripts/editions.py --splice"
    assert editions.comparable(section) == editions.comparable(ed.student_cells), (
        f"notebooks/{ed.stem}.ipynb's coding-exercise section differs from its master: regenerate it "
        "(scripts/editions.py --splice), never hand-edit it")
    assert committed.metadata.get("otter") == ed.student_otter
    idx = [i for i, c in enumerate(committed.cells) if editions.TAG in c.metadata.get("tags", [])]
    assert idx == list(range(idx[0], idx[0] + len(idx))), "the section's cells must be contiguous"
    for cell in section:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"committed section of {ed.stem} has an error output"


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_no_solution_or_hidden_test_in_notebooks(master, built):
    """(b) no solution line and no hidden-test line appears anywhere in notebooks/ (sources, outputs, metadata)."""
    ed = built(master)
    master_nb = nbformat.read(master, as_version=4)
    text = _all_notebook_text()
    sol = editions.solution_lines(master_nb)
    hid = editions.hidden_test_lines(master_nb)
    assert sol, f"{master.name}: no solution found (BEGIN/END SOLUTION markers)"
    assert any(h for _, h in editions.test_cells(master_nb)), f"{master.name}: no hidden test"
    leaked = [ln for ln in sol + hid if ln in text]
    assert leaked == [], f"solution or hidden-test lines of {master.name} appear in notebooks/: {leaked}"
    # and otter's student metadata carries only public tests
    for name, src in ed.student_otter["tests"].items():
        assert "hidden=True" not in src, f"{name}: a hidden test is in the student edition's metadata"
    assert any("hidden=True" in s for s in ed.autograder_otter["tests"].values())


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_solutions_pass_every_test(master, built):
    """(c) the master's solution passes all tests, public and hidden."""
    ed = built(master)
    env = _otter_env(ed, ed.autograder_nb)
    for question in ed.autograder_otter["tests"]:
        tf = _run_tests(ed, question, env, otter_meta=ed.autograder_otter)
        assert tf.passed_all, f"{ed.stem}/{question}: the solution fails:\n{tf.summary()}"


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_unanswered_stub_is_not_passing(master, built):
    """The student edition as shipped (stub answer) runs and its public tests report 'not passing yet'."""
    ed = built(master)
    nb = nbformat.v4.new_notebook(cells=ed.student_cells)
    env = _otter_env(ed, nb)
    for question in ed.student_otter["tests"]:
        tf = _run_tests(ed, question, env, otter_meta=ed.student_otter)
        assert not tf.passed_all_public, f"{ed.stem}/{question}: the unanswered stub passes the public tests"


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_wrong_answers_fail_and_feedback_hides_the_solution(master, built):
    """(d) every typical wrong answer fails >= 1 test; what the student sees contains no solution line."""
    ed = built(master)
    mod = _wrong_module(ed.stem)
    assert mod is not None and getattr(mod, "WRONG", None), f"exercises/wrong/{ed.stem}.py with WRONG = {{...}} is missing"
    master_nb = nbformat.read(master, as_version=4)
    names = editions.student_globals(master_nb)
    sol = editions.solution_lines(master_nb)
    base = _otter_env(ed, ed.autograder_nb)
    assert set(mod.WRONG) <= set(ed.autograder_otter["tests"]), "WRONG keys must be question names"
    for question, wrongs in mod.WRONG.items():
        assert wrongs, f"{question}: no wrong answers listed"
        assert len(names[question]) == 1, f"{question}: the answer cell must define exactly one function or class"
        for wrong in wrongs:
            assert wrong.__doc__, f"{wrong.__name__}: say which mistake it models in its docstring"
            env = dict(base)
            env[names[question][0]] = wrong
            with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
                tf = _run_tests(ed, question, env, otter_meta=ed.autograder_otter)
            assert not tf.passed_all, f"{ed.stem}/{question}: wrong answer {wrong.__name__} passes every test"
            shown = tf.summary(public_only=True)
            leaked = [ln for ln in sol if ln in shown]
            assert leaked == [], f"feedback for {wrong.__name__} shows solution code: {leaked}"


def test_splice_is_idempotent_and_touches_nothing_else():
    """Splicing replaces only the tagged section, before "## Further reading" (or at the end), and twice = once."""
    v4 = nbformat.v4
    course = v4.new_notebook(cells=[v4.new_markdown_cell("# 99 title"), v4.new_code_cell("x = 1"),
                                    v4.new_markdown_cell("## Further reading\n\n- a paper")])
    section = editions._stable([v4.new_markdown_cell("## Coding exercise\n\nwrite f"), v4.new_code_cell("def f(): ...")],
                               "99_x", "student")
    once = editions.splice(course, section, {"tests": {"q": "public"}})
    twice = editions.splice(once, section, {"tests": {"q": "public"}})
    assert [c.source for c in once.cells] == ["# 99 title", "x = 1", "## Coding exercise\n\nwrite f", "def f(): ...",
                                              "## Further reading\n\n- a paper"]
    assert editions.comparable(editions.section_of(twice)) == editions.comparable(section)
    assert [c.source for c in twice.cells] == [c.source for c in once.cells]
    assert twice.metadata["otter"] == {"tests": {"q": "public"}}
    replaced = editions.splice(once, section[:1], {"tests": {}})  # a shorter new section replaces the old one
    assert [c.source for c in replaced.cells] == ["# 99 title", "x = 1", "## Coding exercise\n\nwrite f",
                                                  "## Further reading\n\n- a paper"]
    no_anchor = v4.new_notebook(cells=[v4.new_markdown_cell("# 98")])
    assert editions.splice(no_anchor, section, {}).cells[-1].source == "def f(): ..."


def test_hidden_marker_and_solution_extraction():
    """The rules the leak checks rely on: what counts as hidden, which lines count as solution."""
    assert editions.is_hidden_test('""" # BEGIN TEST CONFIG\nhidden: true\n""" # END TEST CONFIG\ndef t(): pass')
    assert not editions.is_hidden_test('""" # BEGIN TEST CONFIG\nhidden: false\n""" # END TEST CONFIG\ndef t(): pass')
    assert not editions.is_hidden_test("def test_x(f):\n    assert f(1) == 2  # not hidden")
    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[v4.new_code_cell("import numpy as np\ndef f(x):\n    # BEGIN SOLUTION\n"
                                                 "    return np.linalg.norm(x, axis=1)\n    # END SOLUTION\n"
                                                 "y = compute_something_long()  # SOLUTION")])
    assert editions.solution_lines(nb) == ["return np.linalg.norm(x, axis=1)", "y = compute_something_long()"]


def test_hidden_test_lines_name_only_hidden_tests():
    v4 = nbformat.v4
    pub = "def test_public(f):\n    assert f(2) == 4, 'f must square its input for every integer we tried'\n\ntest_public(f)"
    hid = ('""" # BEGIN TEST CONFIG\nhidden: true\n""" # END TEST CONFIG\ndef test_secret_edge(f):\n'
           "    assert f(-3) == 9, 'negative input'\n    assert f(10**6) == 10**12 and f(0) == 0 and f(1) == 1\n\n"
           "test_secret_edge(f)")
    nb = v4.new_notebook(cells=[v4.new_raw_cell("# BEGIN TESTS"), v4.new_code_cell(pub), v4.new_code_cell(hid),
                                v4.new_raw_cell("# END TESTS")])
    lines = editions.hidden_test_lines(nb)
    assert "def test_secret_edge(f):" in lines
    assert "assert f(10**6) == 10**12 and f(0) == 0 and f(1) == 1" in lines
    assert not any("test_public" in ln or "square its input" in ln for ln in lines)
