"""CKKS key recovery from raw decryptions (Li & Micciancio 2021) on TenSEAL, and the release API stopping it."""

from __future__ import annotations

import numpy as np
import pytest

from ppml_lab.attacks.ckks_key_recovery import _ring_of, recover_secret_key
from ppml_lab.exceptions import KeyMismatchError, SecretKeyMissingError
from ppml_lab.he.ckks import CKKSCiphertext, CKKSContext, decrypt_for_release, preset


def _federated_round(name: str, rng: np.random.Generator):
    """Three clients encrypt full-slot updates under the public context; the server forms two sums."""
    owner = CKKSContext(preset(name))
    server = owner.make_public(galois_keys=False)
    slots = owner.params.slots
    clients = [server.encrypt(rng.uniform(-1, 1, slots)) for _ in range(3)]
    sums = [clients[0] + clients[1], clients[1] + clients[2]]
    return owner, server, clients, sums


def _owner_view(owner: CKKSContext, ct: CKKSCiphertext) -> CKKSCiphertext:
    # the key owner receives the bytes and the computing party's noise figure
    return owner.load_vector(ct.serialize(), ct.size, noise_std=ct.noise_std, magnitude=ct.magnitude)


@pytest.fixture(scope="module")
def round4096():
    return _federated_round("depth1-n4096", np.random.default_rng(1))


@pytest.mark.attack
@pytest.mark.parametrize("name", ["depth1-n4096", "depth2-n8192"])
def test_raw_decryptions_give_the_key_and_a_fresh_decryption(name):
    # Arrange: the server holds its two aggregates and the owner's RAW decryptions of them
    owner, _, clients, sums = _federated_round(name, np.random.default_rng(2))
    raw = [_owner_view(owner, s).decrypt() for s in sums]
    # Act
    key = recover_secret_key(sums, raw)
    # Assert: the exact secret key, and client 0's update, which was never decrypted for the server
    assert key.succeeded
    assert key.matches(owner)
    assert set(np.unique(key.coefficients).tolist()) <= {-1, 0, 1}
    stolen = key.decrypt(clients[0])
    truth = _owner_view(owner, clients[0]).decrypt()
    assert np.max(np.abs(stolen - truth)) < 1e-9


@pytest.mark.attack
def test_released_decryptions_do_not_give_the_key(round4096):
    owner, _, clients, sums = round4096
    # the attacker sees both releases: the flooding is sized for tau = 2 queries
    released = [decrypt_for_release(_owner_view(owner, s), adversarial_queries=len(sums)) for s in sums]
    key = recover_secret_key(sums, released)
    assert not key.succeeded
    assert not key.matches(owner)
    truth = _owner_view(owner, clients[0]).decrypt()
    assert np.max(np.abs(key.decrypt(clients[0]) - truth)) > 1.0  # the candidate decrypts to garbage


@pytest.mark.attack
def test_released_decryptions_at_the_release_preset_do_not_give_the_key():
    owner, _, clients, sums = _federated_round("depth1-n8192-release", np.random.default_rng(3))
    raw = [_owner_view(owner, s).decrypt() for s in sums]
    assert recover_secret_key(sums, raw).succeeded  # the raw path is broken at this scale too
    released = [_owner_view(owner, s).decrypt_for_release(adversarial_queries=len(sums)) for s in sums]
    key = recover_secret_key(sums, released)
    assert not key.succeeded and not key.matches(owner)


@pytest.mark.attack
def test_tiny_ad_hoc_noise_does_not_stop_the_attack(round4096):
    # what the removed flood(std=1e-9) did: noise below the rounding the attack uses is no defence
    owner, _, _, sums = round4096
    rng = np.random.default_rng(4)
    raw = [_owner_view(owner, s).decrypt() + 1e-9 * rng.standard_normal(owner.params.slots) for s in sums]
    assert recover_secret_key(sums, raw).matches(owner)


@pytest.mark.attack
def test_one_real_part_release_is_not_enough(round4096):
    # one release gives one equation per pair of unknowns: two are needed (the 2x2 systems)
    owner, _, _, sums = round4096
    raw = _owner_view(owner, sums[0]).decrypt()
    with pytest.raises(ValueError, match="ciphertexts must hold at least 2 ciphertexts"):
        recover_secret_key([sums[0]], [raw])


