"""SECURITY.md is the threat model: every test it cites exists, and every attack test is cited there."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECURITY = ROOT / "SECURITY.md"
REF = re.compile(r"(tests/[\w/]+\.py)?::(test\w*)")


def _refs(text: str) -> list[tuple[str, str]]:
    """(file, test) pairs; a bare ``::test_name`` refers to the file named last before it."""
    out, last = [], None
    for f, t in REF.findall(text):
        last = f or last
        if last is not None:
            out.append((last, t))
    return out


def _test_functions(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text())
    return {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test")}


def _is_attack(fn: ast.FunctionDef) -> bool:
    return any("mark.attack" in ast.unparse(d) for d in fn.decorator_list)


def _module_marked_attack(path: Path) -> bool:
    return re.search(r"pytestmark\s*=.*mark\.attack", path.read_text()) is not None


def test_every_cited_test_exists():
    refs = _refs(SECURITY.read_text())
    assert len(refs) > 50
    missing = [f"{f}::{t}" for f, t in refs if not (ROOT / f).exists() or t not in _test_functions(ROOT / f)]
    assert not missing, f"SECURITY.md cites tests that do not exist: {missing}"


def test_every_attack_test_is_cited():
    cited = set(_refs(SECURITY.read_text()))
    uncited = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        rel = path.relative_to(ROOT).as_posix()
        module_attack = _module_marked_attack(path)
        for name, fn in _test_functions(path).items():
            if (module_attack or _is_attack(fn)) and (rel, name) not in cited:
                uncited.append(f"{rel}::{name}")
    assert not uncited, f"attack tests missing from SECURITY.md: {uncited}"
