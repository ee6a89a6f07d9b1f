from ppml_lab.dp.accounting import find_noise_multiplier
from ppml_lab.exercises import nb02


def test_basic_composition():
    assert nb02.check_basic_composition(1.0).ok
    assert not nb02.check_basic_composition(0.05).ok
    assert not nb02.check_basic_composition(None).answered


def test_rdp_overstatement():
    rdp, pld = nb02._rdp_and_pld_epsilons()
    assert 0 < pld < rdp
    truth = 100 * (rdp / pld - 1)
    assert nb02.check_rdp_overstatement(truth).ok
    assert nb02.check_rdp_overstatement(round(truth, 1)).ok
    assert not nb02.check_rdp_overstatement(truth + 1).ok
    below = nb02.check_rdp_overstatement(100 * (1 - pld / rdp))  # the gap measured against RDP
    assert not below.ok and "divide by the PLD" in below.hint
    assert "percent" in nb02.check_rdp_overstatement(pld).hint
    assert "percent" in nb02.check_rdp_overstatement(truth / 100).hint
    assert not nb02.check_rdp_overstatement(None).answered


def test_exercise_2_is_not_notebook_03s():
    from ppml_lab.exercises import nb03

    assert nb02.PLD_SETTING != nb03.EPSILON_SETTING


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
