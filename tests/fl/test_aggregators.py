"""Masking, Paillier and CKKS aggregators compute the same sum as the plaintext one (cost comparison)."""

import numpy as np

from ppml_lab.fl import aggregators as ag


def test_he_aggregators_agree_with_plaintext():
    g = np.random.default_rng(9)
    ups = [g.normal(scale=0.5, size=300) for _ in range(4)]
    plain = ag.PlaintextAggregator().aggregate(ups)
    assert np.array_equal(plain.total, np.sum(ups, axis=0)) and plain.expansion == 1.0
    pail = ag.PaillierAggregator(key_bits=1024, allow_insecure=True, rng=10).aggregate(ups)
    assert np.max(np.abs(pail.total - plain.total)) <= 4 * 2.0**-20
    ck = ag.CKKSAggregator().aggregate(ups)
    assert np.max(np.abs(ck.total - plain.total)) < 1e-2  # depth1-n4096 preset: 25-bit scale
    mask = ag.MaskingAggregator(rng=11).aggregate(ups)
    assert np.max(np.abs(mask.total - plain.total)) <= 4 * 2.0**-21
    assert ck.expansion > mask.expansion > 1.0
    assert {r.method for r in (plain, pail, ck, mask)} == {"plaintext", "Paillier (packed)", "CKKS (TenSEAL)",
                                                          "masking (Bonawitz et al.)"}
