"""The course map and the notebooks directory agree, every notebook follows the house skeleton, and the
learner-facing parts of the map (prerequisites, study-time estimates, glossary) are checked against the
notebooks they describe."""

import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ppml_lab.course import (
    CODE_LINES_PER_MINUTE,
    COURSE,
    GLOSSARY,
    MINUTES_PER_CODING_EXERCISE,
    MINUTES_PER_EXERCISE,
    PREREQUISITES,
    READING_WORDS_PER_MINUTE,
    course_map,
    glossary_frame,
    readme_course_table,
    study_minutes,
    study_time,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _text(path):
    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in nb.cells)


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
    assert list(frame.columns) == ["notebook", "topic", "you will", "prerequisites", "available",
                                   "study time (est., min)"]
    assert frame["available"].sum() == len(NOTEBOOKS)
    assert frame["study time (est., min)"].notna().sum() == len(NOTEBOOKS)
    assert list(course_map().columns) == ["notebook", "topic", "you will", "prerequisites"]


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


# --- prerequisites -------------------------------------------------------------------------------------


def test_every_notebook_has_prerequisites_that_come_before_it():
    assert set(PREREQUISITES) == {f for f, _, _ in COURSE}
    for file, (earlier, background) in PREREQUISITES.items():
        assert background.strip(), f"{file}: no background stated"
        for nn in earlier:
            assert int(nn) < int(file[:2]), f"{file} lists {nn} as a prerequisite, which comes later"
            assert any(f.startswith(nn + "_") for f, _, _ in COURSE), f"{file}: prerequisite {nn} is not a notebook"


# --- study time ----------------------------------------------------------------------------------------


def _toy_notebook(tmp_path, *, numbered=True):
    cells = [new_markdown_cell("# Title\n\n" + " ".join(["word"] * 200)), new_code_cell("a = 1\n\nb = 2\nc = a + b")]
    cells.append(new_markdown_cell("## Exercises\n\n" + ("**1.** first\n\n**2.** second" if numbered else "Two tasks.")))
    cells += [new_code_cell("answer = None"), new_code_cell("answer = None")]
    cells.append(new_markdown_cell("## Coding exercise\n\n**1.** write it"))
    cells += [new_code_cell("def f():\n    return 1"), new_code_cell("grader.check('q')")]
    cells.append(new_markdown_cell("## Further reading\n\n**3.** not an exercise"))
    path = tmp_path / "toy.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    return path


def test_study_time_known_answer(tmp_path):
    path = _toy_notebook(tmp_path)
    got = study_time(path)
    # Title + 200 words + Exercises + "1 first 2 second" + "Coding exercise 1 write it" + "Further reading"
    # + "3 not an exercise"
    words = 1 + 200 + 1 + 4 + 5 + 2 + 4
    assert got.words == words
    assert got.code_lines == 8  # 3 non-blank lines + two exercise cells + 3 in the coding exercise
    assert got.exercises == 2  # the numbered prompts, not the coding exercise's or Further reading's
    assert got.coding_exercises == 1
    expected = (words / READING_WORDS_PER_MINUTE + 8 / CODE_LINES_PER_MINUTE + 2 * MINUTES_PER_EXERCISE
                + MINUTES_PER_CODING_EXERCISE)
    assert got.minutes == pytest.approx(expected)
    assert study_minutes(path) == 5 * -(-expected // 5)


def test_study_time_counts_exercise_cells_when_prompts_are_unnumbered(tmp_path):
    assert study_time(_toy_notebook(tmp_path, numbered=False)).exercises == 2


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_study_minutes_refuses_a_bad_rounding(tmp_path, bad):
    with pytest.raises(ValueError, match="round_to must be an integer >= 1"):
        study_minutes(_toy_notebook(tmp_path), round_to=bad)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_has_counted_exercises(path):
    assert study_time(path).exercises >= 1, f"{path.name}: no exercise found under its Exercises heading"


# --- glossary ------------------------------------------------------------------------------------------


def test_glossary_is_sorted_unique_and_one_sentence_each():
    terms = [e.term for e in GLOSSARY]
    assert terms == sorted(terms, key=str.lower)
    assert len(set(t.lower() for t in terms)) == len(terms)
    for e in GLOSSARY:
        assert e.definition.endswith("."), e.term
        assert not re.search(r"[.!?]\s+[A-Z]", e.definition[:-1]), f"{e.term}: more than one sentence"
    assert list(glossary_frame().columns) == ["term", "definition", "introduced in"]


def test_glossary_covers_the_course_terms():
    required = ["epsilon", "delta", "privacy unit", "RDP", "PLD", "zCDP", "clipping norm", "sensitivity",
                "Paillier", "CKKS", "rescaling", "secret sharing", "Beaver triple", "SecAgg", "SecAgg+",
                "SuperLink", "SuperNode", "LiRA", "membership inference", "canary", "exposure",
                "zero-knowledge proof", "Sigma protocol", "Fiat–Shamir"]
    terms = " | ".join(e.term for e in GLOSSARY)
    for term in required:
        assert term in terms, f"glossary lacks {term!r}"


@pytest.mark.parametrize("entry", GLOSSARY, ids=lambda e: e.term)
def test_glossary_term_is_introduced_by_its_notebook(entry):
    path = ROOT / "notebooks" / entry.notebook
    assert path.exists(), f"{entry.term}: {entry.notebook} does not exist"
    assert entry.notebook in {f for f, _, _ in COURSE}
    text = _text(path).lower()
    assert any(m.lower() in text for m in entry.mentions), f"{entry.notebook} never mentions {entry.term!r}"


# --- what the learner sees: notebook 00, the README --------------------------------------------------------


def _course_map_cell(nb):
    cells = [c for c in nb.cells if c.cell_type == "code" and "course_map(" in c.source]
    assert len(cells) >= 1, "notebook 00 has no course-map cell"
    return cells[0]


def test_notebook_00_committed_course_map_shows_every_notebook_available():
    nb = nbformat.read(ROOT / "notebooks" / "00_why_ppml.ipynb", as_version=4)
    outputs = _course_map_cell(nb).get("outputs", [])
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert html, "the course-map cell of notebook 00 has no committed table"
    for f, _, _ in COURSE:
        assert f in html, f"committed course map lacks {f}"
    assert html.count("<td>True</td>") == len(COURSE)
    assert "<td>False</td>" not in html
    assert "study time" in html and "prerequisites" in html


def _readme_course_rows():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| # | notebook |"))
    header = [h.strip() for h in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, [c.strip() for c in line.strip("|").split("|")])))
    return header, rows