def test_ring_matches_seal_encoding(round4096):
    # our NTT order and slot embedding agree with SEAL's CKKSEncoder (the production counterpart)
    import tenseal.sealapi as sealapi

    owner = round4096[0]
    ring = _ring_of(owner)
    seal_ctx = owner.tenseal_context.seal_context().data
    y = np.random.default_rng(5).uniform(-1, 1, owner.params.slots)
    pt = sealapi.Plaintext()
    sealapi.CKKSEncoder(seal_ctx).encode(y.tolist(), seal_ctx.first_parms_id(), 2.0**25, pt)
    seal_hat = ring.from_seal(pt)
    # SEAL encodes y (imaginary part 0) as round(Delta * embedding^-1(y)); our symmetric p at Delta/2 is that
    ours = ring.symmetric_from_real_slots(y, 2.0**24)
    assert np.all(ring.ntt(ours.astype(np.int64).astype(object)) == seal_hat)
    back = ring.decode(ring.centered(ring.intt(seal_hat)).astype(np.float64), 2.0**25)
    seal_back = np.asarray(sealapi.CKKSEncoder(seal_ctx).decode_double(pt))
    assert np.max(np.abs(back - seal_back)) < 1e-9  # our decoding is SEAL's (to float rounding)
    assert np.max(np.abs(back - y)) < 1e-5  # both carry the encoding's rounding error at scale 2^25


def test_bad_input_not_a_sequence(round4096):
    _, _, _, sums = round4096
    with pytest.raises(TypeError, match="ciphertexts must be a sequence of CKKSCiphertext"):
        recover_secret_key(sums[0], [np.zeros(2048)])
    with pytest.raises(TypeError, match="decryptions must be a sequence of arrays"):
        recover_secret_key(sums, "decryptions")


def test_bad_input_length_mismatch(round4096):
    _, _, _, sums = round4096
    with pytest.raises(ValueError, match=r"decryptions must have one entry per ciphertext \(2\), got 1"):
        recover_secret_key(sums, [np.zeros(2048)])


def test_bad_input_wrong_item_type(round4096):
    _, _, _, sums = round4096
    with pytest.raises(TypeError, match=r"ciphertexts\[1\] must be"):
        recover_secret_key([sums[0], b"bytes"], [np.zeros(2048), np.zeros(2048)])


def test_bad_input_partial_slots(round4096):
    owner, server, _, sums = round4096
    short = server.encrypt(np.zeros(10))
    with pytest.raises(ValueError, match=r"ciphertexts\[1\] must fill all N/2 = 2048 slots .* got size 10"):
        recover_secret_key([sums[0], short], [np.zeros(2048), np.zeros(10)])


def test_bad_input_short_decryption(round4096):
    _, _, _, sums = round4096
    with pytest.raises(ValueError, match=r"decryptions\[0\] must have N/2 = 2048 values .* got 100"):
        recover_secret_key(sums, [np.zeros(100), np.zeros(2048)])


def test_bad_input_nan_decryption(round4096):
    _, _, _, sums = round4096
    bad = np.zeros(2048)
    bad[3] = np.nan
    with pytest.raises(ValueError, match=r"decryptions\[1\]"):
        recover_secret_key(sums, [np.zeros(2048), bad])


def test_bad_input_mixed_keys(round4096):
    _, _, _, sums = round4096
    other = CKKSContext(preset("depth1-n4096")).encrypt(np.zeros(2048))
    with pytest.raises(KeyMismatchError, match="ciphertexts must all be under one key"):
        recover_secret_key([sums[0], other], [np.zeros(2048), np.zeros(2048)])


def test_recovered_key_refuses_foreign_ciphertext_and_public_owner(round4096):
    owner, server, _, sums = round4096
    key = recover_secret_key(sums, [_owner_view(owner, s).decrypt() for s in sums])
    other = CKKSContext(preset("depth1-n4096")).encrypt(np.zeros(4))
    with pytest.raises(KeyMismatchError, match="ciphertext must be under the attacked key"):
        key.decrypt(other)
    with pytest.raises(TypeError, match="ciphertext must be"):
        key.decrypt(np.zeros(4))
    with pytest.raises(SecretKeyMissingError, match="owner must be the key owner's private context"):
        key.matches(server)
    assert "ternary secret key recovered" in repr(key) and "[" not in repr(key)


@pytest.mark.attack
def test_understated_noise_figure_still_stops_the_attack():
    # a computing party that reports a tiny noise_std gets the floor (one fresh Gaussian sample), not 0
    owner, _, _, sums = _federated_round("depth1-n4096", np.random.default_rng(6))  # a fresh key and budget
    lying = [owner.load_vector(s.serialize(), s.size, noise_std=1e-12) for s in sums]
    key = recover_secret_key(sums, [decrypt_for_release(v, adversarial_queries=len(lying)) for v in lying])
    assert not key.succeeded and not key.matches(owner)
