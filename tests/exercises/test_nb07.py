import numpy as np

from ppml_lab.exercises import nb07
from ppml_lab.mpc.protocols import secure_sum


def test_pooled_variance_reference_via_secure_sum_passes():
    j = nb07.feature_column()
    parts = [np.array([s.n_samples, s.X[:, j].sum(), (s.X[:, j] ** 2).sum()]) / 1000.0
             for s in nb07.hospital_sites().values()]
    n, s1, s2 = secure_sum(parts, rng=1).value * 1000.0
    assert nb07.check_pooled_variance(s2 / n - (s1 / n) ** 2).ok


def test_pooled_variance_wrong_answers_fail():
    truth = nb07._pooled_variance()
    assert not nb07.check_pooled_variance(truth * 569 / 568).ok
    assert "ddof" in nb07.check_pooled_variance(truth * 569 / 568).hint
    sites = list(nb07.hospital_sites().values())
    j = nb07.feature_column()
    assert not nb07.check_pooled_variance(np.mean([np.var(s.X[:, j]) for s in sites])).ok
    assert not nb07.check_pooled_variance("big").ok
    assert not nb07.check_pooled_variance(None).answered


def test_leaked_difference():
    d1, d2 = nb07.reuse_transcript()
    assert nb07.check_leaked_difference(d1 - d2).ok
    assert nb07.check_leaked_difference((d1 - d2).view(np.int64)).ok
    assert not nb07.check_leaked_difference(d2 - d1).ok
    assert not nb07.check_leaked_difference(d1).ok
    assert not nb07.check_leaked_difference(None).answered


def test_bytes_per_multiplication():
    assert nb07.check_bytes_per_multiplication(32).ok
    assert not nb07.check_bytes_per_multiplication(16).ok
    assert "both parties" in nb07.check_bytes_per_multiplication(16).hint
    assert not nb07.check_bytes_per_multiplication("x").ok
