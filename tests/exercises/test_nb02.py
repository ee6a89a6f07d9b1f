from ppml_lab.dp.accountant import find_noise_multiplier
from ppml_lab.exercises import nb02


def test_basic_composition():
    assert nb02.check_basic_composition(1.0).ok
    assert not nb02.check_basic_composition(0.05).ok
    assert not nb02.check_basic_composition(None).answered


def test_sgd_epsilon():
    truth = nb02._sgd_epsilon()
    assert 0.5 < truth < 3
    assert nb02.check_sgd_epsilon(truth).ok
    assert not nb02.check_sgd_epsilon(truth * 1.1).ok
    assert "amplification" in nb02.check_sgd_epsilon(truth * 100).hint


def test_noise_multiplier():
    sigma = find_noise_multiplier(**nb02.TARGET)
    assert nb02.check_noise_multiplier(sigma).ok
    assert not nb02.check_noise_multiplier(sigma * 0.8).ok  # too little noise
    assert not nb02.check_noise_multiplier(sigma * 3).ok  # wasteful
    assert not nb02.check_noise_multiplier(-1).ok


def test_remaining_budget():
    assert nb02.check_remaining_budget(0.5).ok
    assert not nb02.check_remaining_budget(-0.5).ok
    assert not nb02.check_remaining_budget("half").ok
