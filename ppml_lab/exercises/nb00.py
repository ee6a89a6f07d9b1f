"""Exercise checks for notebook 00 (why privacy-preserving ML)."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from ppml_lab.exercises import (
    CheckResult,
    ChoiceExercise,
    Mistake,
    NumericExercise,
    failed,
    not_answered,
    passed,
)

#: The seed notebook 00 uses for its synthetic population (reproducibility only).
POPULATION_SEED = 2026


@lru_cache(maxsize=1)
def _population() -> Any:
    from ppml_lab.data import synthetic_population

    return synthetic_population(rng=POPULATION_SEED)


def _birth_year_uniqueness() -> float:
    from ppml_lab.attacks.linkage import uniqueness

    pop = _population()
    year = pop["birth_date"].astype("datetime64[Y]").astype(np.int64) + 1970
    return uniqueness({"postcode": pop["postcode"], "birth_year": year, "sex": pop["sex"]},
                      ["postcode", "birth_year", "sex"])


def check_birth_year_uniqueness(answer: Any) -> CheckResult:
    """Fraction of the notebook's population unique on postcode + birth YEAR + sex."""
    name = "birth-year uniqueness"
    if answer is None:
        return not_answered(name, "Derive birth_year from birth_date (datetime64[Y]) and call uniqueness().")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return failed(name, f"expected a fraction between 0 and 1, got {answer!r}")
    truth = _birth_year_uniqueness()
    if abs(value - truth) <= 0.005:
        return passed(name, f"{value:.3f} of people are unique — generalising the date cut uniqueness a lot.")
    if value > 1:
        return failed(name, f"{value} is not a fraction", "Divide by the population size, or use uniqueness().")
    return failed(name, f"{value:.3f} is not what the data gives",
                  "Use the same population (seed POPULATION_SEED) and all three columns: postcode, birth year, sex.")


#: Yeom et al. 2018, Thm 1: an epsilon-DP learner bounds membership advantage by e^epsilon - 1.
check_advantage_bound = NumericExercise(
    "advantage bound at epsilon={epsilon}", expected=lambda epsilon: math.expm1(epsilon), tol=1e-3,
    params={"epsilon": 0.5},
    ask="Theorem 1 of Yeom et al. 2018 bounds the advantage by e^epsilon - 1.",
    right="advantage <= e^{epsilon} - 1 = {truth:.4f}",
    hint="Compute math.expm1(epsilon).",
    wrong="{value} is not the bound",
    mistakes=(Mistake("{value} is epsilon itself",
                      "The bound is e^epsilon - 1, close to epsilon only when epsilon is small.",
                      value=lambda epsilon: epsilon),
              Mistake("{value} is e^epsilon", "Subtract 1: advantage = TPR - FPR, which is 0 for a useless attack.",
                      value=lambda epsilon: math.exp(epsilon))))


#: Which single quasi-identifier, dropped from (postcode, birth_date, sex), lowers uniqueness most?
check_most_identifying = ChoiceExercise(
    "most identifying quasi-identifier", correct="birth_date",
    ask="Drop each column in turn and compare uniqueness() of the other two.",
    right="birth date carries the most information (tens of thousands of values).",
    reasons={c: f"dropping {c!r} leaves people still largely unique" for c in ("postcode", "sex")},
    hint="Compare how many distinct values each column has.")
