#!/usr/bin/env python3
"""Student and instructor editions of the coding exercises, generated with otter-grader (``otter assign``).

Usage (from the repository root; ``make editions`` runs the first form)::

    python scripts/editions.py                 # every master: build/editions/{student,instructor,autograder}/
    python scripts/editions.py 03 07           # only these notebooks
    python scripts/editions.py --splice 03     # also write the student section into notebooks/03_*.ipynb

Inputs: ``exercises/source/NN_<name>.ipynb``, one otter-assign master per course notebook (format in
exercises/README.md). For each master this script

1. runs ``otter assign`` into ``build/editions/otter/NN_<name>/`` (a student notebook without solutions
   and without hidden tests, an autograder notebook with both, the autograder zip);
2. builds the SECTION "## Coding exercise": the student notebook's cells, each tagged
   ``ppml-coding-exercise`` with a stable id, and the notebook metadata ``otter`` (the PUBLIC tests that
   ``grader.check`` runs in the student's kernel; hidden tests are not in it);
3. writes ``build/editions/student/NN_<name>.ipynb`` (the course notebook with that section spliced in),
   ``build/editions/instructor/NN_<name>.ipynb`` (the course notebook with the solution and every test,
   public and hidden, spliced in instead) and ``build/editions/autograder/NN_<name>-autograder.zip``;
4. with ``--splice``, writes the student section into ``notebooks/NN_<name>.ipynb`` itself. Splicing is
   idempotent: the cells tagged ``ppml-coding-exercise`` are replaced, everything else is left as it is.
   The section goes just before "## Further reading" (or at the end). Execute the notebook afterwards.

Nothing here downloads anything; otter runs in-process from the course environment.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import io
import logging
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "exercises" / "source"
WRONG = ROOT / "exercises" / "wrong"
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build" / "editions"
TAG = "ppml-coding-exercise"
HEADING = "## Coding exercise"
ANCHOR = "## Further reading"

_MARKER = re.compile(r"^\s*#\s*(BEGIN|END)\s+(QUESTION|SOLUTION|TESTS|PROMPT)\b", re.IGNORECASE)
_CONFIG = re.compile(r"^\s*#\s*ASSIGNMENT\s+CONFIG", re.IGNORECASE)


@dataclass
class Edition:
    """What ``otter assign`` produced for one master, in the shapes the course needs."""

    stem: str  # "03_dp_sgd"
    master: Path
    student_cells: list[Any]  # the section for notebooks/NN (tagged, stable ids)
    student_otter: dict[str, Any]  # nb.metadata["otter"] with PUBLIC tests only
    instructor_cells: list[Any]  # solution + every test as visible cells
    autograder_otter: dict[str, Any]  # nb.metadata["otter"] with public AND hidden tests
    autograder_nb: Any  # otter's autograder notebook (solutions, no test cells)
    autograder_zip: Path | None


def masters(only: list[str] | None = None) -> list[Path]:
    """The otter masters present, optionally restricted to notebook numbers ("03") or stems."""
    found = sorted(SOURCE.glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [p for p in found if p.stem[:2] in only or p.stem in only]
    return found


def course_notebook(stem: str) -> Path:
    path = NOTEBOOKS / f"{stem}.ipynb"
    if not path.exists():
        raise FileNotFoundError(f"master exercises/source/{stem}.ipynb has no course notebook notebooks/{stem}.ipynb")
    return path


def run_otter_assign(master: Path, out: Path, *, run_tests: bool = True) -> Path:
    """``otter assign master`` into a PRIVATE temporary directory (quiet), then a copy of it at ``out``.

    Returns the private directory: read the editions from there, never from ``out``. Two runs at once (two
    notebooks spliced in parallel, or ``make editions`` beside a splice) would otherwise rebuild the shared
    ``out`` under each other's feet, and a half-written student notebook still carries the hidden tests.
    """
    from otter.assign import main as otter_assign

    private = Path(tempfile.mkdtemp(prefix=f"editions-{master.stem}-"))
    logging.getLogger("otter").setLevel(logging.WARNING)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        otter_assign(str(master), str(private / "out"), no_pdfs=True, no_run_tests=not run_tests)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{master.stem}-", dir=out.parent))
    shutil.copytree(private / "out", staging / "out")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(staging / "out", out)  # atomic rename: readers of out see the old or the new tree
    shutil.rmtree(staging, ignore_errors=True)
    return private / "out"


def _stable(cells: list[Any], stem: str, kind: str) -> list[Any]:
    """Tag every cell and give it a deterministic id, so a re-run produces byte-identical sections."""
    result = []
    for i, cell in enumerate(cells):
        c = copy.deepcopy(cell)
        c["id"] = f"ppml-ex-{stem[:2]}-{kind}-{i:02d}"
        tags = [t for t in c.get("metadata", {}).get("tags", []) if t != TAG]
        c.setdefault("metadata", {})["tags"] = tags + [TAG]
        if c["cell_type"] == "code":
            c["outputs"], c["execution_count"] = [], None
        result.append(c)
    return result


def _heading_first(cells: list[Any], master: Path) -> list[Any]:
    """Put the "## Coding exercise" markdown cell first (otter puts its init cell first)."""
    idx = next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
                and c["source"].lstrip().startswith(HEADING)), None)
    if idx is None:
        raise ValueError(f"{master}: the first markdown cell must start with '{HEADING}'")
    return [cells[idx]] + cells[:idx] + cells[idx + 1:]


def _instructor_cells(master_nb: Any, init_cell: Any) -> list[Any]:
    """The master minus otter's raw markers: solutions in place, every test visible (hidden ones labelled)."""
    cells = [copy.deepcopy(init_cell)]
    in_tests = False
    for cell in master_nb.cells:
        src = cell["source"]
        if cell["cell_type"] == "raw":
            if _CONFIG.match(src):
                continue
            m = _MARKER.match(src)
            if m:
                in_tests = m.group(2).upper() == "TESTS" and m.group(1).upper() == "BEGIN"
                continue
        c = nbformat.v4.new_code_cell(src) if cell["cell_type"] == "code" else copy.deepcopy(cell)
        if cell["cell_type"] == "code":
            lines = [ln for ln in src.splitlines() if not re.search(r"#\s*(BEGIN|END) SOLUTION", ln)]
            body = "\n".join(ln.replace("# SOLUTION", "").rstrip() for ln in lines)
            if in_tests:
                label = "HIDDEN test (autograder only)" if is_hidden_test(src) else "public test"
                body = f"# {label}\n{body}"
            c["source"] = body
        cells.append(c)
    return cells


