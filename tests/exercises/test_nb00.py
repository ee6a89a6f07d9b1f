import math

from ppml_lab.exercises import nb00


def test_birth_year_reference_passes_and_wrong_fails():
    truth = nb00._birth_year_uniqueness()
    assert nb00.check_birth_year_uniqueness(truth).ok
    assert not nb00.check_birth_year_uniqueness(truth + 0.1).ok
    assert not nb00.check_birth_year_uniqueness(0.87).ok  # the birth-DATE figure is not the answer
    assert not nb00.check_birth_year_uniqueness("a lot").ok


def test_advantage_bound():
    assert nb00.check_advantage_bound(math.expm1(0.5)).ok
    assert not nb00.check_advantage_bound(0.5).ok
    assert not nb00.check_advantage_bound(math.exp(0.5)).ok
    assert "e^epsilon - 1" in nb00.check_advantage_bound(0.5).hint


def test_most_identifying():
    assert nb00.check_most_identifying("birth_date").ok
    assert not nb00.check_most_identifying("sex").ok
    assert not nb00.check_most_identifying(3).ok


def test_unanswered_is_not_a_pass_and_does_not_raise():
    result = nb00.check_advantage_bound(None)
    assert not result.ok and not result.answered
    assert "not answered" in str(result)
