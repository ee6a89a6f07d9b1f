"""Notebook 03 exercise checks: reference answers pass, typical wrong answers fail."""

from ppml_lab.dp.accountant import RDPAccountant
from ppml_lab.exercises import nb03


def test_noise_std():
    assert nb03.check_noise_std(1.1 * 0.5 / 100)
    assert not nb03.check_noise_std(0.55)  # std on the sum
    assert not nb03.check_noise_std(0.011)  # forgot C
    assert not nb03.check_noise_std("abc")
    r = nb03.check_noise_std(None)
    assert not r and not r.answered and "not answered yet" in str(r)


def test_epsilon():
    s = nb03.EPSILON_SETTING
    acc = RDPAccountant()
    acc.step(noise_multiplier=s["noise_multiplier"], sample_rate=s["sample_rate"], steps=s["steps"])
    assert nb03.check_epsilon(acc.get_epsilon(s["delta"]))
    no_subsampling = RDPAccountant()
    no_subsampling.step(noise_multiplier=1.0, sample_rate=1.0, steps=1000)
    assert not nb03.check_epsilon(no_subsampling.get_epsilon(1e-5))
    assert not nb03.check_epsilon(1.0)
    assert not nb03.check_epsilon(float("nan"))


def test_clip_factor():
    assert nb03.check_clip_factor(0.25)
    assert not nb03.check_clip_factor(1)
    assert not nb03.check_clip_factor(4)
    assert "PASS" in str(nb03.check_clip_factor(0.25))