def is_hidden_test(src: str) -> bool:
    """Otter's rule: a test is hidden when its config block says ``hidden: true`` (or its first comment says HIDDEN)."""
    first = src.lstrip().splitlines()[0] if src.strip() else ""
    if first.startswith("#") and re.search(r"\bhidden\b", first, re.IGNORECASE):
        return True
    m = re.search(r"BEGIN\s+TEST\s+CONFIG(.*?)END\s+TEST\s+CONFIG", src, re.DOTALL | re.IGNORECASE)
    return bool(m and re.search(r"^\s*hidden\s*:\s*true\s*$", m.group(1), re.MULTILINE | re.IGNORECASE))


def build(master: Path, *, out_root: Path = BUILD, run_tests: bool = True) -> Edition:
    """Run otter assign on one master and shape its output into the course's editions (in memory)."""
    stem = master.stem
    course_notebook(stem)
    out = run_otter_assign(master, out_root / "otter" / stem, run_tests=run_tests)
    student = nbformat.read(out / "student" / master.name, as_version=4)
    autograder = nbformat.read(out / "autograder" / master.name, as_version=4)
    master_nb = nbformat.read(master, as_version=4)
    init = next(c for c in student.cells if "import otter" in c["source"])
    for name, src in student.metadata["otter"]["tests"].items():
        if "hidden=True" in src:
            raise RuntimeError(f"{master.name}: otter's student edition of {name} carries a hidden test; not splicing it")
    zips = sorted((out / "autograder").glob("*-autograder_*.zip"))
    return Edition(
        stem=stem,
        master=master,
        student_cells=_stable(_heading_first(student.cells, master), stem, "student"),
        student_otter=dict(student.metadata["otter"]),
        instructor_cells=_stable(_heading_first(_instructor_cells(master_nb, init), master), stem, "instructor"),
        autograder_otter=dict(autograder.metadata["otter"]),
        autograder_nb=autograder,
        autograder_zip=zips[-1] if zips else None,
    )


def section_of(nb: Any) -> list[Any]:
    """The cells of a notebook's coding-exercise section (tagged ``ppml-coding-exercise``)."""
    return [c for c in nb.cells if TAG in c.get("metadata", {}).get("tags", [])]


def splice(nb: Any, cells: list[Any], otter_meta: dict[str, Any]) -> Any:
    """Replace the notebook's coding-exercise section (idempotent); returns a new notebook."""
    nb = copy.deepcopy(nb)
    rest = [c for c in nb.cells if TAG not in c.get("metadata", {}).get("tags", [])]
    at = next((i for i, c in enumerate(rest) if c["cell_type"] == "markdown"
               and c["source"].lstrip().startswith(ANCHOR)), len(rest))
    nb.cells = rest[:at] + copy.deepcopy(cells) + rest[at:]
    nb.metadata["otter"] = copy.deepcopy(otter_meta)
    nbformat.validate(nb)
    return nb


