from ppml_lab.exercises import nb13


def test_measurement_epsilon():
    assert nb13.check_measurement_epsilon(2.0 * 0.8 / 6).ok
    assert not nb13.check_measurement_epsilon(2.0 / 6).ok
    assert "warm start" in nb13.check_measurement_epsilon(2.0 / 6).message
    assert not nb13.check_measurement_epsilon(2.0 * 0.8 / 3).ok
    assert not nb13.check_measurement_epsilon(None).answered


def test_leaky_generator():
    assert nb13.check_leaky_generator("empirical").ok
    assert not nb13.check_leaky_generator("mwem").ok
    assert not nb13.check_leaky_generator(1).ok


def test_total_spend():
    assert nb13.check_total_spend(3.0).ok
    assert not nb13.check_total_spend(2.0).ok
    assert not nb13.check_total_spend("x").ok
