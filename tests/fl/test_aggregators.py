"""Masking, Paillier and CKKS aggregators compute the same sum as the plaintext one (cost comparison);
the CKKS aggregator releases aggregates only through ckks.decrypt_for_release."""

import numpy as np
import pytest

from ppml_lab.exceptions import PrecisionError, ProtocolError
from ppml_lab.fl import aggregators as ag
from ppml_lab.he import ckks


def test_aggregators_agree_with_plaintext():
    g = np.random.default_rng(9)
    ups = [g.normal(scale=0.5, size=300) for _ in range(4)]
    plain = ag.PlaintextAggregator().aggregate(ups)
    assert np.array_equal(plain.total, np.sum(ups, axis=0)) and plain.expansion == 1.0
    pail = ag.PaillierAggregator(key_bits=1024, allow_insecure=True, rng=10).aggregate(ups)
    assert np.max(np.abs(pail.total - plain.total)) <= 4 * 2.0**-20
    ck_agg = ag.CKKSAggregator()
    ck = ck_agg.aggregate(ups)
    std = ckks.flooding_std(ck_agg.last_ciphertexts[0], statistical_security=ck_agg.statistical_security,
                            adversarial_queries=ck_agg.max_releases)
    # released = sum + N(0, std^2) flooding (+ CKKS error ~1e-9 at the 2^50 scale): 6 sigma over 300 values
    # fails about once in 10^6 runs
    assert 1e-6 < std < 1e-3 and np.max(np.abs(ck.total - plain.total)) < 6 * std
    mask = ag.MaskingAggregator(rng=11).aggregate(ups)
    raw = ag.MaskingAggregator(level="raw").aggregate(ups)
    assert np.max(np.abs(mask.total - plain.total)) <= 4 * 2.0**-21 and np.array_equal(mask.total, raw.total)
    assert ck.expansion > mask.expansion > raw.expansion > 1.0
    assert {r.method for r in (plain, pail, ck, mask, raw)} == {
        "plaintext", "Paillier (packed)", "CKKS (TenSEAL)", "masking (Bonawitz et al.)", "masking (Bonawitz et al., raw)"}


def test_ckks_aggregate_leaves_the_key_owner_only_through_decrypt_for_release(monkeypatch):
    released, inside = [], [False]
    real_release, real_decrypt = ckks.decrypt_for_release, ckks.CKKSCiphertext.decrypt

    def spy_release(vector, **kw):
        inside[0] = True
        try:
            out = real_release(vector, **kw)
        finally:
            inside[0] = False
        # the noise must be sized for every release this key will make (the aggregator's budget), not one
        released.append((real_decrypt(vector), out, ckks.flooding_std(vector, statistical_security=agg.statistical_security,
                                                                      adversarial_queries=agg.max_releases)))
        return out

    def guarded_decrypt(self):
        if not inside[0]:
            raise AssertionError("a raw CKKS decryption was made outside decrypt_for_release")
        return real_decrypt(self)

    agg = ag.CKKSAggregator()
    monkeypatch.setattr(ckks, "decrypt_for_release", spy_release)
    monkeypatch.setattr(ckks.CKKSCiphertext, "decrypt", guarded_decrypt)
    g = np.random.default_rng(3)
    slots = agg.public.params.slots
    res = agg.aggregate([g.normal(size=slots + 100) for _ in range(3)])  # two chunks -> two releases
    assert len(released) == 2 and agg.releases == 2
    assert np.array_equal(res.total, np.concatenate([out for _, out, _ in released]))
    for raw, out, std in released:
        # the flooding noise is there, with the std the release API states (+-20% over >= 100 values)
        assert 0.8 * std < np.std(out - raw) < 1.2 * std


@pytest.mark.attack
def test_server_cannot_recover_the_ckks_key_from_released_aggregates():
    from ppml_lab.attacks.ckks_key_recovery import recover_secret_key

    agg = ag.CKKSAggregator(max_releases=2)
    g = np.random.default_rng(0)
    slots = agg.public.params.slots
    # small values: the attack re-encodes 2*Delta*y in double precision, which must stay below 2^53 (Delta = 2^50)
    r1 = agg.aggregate([g.normal(scale=1e-3, size=slots) for _ in range(3)])
    c1 = agg.last_ciphertexts[0]
    r2 = agg.aggregate([g.normal(scale=1e-3, size=slots) for _ in range(3)])
    c2 = agg.last_ciphertexts[0]
    # raw path (what this aggregator used to hand the server): the key falls out of two aggregates
    raw = [agg.owner.load_vector(c.serialize(), slots).decrypt() for c in (c1, c2)]
    assert recover_secret_key([c1, c2], raw).succeeded
    # default path: what the server actually receives
    assert not recover_secret_key([c1, c2], [r1.total, r2.total]).succeeded
    with pytest.raises(ProtocolError, match=r"released 2 of max_releases=2 decryptions and this round needs 1 more"):
        agg.aggregate([np.zeros(4)] * 3)


def test_ckks_aggregator_refusals():
    with pytest.raises(PrecisionError, match=r"preset 'depth1-n4096' has std .* on the sum of 2 updates .* above max_release_std=0.001"):
        ag.CKKSAggregator(preset="depth1-n4096").aggregate([np.zeros(4)] * 2)
    with pytest.raises(ValueError, match="max_releases must be an integer >= 1, got 0"):
        ag.CKKSAggregator(max_releases=0)
    with pytest.raises(ValueError, match="max_release_std must be a finite number > 0, got -1"):
        ag.CKKSAggregator(max_release_std=-1.0)


def test_ckks_aggregator_refuses_a_round_beyond_its_release_budget_before_releasing_anything():
    # 2 releases allowed; an update of 3 ciphertexts would exceed the budget: refused before any decryption
    agg = ag.CKKSAggregator(max_releases=2)
    slots = agg.public.params.slots
    with pytest.raises(ProtocolError, match=r"released 0 of max_releases=2 decryptions and this round needs 3 more"):
        agg.aggregate([np.zeros(2 * slots + 1)] * 2)
    assert agg.releases == 0  # nothing was released, the budget is intact
    assert agg.aggregate([np.zeros(slots)] * 2).total.shape == (slots,)


def test_ckks_aggregator_refuses_a_low_statistical_security_up_front():
    from ppml_lab.exceptions import InsecureParameterError

    with pytest.raises(InsecureParameterError, match=r"statistical_security must be >= 30 bits .* got 20"):
        ag.CKKSAggregator(statistical_security=20)