def comparable(cells: list[Any]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """What must match between the committed section and a fresh build (outputs are the kernel's)."""
    return [(c["id"], c["cell_type"], c["source"], tuple(c.get("metadata", {}).get("tags", []))) for c in cells]


def write_editions(ed: Edition, *, out_root: Path = BUILD, splice_course: bool = False) -> None:
    course_path = course_notebook(ed.stem)
    course = nbformat.read(course_path, as_version=4)
    for kind, cells, meta in (("student", ed.student_cells, ed.student_otter),
                              ("instructor", ed.instructor_cells, ed.autograder_otter)):
        target = out_root / kind / course_path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(splice(course, cells, meta), target)
    if ed.autograder_zip is not None:
        (out_root / "autograder").mkdir(parents=True, exist_ok=True)
        shutil.copy(ed.autograder_zip, out_root / "autograder" / f"{ed.stem}-autograder.zip")
    if splice_course:
        nbformat.write(splice(course, ed.student_cells, ed.student_otter), course_path)


def solution_lines(master_nb: Any) -> list[str]:
    """Distinctive lines of the solutions (inside BEGIN/END SOLUTION or ending in ``# SOLUTION``)."""
    outside: set[str] = set()
    inside: list[str] = []
    for cell in master_nb.cells:
        if cell["cell_type"] != "code":
            continue
        depth = 0
        for ln in cell["source"].splitlines():
            s = ln.strip()
            if re.match(r"#\s*BEGIN SOLUTION", s):
                depth += 1
            elif re.match(r"#\s*END SOLUTION", s):
                depth -= 1
            elif depth > 0 or re.search(r"#\s*SOLUTION\s*$", s):
                inside.append(re.sub(r"#\s*SOLUTION\s*$", "", s).strip())
            else:
                outside.add(s)
    return [s for s in inside if len(s) >= 16 and not s.startswith("#") and s not in outside]


def test_cells(master_nb: Any) -> list[tuple[str, bool]]:
    """(source, hidden) of every test cell in the master."""
    out, in_tests = [], False
    for cell in master_nb.cells:
        if cell["cell_type"] == "raw":
            m = _MARKER.match(cell["source"])
            if m and m.group(2).upper() == "TESTS":
                in_tests = m.group(1).upper() == "BEGIN"
            continue
        if in_tests and cell["cell_type"] == "code":
            out.append((cell["source"], is_hidden_test(cell["source"])))
    return out


def hidden_test_lines(master_nb: Any) -> list[str]:
    """Distinctive lines of the hidden tests: each one's ``def`` line, and lines of 40+ characters that no
    public test shares (short lines such as ``rng = np.random.default_rng(2)`` occur in any notebook)."""
    tests = test_cells(master_nb)
    public = {ln.strip() for src, hidden in tests if not hidden for ln in src.splitlines()}
    lines = []
    for src, hidden in tests:
        if not hidden:
            continue
        for ln in src.splitlines():
            s = ln.strip()
            if s in public:
                continue
            if s.startswith("def ") or (len(s) >= 40 and not s.startswith(("#", '"""', "import ", "from "))):
                lines.append(s)
    return lines


def student_globals(master_nb: Any) -> dict[str, list[str]]:
    """Question name -> names the student's answer cell defines (functions/classes/assignments)."""
    result: dict[str, list[str]] = {}
    question, in_solution = None, False
    for cell in master_nb.cells:
        src = cell["source"]
        if cell["cell_type"] == "raw":
            if re.match(r"\s*#\s*BEGIN QUESTION", src):
                question = re.search(r"^name:\s*(\S+)", src, re.MULTILINE).group(1)  # type: ignore[union-attr]
                result[question] = []
            m = _MARKER.match(src)
            if m and m.group(2).upper() == "SOLUTION":
                in_solution = m.group(1).upper() == "BEGIN"
            continue
        if question and in_solution and cell["cell_type"] == "code":
            for node in ast.parse(src).body:
                if isinstance(node, ast.FunctionDef | ast.ClassDef):
                    result[question].append(node.name)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("only", nargs="*", help="notebook numbers (03) or stems (03_dp_sgd); default: all masters")
    ap.add_argument("--splice", action="store_true", help="also write the student section into notebooks/")
    ap.add_argument("--no-run-tests", action="store_true", help="skip otter's own check that solutions pass")
    args = ap.parse_args(argv)
    found = masters(args.only or None)
    if not found:
        print("no masters found in exercises/source/", file=sys.stderr)
        return 1
    for master in found:
        ed = build(master, run_tests=not args.no_run_tests)
        write_editions(ed, splice_course=args.splice)
        print(f"{ed.stem}: {len(ed.student_cells)} student cells, {len(ed.instructor_cells)} instructor cells"
              + (f", spliced into notebooks/{ed.stem}.ipynb" if args.splice else ""), flush=True)
    print(f"editions written to {BUILD.relative_to(ROOT)}/{{student,instructor,autograder}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
