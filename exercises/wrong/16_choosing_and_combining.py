"""Typical wrong answers to the coding exercise of notebook 16 (total epsilon per hospital).

tests/exercises/test_editions.py binds each function below to the name the student defines
(``epsilon_per_hospital``) and checks that otter's tests for the question reject it.
"""


def epsilon_per_hospital_ignores_units(releases, *, max_patients):
    """Adds the epsilons as printed, whatever their unit: a patient-level epsilon is not a hospital's."""
    for _, unit in releases:
        if unit not in ("patient", "hospital"):
            raise ValueError(f"unknown unit {unit!r}")
    return sum(e for e, _ in releases)


def epsilon_per_hospital_divides(releases, *, max_patients):
    """Divides the patient-level epsilon by the group size instead of multiplying (group privacy inverted)."""
    total = 0.0
    for e, unit in releases:
        if unit == "patient":
            total += e / max_patients
        elif unit == "hospital":
            total += e
        else:
            raise ValueError(f"unknown unit {unit!r}")
    return total


def epsilon_per_hospital_max(releases, *, max_patients):
    """Reports the largest converted release instead of their sum (no composition)."""
    vals = []
    for e, unit in releases:
        if unit not in ("patient", "hospital"):
            raise ValueError(f"unknown unit {unit!r}")
        vals.append(e * max_patients if unit == "patient" else e)
    return max(vals, default=0.0)


def epsilon_per_hospital_silent_unknown(releases, *, max_patients):
    """Treats any unit other than 'patient' as a hospital: a 'record'-level epsilon is silently added."""
    return sum(e * max_patients if unit == "patient" else e for e, unit in releases)


def epsilon_per_hospital_no_checks(releases, *, max_patients):
    """Right conversion, but no refusal of a negative epsilon or max_patients < 1."""
    total = 0.0
    for e, unit in releases:
        if unit == "patient":
            total += max_patients * e
        elif unit == "hospital":
            total += e
        else:
            raise ValueError(f"unknown unit {unit!r}")
    return total


WRONG = {"q16_budget_per_hospital": [
    epsilon_per_hospital_ignores_units,
    epsilon_per_hospital_divides,
    epsilon_per_hospital_max,
    epsilon_per_hospital_silent_unknown,
    epsilon_per_hospital_no_checks,
]}