def test_readme_course_table_matches_the_map():
    header, rows = _readme_course_rows()
    assert "prerequisites" in header and "study (est., min)" in header
    assert "time (s)" in header and "peak memory (MB)" in header  # the measured run-time columns stay
    assert [r["#"] for r in rows] == [f[:2] for f, _, _ in COURSE]
    for row, (f, topic, goal) in zip(rows, COURSE):
        assert row["topic"] == topic and row["you will"] == goal
        earlier, _ = PREREQUISITES[f]
        assert row["prerequisites"] == (", ".join(earlier) if earlier else "—"), f
        computed = study_minutes(ROOT / "notebooks" / f)
        shown = int(row["study (est., min)"])
        # the README is regenerated by hand; it may lag small edits of a notebook, not large ones
        assert abs(shown - computed) <= max(15, 0.25 * computed), (
            f"README shows {shown} min of study for {f}, the notebook now gives {computed}: "
            "rewrite the table with `python -m ppml_lab.course README.md`")


def test_readme_states_the_study_time_rates_the_code_uses():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{READING_WORDS_PER_MINUTE} words a minute" in readme
    assert f"code lines at {CODE_LINES_PER_MINUTE} a minute" in readme
    assert f"{MINUTES_PER_EXERCISE} minutes per exercise" in readme
    assert f"{MINUTES_PER_CODING_EXERCISE} per coding exercise" in readme


# --- the regulatory map stays current --------------------------------------------------------------------


def test_no_notebook_cites_the_replaced_vietnamese_decree_as_current_or_the_short_chapter_v():
    for path in NOTEBOOKS:
        text = _text(path)
        if re.search(r"Decree\s*(No\.\s*)?13/2023", text):
            assert "91/2025/QH15" in text, f"{path.name} cites Decree 13/2023 without the law that replaced it"
        assert not re.search(r"44\s*[-–]\s*49", text), f"{path.name}: GDPR Chapter V is Arts. 44-50"


def test_capstone_regulatory_map_has_the_current_instruments():
    text = _text(ROOT / "notebooks" / "16_choosing_and_combining.ipynb")
    for needle in ("91/2025/QH15", "GDPR Art. 9", "44–50", "s. 3(1)", "Opinion 28/2024", "2024/1689",
                   "Arts. 53", "Benitez", "Technology Science", "not legal advice"):
        assert needle in text, f"notebook 16's regulatory map lacks {needle!r}"
    table = next(c.source for c in nbformat.read(ROOT / "notebooks" / "16_choosing_and_combining.ipynb",
                                                 as_version=4).cells if "regulation = pd.DataFrame" in c.source)
    hipaa = next(line for line in table.splitlines() if "Safe Harbor" in line or "re-identified" in line)
    assert "Sweeney 2000" not in table, "Safe Harbor removes the fields Sweeney (2000) linked on"
    assert hipaa


def test_readme_course_table_regeneration_keeps_measured_columns_and_refuses_a_readme_without_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    again = readme_course_table(readme)
    _, before = _readme_course_rows()
    after_rows = [line for line in again.splitlines() if re.match(r"^\| \d\d \|", line)]
    assert len(after_rows) == len(COURSE)
    for row, line in zip(before, after_rows):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[-2:] == [row["time (s)"], row["peak memory (MB)"]]
    assert again.replace(" ", "").count("\n") == readme.replace(" ", "").count("\n")
    with pytest.raises(ValueError, match="course table"):
        readme_course_table("# no table here\n")


def test_study_time_stops_counting_at_the_next_section(tmp_path):
    cells = [new_markdown_cell("## Exercises\n\n**1.** one\n\n**2.** two"), new_code_cell("answer = None"),
             new_markdown_cell("## Further reading\n\n**3.** a numbered reference, not an exercise")]
    path = tmp_path / "plain.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    assert study_time(path).exercises == 2


def test_study_minutes_rounds_up_never_down(tmp_path):
    path = tmp_path / "tiny.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("word")]), path)
    assert 0 < study_time(path).minutes < 1
    assert study_minutes(path) == 5  # an estimate of 0.01 minutes is shown as 5, not 0


def test_course_map_marks_missing_notebooks(tmp_path):
    first = COURSE[0][0]
    nbformat.write(new_notebook(cells=[new_markdown_cell("word")]), tmp_path / first)
    frame = course_map(tmp_path)
    assert frame["available"].tolist() == [True] + [False] * (len(COURSE) - 1)
    assert frame["study time (est., min)"].notna().tolist() == [True] + [False] * (len(COURSE) - 1)
