from ppml_lab.exercises import nb13


def test_measurement_epsilon():
    assert nb13.check_measurement_epsilon(2.0 * 0.75 / 6).ok  # 5 % count, 20 % warm start, 2T = 6 steps
    assert not nb13.check_measurement_epsilon(2.0 * 0.8 / 6).ok
    assert "noisy count" in nb13.check_measurement_epsilon(2.0 * 0.8 / 6).message
    assert not nb13.check_measurement_epsilon(2.0 / 6).ok
    assert "warm start" in nb13.check_measurement_epsilon(2.0 / 6).message
    assert not nb13.check_measurement_epsilon(2.0 * 0.75 / 3).ok
    assert nb13.check_measurement_epsilon(0.5, epsilon=4.0, iterations=2, init_fraction=0.0, count_fraction=0.5).ok
    assert not nb13.check_measurement_epsilon(None).answered


def test_measurement_epsilon_matches_the_package_split(monkeypatch):
    # the exercise's answer is what ppml_lab's MWEM actually spends per measurement
    from ppml_lab.data import discretised_population, synthetic_population
    from ppml_lab.dp import synthetic as sy

    table, _ = discretised_population(synthetic_population(300, rng=1))
    spent = []
    real = sy.laplace_mechanism

    def lap(value, *, epsilon, sensitivity, rng=None):
        spent.append(epsilon)
        return real(value, epsilon=epsilon, sensitivity=sensitivity, rng=rng)

    monkeypatch.setattr(sy, "laplace_mechanism", lap)
    sy.mwem(table, epsilon=2.0, iterations=3, rng=0)
    assert nb13.check_measurement_epsilon(spent[-1]).ok


def test_leaky_generator():
    assert nb13.check_leaky_generator("empirical").ok
    assert not nb13.check_leaky_generator("mwem").ok
    assert not nb13.check_leaky_generator(1).ok


def test_total_spend():
    assert nb13.check_total_spend(3.0).ok
    assert not nb13.check_total_spend(2.0).ok
    assert not nb13.check_total_spend("x").ok
