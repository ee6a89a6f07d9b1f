"""The declarative self-checks: one entry per exercise gives pass, named mistakes, a hint, never a raise."""

import math

from ppml_lab.exercises import ChoiceExercise, Mistake, NumericExercise

CALLS = []


def _truth():
    CALLS.append(1)
    return 2.0


EX = NumericExercise(
    "demo", expected=_truth, tol=0.0, rel_tol=1e-3, ask="ask text", right="right {truth:.1f}",
    hint="generic hint", wrong="{value:g} wrong",
    mistakes=(Mistake("half {value:g}", "double it", value=1.0),
              Mistake("huge", "smaller", when=lambda v, t: v > 10 * t),
              Mistake("negated", "sign", value=lambda: -2.0, tol=0.5)))


def test_expected_is_computed_lazily_and_tolerance_is_relative():
    CALLS.clear()
    assert EX(2.0 * (1 + 0.9e-3)).ok
    assert not EX(2.0 * (1 + 1.1e-3)).ok
    assert CALLS  # computed when checked, not at import


def test_absolute_tolerance_and_exact():
    exact = NumericExercise("exact", expected=120, tol=0.0, ask="", right="ok", hint="h")
    assert exact(120).ok and not exact(120.0001).ok
    loose = NumericExercise("loose", expected=1.0, tol=0.1, ask="", right="ok", hint="h")
    assert loose(1.09).ok and not loose(1.11).ok


def test_named_mistakes_and_formatting():
    r = EX(1.0)
    assert not r.ok and r.message == "half 1" and r.hint == "double it"
    r = EX(100.0)
    assert not r.ok and r.message == "huge"
    r = EX(-2.3)
    assert not r.ok and r.message == "negated" and r.hint == "sign"
    assert EX(-2.5).message == "negated"  # a mistake's own tolerance is inclusive, like the exercise's
    r = EX(5.0)
    assert not r.ok and r.message == "5 wrong" and r.hint == "generic hint"
    assert str(EX(2.0)).endswith("right 2.0")


def test_unanswered_and_non_numbers_never_raise():
    r = EX(None)
    assert not r.ok and not r.answered and "ask text" in str(r)
    for bad in ("abc", True, math.nan, math.inf, [1, 2]):
        r = EX(bad)
        assert not r.ok and r.answered


def test_hint_and_wrong_message_do_not_print_the_answer():
    r = EX(7.0)
    assert "2.0" not in r.message and "2.0" not in r.hint


def test_choice():
    ch = ChoiceExercise("pick", correct="c", ask="a-d", right="yes", reasons={"a": "no a", "b": "no b"},
                        hint="think", normalise=True)
    assert ch(" C ").ok
    r = ch("a")
    assert not r.ok and r.message == "no a" and r.hint == "think"
    r = ch("z")
    assert not r.ok and "'a', 'b', 'c'" in r.message
    assert not ch(3).ok
    assert not ch(None).answered
    strict = ChoiceExercise("pick", correct="c", ask="", right="yes", reasons={"a": "no"})
    assert not strict("C").ok


PARAM = NumericExercise(
    "sum of {n} ones", expected=lambda n, w: n * w, tol=0.0, params={"n": 3, "w": 1.0}, whole=True,
    ask="add {n}", right="{truth:g}", hint="count to {n}",
    mistakes=(Mistake("off by one", "", value=lambda n, w: n - 1),))


def test_parameters_default_override_and_refuse_unknown():
    assert PARAM(3).ok and not PARAM(4).ok
    assert PARAM(5, n=5).ok and not PARAM(3, n=5).ok
    assert PARAM(4, n=5).message == "off by one"
    assert PARAM(6, n=5).hint == "count to 5" and PARAM(None, n=5).exercise == "sum of 5 ones"
    import pytest

    with pytest.raises(TypeError, match="nn"):
        PARAM(3, nn=5)


def test_whole_numbers_only_when_declared():
    assert not PARAM(3.0).ok and "whole number" in PARAM(3.0).message
    assert not PARAM(True).ok
