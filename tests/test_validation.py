"""Every validator: the error type, and a message that names the parameter, the bound and the value."""

import math

import numpy as np
import pytest

from ppml_lab import _validation as v


@pytest.mark.parametrize(
    "value, exc, pattern",
    [
        (-1.0, ValueError, r"epsilon must be a finite number > 0, got -1.0"),
        (0, ValueError, r"epsilon must be a finite number > 0, got 0.0"),
        (math.nan, ValueError, r"epsilon must be a finite number, got nan"),
        (math.inf, ValueError, r"epsilon must be a finite number, got inf"),
        ("1", TypeError, r"epsilon must be a real number, got str"),
        (True, TypeError, r"epsilon must be a real number, got bool"),
    ],
)
def test_check_positive(value, exc, pattern):
    with pytest.raises(exc, match=pattern):
        v.check_positive("epsilon", value)


def test_check_positive_accepts_numpy_and_inf_when_allowed():
    assert v.check_positive("epsilon", np.float32(0.5)) == 0.5
    assert v.check_positive("epsilon", math.inf, allow_inf=True) == math.inf


@pytest.mark.parametrize("value", [0.0, 1.5, -0.1])
def test_check_fraction(value):
    with pytest.raises(ValueError, match=r"fraction must be a finite number in \(0, 1\]"):
        v.check_fraction("fraction", value)


def test_check_delta():
    assert v.check_delta("delta", 0.0) == 0.0
    with pytest.raises(ValueError, match=r"delta must be a finite number in \(0, 1\), got 0.0"):
        v.check_delta("delta", 0.0, allow_zero=False)
    with pytest.raises(ValueError, match=r"in \[0, 1\), got 1.0"):
        v.check_delta("delta", 1.0)


def test_check_int():
    assert v.check_int("n", np.int32(3), low=1) == 3
    with pytest.raises(TypeError, match="n must be an integer, got float"):
        v.check_int("n", 3.0)
    with pytest.raises(TypeError, match="got bool"):
        v.check_int("n", True)
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        v.check_int("n", 0, low=1)
    with pytest.raises(ValueError, match=r"in \[1, 5\], got 6"):
        v.check_int("n", 6, low=1, high=5)


def test_check_choice():
    with pytest.raises(ValueError, match="scheme must be one of 'iid', 'dirichlet', got 'skew'"):
        v.check_choice("scheme", "skew", ("iid", "dirichlet"))


def test_check_array():
    out = v.check_array("x", [[1, 2], [3, 4]], ndim=2)
    assert out.dtype == np.float64
    with pytest.raises(ValueError, match="x must not be empty"):
        v.check_array("x", [])
    with pytest.raises(ValueError, match="x must contain only finite numbers, got 1 NaN or inf"):
        v.check_array("x", [1.0, np.nan])
    with pytest.raises(TypeError, match="x must be a numeric array-like"):
        v.check_array("x", ["a", "b"])
    with pytest.raises(TypeError, match="x must be a numeric array-like"):
        v.check_array("x", [[1, 2], [3]])
    with pytest.raises(ValueError, match=r"x must have 1 dimension\(s\), got shape \(2, 2\)"):
        v.check_array("x", [[1, 2], [3, 4]], ndim=1)
    with pytest.raises(TypeError, match="x must contain integers"):
        v.check_array("x", [1.5, 2.0], integer=True)
    assert v.check_array("x", [1.0, 2.0], integer=True).dtype == np.int64


def test_check_type_and_same_shape():
    with pytest.raises(TypeError, match="name must be str, got int 3"):
        v.check_type("name", 3, str)
    with pytest.raises(ValueError, match=r"a and b must have the same shape, got \(2,\) and \(3,\)"):
        v.check_same_shape(("a", "b"), np.zeros(2), np.zeros(3))
    with pytest.raises(TypeError, match="flag must be True or False"):
        v.check_bool("flag", 1)
