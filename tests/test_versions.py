"""One truth for the environment: requirements.txt, environment.yml and binder/environment.yml agree."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge spells a few packages differently from PyPI
CONDA_TO_PYPI = {"pytorch-cpu": "torch", "pytorch": "torch"}
NOT_PINNED = {"python", "pip"}


def _norm(name: str) -> str:
    return re.sub(r"\[.*\]", "", name).strip().lower().replace("_", "-")


def parse_requirements(text: str) -> dict[str, str]:
    pins = {}
    for raw in text.splitlines():
        line = raw.split("#")[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)\s*==\s*([^\s;]+)", line)
        if not m:
            raise ValueError(f"requirements.txt line is not an exact pin (name==version): {raw!r}")
        pins[_norm(m.group(1))] = m.group(2)
    return pins


def parse_environment(text: str) -> dict[str, str]:
    env = yaml.safe_load(text)
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for pip_line in dep.get("pip", []):
                pins.update(parse_requirements(pip_line))
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(?:==?\s*([^\s=]+))?", dep)
        if not m:
            raise ValueError(f"cannot parse conda dependency {dep!r}")
        name = CONDA_TO_PYPI.get(m.group(1), m.group(1))
        if name in NOT_PINNED:
            continue
        if m.group(2) is None:
            raise ValueError(f"conda dependency {dep!r} is not pinned to a version")
        pins[_norm(name)] = m.group(2)
    return pins


def _diff(a: dict[str, str], b: dict[str, str]) -> list[str]:
    problems = [f"{n}: {a.get(n)} vs {b.get(n)}" for n in sorted(set(a) | set(b)) if a.get(n) != b.get(n)]
    return problems


def test_all_three_files_pin_the_same_versions():
    reqs = parse_requirements((ROOT / "requirements.txt").read_text())
    for env_file in ("environment.yml", "binder/environment.yml"):
        env = parse_environment((ROOT / env_file).read_text())
        assert _diff(reqs, env) == [], f"{env_file} disagrees with requirements.txt"


def test_known_constraints():
    reqs = parse_requirements((ROOT / "requirements.txt").read_text())
    assert reqs["torch"] == "2.13.0"  # CPU build on this disk; looser pulls CUDA
    major, minor = map(int, reqs["scikit-learn"].split(".")[:2])
    assert (major, minor) < (1, 9)  # diffprivlib 0.6.6 fails to import on 1.9.x
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    assert "python=3.11" in env["dependencies"]


def test_the_check_catches_a_disagreement():
    reqs = parse_requirements("numpy==2.4.6\ntorch==2.13.0\n")
    env = parse_environment("dependencies:\n  - numpy=2.4.5\n  - pytorch-cpu=2.13.0\n")
    assert _diff(reqs, env) == ["numpy: 2.4.6 vs 2.4.5"]
    assert _diff(reqs, parse_environment("dependencies:\n  - numpy=2.4.6\n")) == ["torch: 2.13.0 vs None"]
    with pytest.raises(ValueError, match="not an exact pin"):
        parse_requirements("numpy>=2\n")
    with pytest.raises(ValueError, match="not pinned"):
        parse_environment("dependencies:\n  - numpy\n")


def test_binder_postbuild_fails_loudly_and_installs_the_package():
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "set -e" in post and "pip install" in post and "-e ." in post
