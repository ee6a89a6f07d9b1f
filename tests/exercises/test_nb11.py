from ppml_lab.exercises import nb11
from ppml_lab.fl.dp_fedavg import dp_fedavg_epsilon


def test_noise_on_mean():
    assert nb11.check_noise_on_mean(1.1 * 1.0 / (0.1 * 1000)).ok
    assert not nb11.check_noise_on_mean(1.1).ok
    assert "sum" in nb11.check_noise_on_mean(1.1).message
    assert not nb11.check_noise_on_mean(None).answered


def test_epsilon_after():
    truth = dp_fedavg_epsilon(sample_rate=0.1, noise_multiplier=1.0, rounds=100, delta=1e-5)
    assert nb11.check_epsilon_after(truth).ok
    assert not nb11.check_epsilon_after(truth * 1.1).ok
    assert not nb11.check_epsilon_after("big").ok


def test_clients_or_rate():
    assert nb11.check_more_clients_or_higher_rate("clients").ok
    assert not nb11.check_more_clients_or_higher_rate("rate").ok
    assert not nb11.check_more_clients_or_higher_rate(2).ok


def test_distributed_epsilon():
    truth = dp_fedavg_epsilon(sample_rate=1.0, noise_multiplier=1.0, rounds=10, delta=1e-5)
    assert abs(truth - 19.05) < 0.01  # the Gaussian at q = 1, z = 1, 10 rounds, delta = 1e-5
    assert nb11.check_distributed_epsilon(truth).ok
    amplified = dp_fedavg_epsilon(sample_rate=0.1, noise_multiplier=1.0, rounds=100, delta=1e-5)
    res = nb11.check_distributed_epsilon(amplified)
    assert not res.ok and "amplified" in res.message
    assert not nb11.check_distributed_epsilon(truth * 1.1).ok
    assert not nb11.check_distributed_epsilon(None).answered
