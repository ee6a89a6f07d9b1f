"""Tests for the TenSEAL CKKS wrapper: bad inputs, agreement with numpy, depth, roles, packed inference."""

from __future__ import annotations

import numpy as np
import pytest
import tenseal as ts
from hypothesis import given, settings
from hypothesis import strategies as st

from ppml_lab._rng import SecureGenerator
from ppml_lab.exceptions import (
    DepthExhaustedError,
    InsecureParameterError,
    KeyMismatchError,
    PrecisionError,
    ProtocolError,
    SecretKeyMissingError,
)
from ppml_lab.he import ckks
from ppml_lab.he.ckks import (
    PRESETS,
    CKKSContext,
    CKKSParams,
    decrypt_for_release,
    encrypted_linear,
    encrypted_logistic,
    expected_error,
    fit_sigmoid,
    flooding_std,
    fresh_noise_std,
    polyval_depth,
    preset,
    select_params,
    sum_rotations,
    validate_params,
)


@pytest.fixture(scope="module")
def ctx() -> CKKSContext:
    return CKKSContext(preset("depth2-n8192"))


@pytest.fixture(scope="module")
def small() -> CKKSContext:
    return CKKSContext(preset("depth1-n4096"))


# ---------------------------------------------------------------------------------------------
# Parameter validation (bad input, one test each)
# ---------------------------------------------------------------------------------------------


def test_over_security_bound_raises():
    with pytest.raises(InsecureParameterError, match=r"128-bit security bound for N=4096.*109 bits, got 160"):
        validate_params(poly_modulus_degree=4096, coeff_mod_bit_sizes=[60, 40, 60], scale_bits=40)


_AT_BOUND = {
    2048: [20, 14, 20],
    4096: [42, 25, 42],
    8192: [60, 49, 49, 60],
    16384: [60] + [53] * 6 + [60],
    32768: [55] + [48] * 16 + [58],
}


@pytest.mark.parametrize("n", sorted(_AT_BOUND))
def test_security_bound_is_exact(n):
    # exactly at the bound passes; one bit more (anywhere in the chain) fails: the table is applied exactly
    chain = _AT_BOUND[n]
    p = validate_params(poly_modulus_degree=n, coeff_mod_bit_sizes=chain, scale_bits=chain[1])
    assert p.total_bits == ckks.SECURITY_BOUND_128[n] and p.security_bits == 128
    over = [chain[0], chain[1] + 1, *chain[2:]]
    with pytest.raises(InsecureParameterError, match=f"N={n}; the 128-bit bound is {p.total_bits} bits"):
        validate_params(poly_modulus_degree=n, coeff_mod_bit_sizes=over, scale_bits=chain[1])


def test_allow_insecure_passes_validation_but_seal_refuses_with_context():
    p = validate_params(poly_modulus_degree=4096, coeff_mod_bit_sizes=[60, 40, 60], scale_bits=40, allow_insecure=True)
    assert p.insecure and p.security_bits == 0
    with pytest.raises(InsecureParameterError, match="SEAL rejected the parameters"):
        CKKSContext(p)


def test_inner_prime_must_match_scale():
    with pytest.raises(PrecisionError, match=r"coeff_mod_bit_sizes\[2\] must equal scale_bits=40.*got 30"):
        validate_params(poly_modulus_degree=8192, coeff_mod_bit_sizes=[60, 40, 30, 60], scale_bits=40)


def test_scale_mismatch_is_silently_wrong_in_raw_tenseal():
    # why the check exists: TenSEAL accepts this and returns a wrong answer without any error
    raw = ts.context(ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 30, 30, 60])
    raw.global_scale = 2**40
    v = ts.ckks_vector(raw, [1.0, 1.0])
    assert abs((v * v).decrypt()[0] - 1.0) > 1.0


def test_q0_must_exceed_scale():
    with pytest.raises(PrecisionError, match=r"coeff_mod_bit_sizes\[0\] must exceed scale_bits=40.*got 40"):
        validate_params(poly_modulus_degree=8192, coeff_mod_bit_sizes=[40, 40, 60], scale_bits=40)


def test_special_prime_too_small():
    with pytest.raises(ValueError, match="special prime"):
        validate_params(poly_modulus_degree=8192, coeff_mod_bit_sizes=[60, 40, 50], scale_bits=40)


def test_prime_over_60_bits():
    with pytest.raises(ValueError, match=r"coeff_mod_bit_sizes\[0\] must be in \[15, 60\].*got 61"):
        validate_params(poly_modulus_degree=8192, coeff_mod_bit_sizes=[61, 40, 61], scale_bits=40)


def test_chain_too_short():
    with pytest.raises(ValueError, match="at least 3 primes"):
        validate_params(poly_modulus_degree=8192, coeff_mod_bit_sizes=[60, 60], scale_bits=40)


def test_chain_wrong_type():
    with pytest.raises(TypeError, match="coeff_mod_bit_sizes must be a sequence of ints"):
        validate_params(poly_modulus_degree=8192, coeff_mod_bit_sizes="60,40,60", scale_bits=40)
    with pytest.raises(TypeError, match=r"coeff_mod_bit_sizes\[1\] must be an integer"):
        validate_params(poly_modulus_degree=8192, coeff_mod_bit_sizes=[60, 40.0, 60], scale_bits=40)


def test_degree_not_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        validate_params(poly_modulus_degree=6000, coeff_mod_bit_sizes=[60, 40, 60], scale_bits=40)


def test_degree_wrong_type():
    with pytest.raises(TypeError, match="poly_modulus_degree must be an integer"):
        validate_params(poly_modulus_degree=8192.0, coeff_mod_bit_sizes=[60, 40, 60], scale_bits=40)


def test_allow_insecure_must_be_bool():
    with pytest.raises(TypeError, match="allow_insecure must be True or False"):
        validate_params(poly_modulus_degree=8192, coeff_mod_bit_sizes=[60, 40, 60], scale_bits=40, allow_insecure=1)


def test_select_params_picks_smallest_secure_ring():
    assert select_params(depth=2, scale_bits=40).poly_modulus_degree == 8192
    assert select_params(depth=4, scale_bits=40).poly_modulus_degree == 16384
    assert select_params(depth=15, scale_bits=40).poly_modulus_degree == 32768
    p = select_params(depth=3, scale_bits=30, integer_bits=10)
    assert p.coeff_mod_bit_sizes == (40, 30, 30, 30, 40) and p.poly_modulus_degree == 8192


def test_select_params_too_deep():
    with pytest.raises(InsecureParameterError, match=r"depth=30 at scale_bits=40 needs 1320 modulus bits"):
        select_params(depth=30, scale_bits=40)


def test_preset_unknown_and_wrong_type():
    with pytest.raises(ValueError, match="name must be one of"):
        preset("depth99")
    with pytest.raises(TypeError, match="name must be str"):
        preset(2)


def test_presets_are_secure_and_consistent():
    for name, p in PRESETS.items():
        assert p.security_bits == 128, name
        assert p.total_bits <= ckks.SECURITY_BOUND_128[p.poly_modulus_degree]
        assert p.poly_modulus_degree <= 16384  # keys at N=32768 do not fit the course's memory budget
        assert name.startswith(f"depth{p.depth}-n{p.poly_modulus_degree}")


# ---------------------------------------------------------------------------------------------
# Bad inputs at encryption and evaluation time
# ---------------------------------------------------------------------------------------------


def test_vector_longer_than_slots(small):
    with pytest.raises(ValueError, match="values must have at most 2048 entries"):
        small.encrypt(np.zeros(2049))


def test_batch_longer_than_slots(small):
    with pytest.raises(ValueError, match="X rows"):
        small.encrypt_columns(np.zeros((2049, 2)))


def test_nan_input(ctx):
    with pytest.raises(ValueError, match="finite"):
        ctx.encrypt([1.0, float("nan")])


def test_inf_input(ctx):
    with pytest.raises(ValueError, match="finite"):
        ctx.encrypt([float("inf")])


def test_nan_plain_operand(ctx):
    v = ctx.encrypt([1.0, 2.0])
    with pytest.raises(ValueError, match="other must contain only finite"):
        v * [1.0, float("nan")]
    with pytest.raises(ValueError, match="other must be a finite number"):
        v + float("inf")


def test_wrong_input_kind(ctx):
    with pytest.raises(TypeError, match="values must be a numeric array-like"):
        ctx.encrypt("1,2,3")
    with pytest.raises(ValueError, match="values must have 1 dimension"):
        ctx.encrypt(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="bool"):
        ctx.encrypt([1.0]) * True


def test_value_too_large_for_q0(ctx):
    # q0 = 60 bits, scale 40 bits: 20 integer bits, values must stay below 2^19
    with pytest.raises(PrecisionError, match=r"\|x\| < 2\^19"):
        ctx.encrypt([2.0**20])


def test_shape_mismatch_between_ciphertexts(ctx):
    with pytest.raises(ValueError, match="ciphertext sizes must match, got 2 and 3"):
        ctx.encrypt([1.0, 2.0]) + ctx.encrypt([1.0, 2.0, 3.0])


def test_shape_mismatch_with_plaintext(ctx):
    with pytest.raises(ValueError, match="other must have 2 entries"):
        ctx.encrypt([1.0, 2.0]) * [1.0, 2.0, 3.0]


def test_linear_layer_shape_mismatch(ctx):
    batch = ctx.encrypt_columns(np.ones((4, 3)))
    with pytest.raises(ValueError, match="weights must have 3 entries"):
        encrypted_linear(batch, [1.0, 2.0])
    with pytest.raises(ValueError, match="all zero"):
        encrypted_linear(batch, [0.0, 0.0, 0.0])


def test_polyval_constant_rejected(ctx):
    with pytest.raises(ValueError, match="degree >= 1"):
        ctx.encrypt([1.0]).polyval([0.5, 0.0])


def test_dot_without_galois_keys(ctx):
    with pytest.raises(ValueError, match="needs Galois keys"):
        ctx.encrypt([1.0, 2.0]).dot([1.0, 1.0])


def test_load_vector_size_mismatch(ctx):
    data = ctx.encrypt([1.0, 2.0]).serialize()
    with pytest.raises(ValueError, match="size must match the ciphertext's 2 slots"):
        ctx.load_vector(data, 3)


def test_mixing_keys_raises(ctx):
    other = CKKSContext(preset("depth2-n8192"))
    # raw TenSEAL adds them without complaint and decrypts garbage
    raw = ctx.encrypt([1.0]).tenseal_vector + other.encrypt([1.0]).tenseal_vector
    assert abs(raw.decrypt()[0] - 2.0) > 1.0
    with pytest.raises(KeyMismatchError, match="different keys"):
        ctx.encrypt([1.0]) + other.encrypt([1.0])


# ---------------------------------------------------------------------------------------------
# Roles: public context for the computing party
# ---------------------------------------------------------------------------------------------


def test_public_context_cannot_decrypt(ctx):
    server = ctx.make_public()
    assert ctx.is_private and not server.is_private
    assert ts.context_from(server.serialize()).has_secret_key() is False
    v = server.load_vector(ctx.encrypt([1.0, 2.0]).serialize(), 2)
    with pytest.raises(SecretKeyMissingError, match="decrypt needs the secret key"):
        v.decrypt()


def test_public_context_cannot_make_galois_keys(ctx):
    with pytest.raises(SecretKeyMissingError, match="generate_galois_keys needs the secret key"):
        ctx.make_public().generate_galois_keys()


def test_round_trip_through_public_party(ctx):
    server = ctx.make_public()
    x = np.array([0.5, -1.25, 3.0])
    v = server.load_vector(ctx.encrypt(x).serialize(), 3)
    assert v.context.fingerprint == ctx.fingerprint
    y = v * v + 1.0  # computed by the party without the key
    back = ctx.load_vector(y.serialize(), 3)
    assert back.level == 1
    np.testing.assert_allclose(back.decrypt()[:3], x * x + 1.0, atol=expected_error(ctx.params, levels=1, magnitude=9))


def test_repr_has_no_key_material(ctx):
    text = repr(ctx) + repr(ctx.encrypt([1.0]))
    assert "private" in text and len(text) < 300
    assert "secret_key=" not in text


# ---------------------------------------------------------------------------------------------
# Agreement with numpy, tolerance derived from the scale
# ---------------------------------------------------------------------------------------------

vectors = st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=64)


@settings(max_examples=15, deadline=None)
@given(vectors, st.floats(-4, 4, allow_nan=False))
def test_add_and_plain_ops_match_numpy(ctx, xs, c):
    x = np.array(xs)
    v = ctx.encrypt(x)
    np.testing.assert_allclose((v + c).decrypt()[: x.size], x + c, atol=expected_error(ctx.params, magnitude=14))
    np.testing.assert_allclose(
        (v * c).decrypt()[: x.size], x * c, atol=expected_error(ctx.params, levels=1, magnitude=40)
    )
    np.testing.assert_allclose((c - v).decrypt()[: x.size], c - x, atol=expected_error(ctx.params, magnitude=14))


@settings(max_examples=15, deadline=None)
@given(st.data())
def test_ct_ct_multiply_matches_numpy(ctx, data):
    xs = data.draw(vectors)
    ys = data.draw(st.lists(st.floats(-10, 10, allow_nan=False), min_size=len(xs), max_size=len(xs)))
    x, y = np.array(xs), np.array(ys)
    prod = ctx.encrypt(x) * ctx.encrypt(y)
    assert prod.level == 1
    np.testing.assert_allclose(prod.decrypt()[: x.size], x * y, atol=expected_error(ctx.params, levels=1, magnitude=100))


def test_tolerance_is_not_vacuous(ctx):
    # the bound must be small compared with the data, else the comparisons above could not fail
    assert expected_error(ctx.params, levels=2, magnitude=100) < 1e-3
    x = np.linspace(-1, 1, 50)
    err = np.max(np.abs(ctx.encrypt(x).decrypt()[:50] - x))
    assert 0 < err < expected_error(ctx.params)


def test_expected_error_bad_input(ctx):
    with pytest.raises(TypeError, match="params must be CKKSParams"):
        expected_error("depth2")
    with pytest.raises(ValueError, match="magnitude must be a finite number > 0"):
        expected_error(ctx.params, magnitude=-1.0)


def test_dot_with_galois_keys_matches_numpy():
    c = CKKSContext(preset("depth1-n4096"), galois_keys=True)
    x, w = np.linspace(-1, 1, 30), np.linspace(0.5, -0.5, 30)
    d = c.encrypt(x).dot(w)
    assert d.level == 1
    assert abs(d.decrypt()[0] - x @ w) < expected_error(c.params, levels=1, magnitude=30)
    assert abs(c.encrypt(x).sum().decrypt()[0] - x.sum()) < expected_error(c.params, magnitude=30)


# ---------------------------------------------------------------------------------------------
# Depth: presets support their advertised depth and fail one level past it
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_supports_advertised_depth_and_fails_one_past(name):
    params = PRESETS[name]
    c = CKKSContext(params)
    x = np.array([0.9, -0.8, 0.5])
    v = c.encrypt(x)
    raw = v.tenseal_vector
    for k in range(params.depth):  # depth ct x ct multiplications in sequence
        v = v * c.encrypt(x)
        raw = raw * x.tolist()
        assert v.level == k + 1 == ckks._levels_used(v.tenseal_vector, params)
    np.testing.assert_allclose(
        v.decrypt()[:3], x ** (params.depth + 1), atol=expected_error(params, levels=params.depth, magnitude=4)
    )
    with pytest.raises(DepthExhaustedError, match=f"has used {params.depth} of depth {params.depth}"):
        v * 1.5
    with pytest.raises(DepthExhaustedError, match="0 left"):
        v.square()
    # the backend agrees: one more rescale fails there too, with its opaque message
    with pytest.raises(ValueError, match="scale out of bounds"):
        raw * x.tolist()


def test_polyval_depth_matches_tenseal():
    c = CKKSContext(preset("depth3-n8192"))
    v = c.encrypt([0.5, -0.25])
    for degree in range(1, 8):
        out = v.polyval(np.full(degree + 1, 0.1))
        assert out.level == polyval_depth(degree) == ckks._levels_used(out.tenseal_vector, c.params)
    with pytest.raises(DepthExhaustedError, match="polyval of degree 8 needs 4 more level"):
        v.polyval(np.full(9, 0.1))


def test_polyval_depth_bad_input():
    with pytest.raises(ValueError, match="degree must be an integer >= 1"):
        polyval_depth(0)


def test_backend_errors_reraised_with_context():
    with pytest.raises(DepthExhaustedError, match="op: TenSEAL reports 'scale out of bounds'"):
        with ckks._backend("op"):
            raise ValueError("scale out of bounds")
    with pytest.raises(ckks.CKKSBackendError, match="op failed in TenSEAL: boom"):
        with ckks._backend("op"):
            raise RuntimeError("boom")


# ---------------------------------------------------------------------------------------------
# Packed inference and sigmoid approximation
# ---------------------------------------------------------------------------------------------


def test_fit_sigmoid_reports_its_error():
    approx = fit_sigmoid(degree=3, interval=(-8, 8))
    z = np.linspace(-8, 8, 10_001)
    err = np.abs(approx(z) - 1 / (1 + np.exp(-z)))
    assert abs(err.max() - approx.max_abs_error) < 1e-3
    assert approx.depth == 2 and approx.degree == 3
    assert fit_sigmoid(degree=7, interval=(-8, 8)).max_abs_error < approx.max_abs_error


def test_fit_sigmoid_bad_interval():
    with pytest.raises(ValueError, match="low < high"):
        fit_sigmoid(interval=(8, -8))
    with pytest.raises(TypeError, match="interval must be a pair"):
        fit_sigmoid(interval=8)


def test_encrypted_linear_matches_numpy(ctx):
    rng = np.random.default_rng(5)
    X, w = rng.normal(size=(100, 6)), rng.normal(size=6)
    z = encrypted_linear(ctx.encrypt_columns(X), w, 0.3)
    assert z.level == 1
    tol = expected_error(ctx.params, levels=1, magnitude=np.abs(w).sum() * np.abs(X).max())
    np.testing.assert_allclose(z.decrypt()[:100], X @ w + 0.3, atol=tol)


def test_encrypted_logistic_regression_agrees_with_plaintext():
    from sklearn.linear_model import LogisticRegression

    from ppml_lab.data import load_dataset

    ds = load_dataset("breast_cancer", standardize=True)
    clf = LogisticRegression(C=0.1, max_iter=1000).fit(ds.X, ds.y)
    w, b = clf.coef_[0], float(clf.intercept_[0])
    z = ds.X @ w + b
    bound = float(np.ceil(np.abs(z).max() * 1.1))  # the model owner fits the sigmoid on the range of z
    approx = fit_sigmoid(degree=3, interval=(-bound, bound))
    owner = CKKSContext(preset("depth3-n8192"))
    server = owner.make_public(galois_keys=False)
    batch = owner.encrypt_columns(ds.X).with_context(server)
    scores = encrypted_logistic(batch, w, b, approx=approx)  # computed without the secret key
    assert scores.level == 3
    p = owner.load_vector(scores.serialize(), scores.size).decrypt()[: ds.n_samples]
    agreement = np.mean((p > 0.5) == (clf.predict(ds.X) == 1))
    assert agreement >= 0.99
    np.testing.assert_allclose(p, approx(z), atol=1e-3)


def test_sizes_reported(ctx):
    v = ctx.encrypt(np.ones(10))
    assert 250_000 < v.nbytes < 400_000  # 2 polys x 3 primes x 8192 coefficients x 8 B, compressed
    assert (v * 2.0).nbytes < v.nbytes  # one prime fewer after the rescale
    g = CKKSContext(preset("depth1-n4096"), galois_keys=True)
    assert g.nbytes(galois_keys=True) > 5 * g.nbytes(galois_keys=False)


# ---------------------------------------------------------------------------------------------
# Release API: decrypt_for_release (noise flooding)
# ---------------------------------------------------------------------------------------------


@pytest.fixture()
def release() -> CKKSContext:
    # one key per test: each key has its own release budget (adversarial_queries)
    return CKKSContext(preset("depth1-n8192-release"))


def test_release_noise_matches_stated_std(release):
    # Arrange: 4096 slots of a fresh ciphertext; the raw error is ~1e-11, far below the flooding std
    x = np.linspace(-1, 1, release.params.slots)
    v = release.encrypt(x)
    std = flooding_std(v)
    # Act
    out = decrypt_for_release(v, rng=7, insecure_seeded_noise=True)
    # Assert: sample std of 4096 normals is within 8% of sigma with probability > 1 - 1e-6 (chi-square)
    err = out - x
    assert abs(err.std() / std - 1) < 0.08
    assert abs(err.mean()) < 5 * std / np.sqrt(err.size)


def test_release_std_formula_pinned():
    # sigma_slot = sqrt(12 tau) 2^(s/2) t sqrt(N/2) / Delta with t = sd sqrt(2 ln 2N + 2 s ln 2)
    ctx = CKKSContext(preset("depth1-n8192-release"))
    v = ctx.encrypt(np.ones(8))
    n, s = 8192, 30
    sd = 3.2 * np.sqrt(1 + 4 * n / 3)
    t = sd * np.sqrt(2 * np.log(2 * n) + 2 * s * np.log(2))
    expected = np.sqrt(12) * 2 ** (s / 2) * t * np.sqrt(n / 2) / 2.0**50
    assert v.noise_std == pytest.approx(sd) == pytest.approx(fresh_noise_std(ctx.params))
    assert flooding_std(v) == pytest.approx(expected, rel=1e-12)
    # more queries and more bits cost more noise: sqrt(tau) and 2^(s/2) (times the tail factor)
    assert flooding_std(v, adversarial_queries=4) == pytest.approx(2 * expected, rel=1e-12)
    assert flooding_std(v, statistical_security=40) > 32 * expected


def test_release_noise_dominates_the_encryption_error(release):
    # the point of flooding: the added noise is 2^(s/2) times larger than the raw decryption error
    x = np.linspace(-1, 1, release.params.slots)
    v = release.encrypt(x)
    raw_err = np.max(np.abs(v.decrypt() - x))
    assert flooding_std(v) > 2**15 * raw_err


def test_release_precision_loss_documented():
    # the cost: at the 25-bit teaching scale a release is useless, at 50 bits it keeps ~1e-5
    small = CKKSContext(preset("depth1-n4096"))
    big = CKKSContext(preset("depth1-n8192-release"))
    assert flooding_std(small.encrypt(np.ones(4))) > 1.0
    assert flooding_std(big.encrypt(np.ones(4))) < 1e-4


def test_release_noise_tracks_additions(release):
    a = release.encrypt(np.ones(16))
    total = a
    for _ in range(9):
        total = total + release.encrypt(np.ones(16))
    assert total.noise_std == pytest.approx(10 * a.noise_std)
    assert flooding_std(total) == pytest.approx(10 * flooding_std(a))
    assert (total + total).noise_std == pytest.approx(20 * a.noise_std)  # correlated: triangle inequality


def test_release_noise_tracks_products(ctx):
    a = ctx.encrypt(np.full(16, 0.5))
    prod = a * a
    assert prod.magnitude == pytest.approx(0.25)
    assert prod.noise_std > a.noise_std * 0.5  # m1 e2 + m2 e1 + key switching + rescale
    assert (a * 3.0).noise_std > 3 * a.noise_std


def test_release_default_rng_is_csprng_and_fresh(release):
    v = release.encrypt(np.zeros(64))
    a, b = decrypt_for_release(v, adversarial_queries=3), decrypt_for_release(v, adversarial_queries=3)
    assert not np.array_equal(a, b)
    assert np.max(np.abs(a)) > 0.1 * flooding_std(v, adversarial_queries=3)
    c = decrypt_for_release(v, rng=SecureGenerator(), adversarial_queries=3)
    assert np.max(np.abs(c)) > 0.1 * flooding_std(v, adversarial_queries=3)


def test_release_method_delegates(release):
    v = release.encrypt(np.zeros(64))
    out = v.decrypt_for_release(rng=np.random.default_rng(3), insecure_seeded_noise=True, adversarial_queries=2)
    ref = decrypt_for_release(v, rng=np.random.default_rng(3), insecure_seeded_noise=True, adversarial_queries=2)
    assert np.allclose(out, ref, atol=1e-6 * flooding_std(v, adversarial_queries=2))


@pytest.mark.parametrize("seeded", [7, np.int64(7), np.random.default_rng(7)])
def test_release_refuses_seeded_rng(release, seeded):
    v = release.encrypt(np.zeros(4))
    with pytest.raises(InsecureParameterError, match="rng must be None .* insecure_seeded_noise=True"):
        decrypt_for_release(v, rng=seeded)


def test_release_seeded_rng_reproducible_with_teaching_flag(release):
    v = release.encrypt(np.zeros(4))
    a = decrypt_for_release(v, rng=11, insecure_seeded_noise=True, adversarial_queries=2)
    b = decrypt_for_release(v, rng=11, insecure_seeded_noise=True, adversarial_queries=2)
    assert np.allclose(a, b, atol=1e-3 * flooding_std(v, adversarial_queries=2))  # same noise; only the raw error differs


def test_release_rng_wrong_kind(release):
    v = release.encrypt(np.zeros(4))
    with pytest.raises(TypeError, match="rng must be None"):
        decrypt_for_release(v, rng="seed")


def test_release_teaching_flag_must_be_bool(release):
    v = release.encrypt(np.zeros(4))
    with pytest.raises(TypeError, match="insecure_seeded_noise must be True or False, got int 1"):
        decrypt_for_release(v, insecure_seeded_noise=1)


@pytest.mark.parametrize("bits", [0, 20, 29])
def test_release_security_below_bound(release, bits):
    v = release.encrypt(np.zeros(4))
    with pytest.raises(InsecureParameterError, match=f"statistical_security must be >= 30 .* got {bits}"):
        decrypt_for_release(v, statistical_security=bits)


def test_release_security_above_bound(release):
    v = release.encrypt(np.zeros(4))
    with pytest.raises(ValueError, match="statistical_security must be <= 128 bits, got 129"):
        decrypt_for_release(v, statistical_security=129)


@pytest.mark.parametrize("bits", [30.0, True, "30", None])
def test_release_security_wrong_type(release, bits):
    v = release.encrypt(np.zeros(4))
    with pytest.raises(TypeError, match="statistical_security must be an int"):
        decrypt_for_release(v, statistical_security=bits)


def test_release_queries_bound(release):
    v = release.encrypt(np.zeros(4))
    with pytest.raises(ValueError, match="adversarial_queries must be"):
        decrypt_for_release(v, adversarial_queries=0)


def test_release_vector_wrong_type():
    with pytest.raises(TypeError, match="vector must be"):
        decrypt_for_release(np.zeros(4))


def test_release_refuses_unknown_noise(release):
    v = release.encrypt(np.zeros(4))
    loaded = release.load_vector(v.serialize(), 4)
    with pytest.raises(ValueError, match="noise_std must be known"):
        decrypt_for_release(loaded)
    # the computing party sends the noise along; then the release works
    ok = release.load_vector(v.serialize(), 4, noise_std=v.noise_std, magnitude=v.magnitude)
    assert flooding_std(ok) == pytest.approx(flooding_std(v))
    assert decrypt_for_release(ok).shape == (4,)


def test_release_floors_an_understated_noise(release):
    v = release.encrypt(np.zeros(4))
    tiny = release.load_vector(v.serialize(), 4, noise_std=1e-12)
    floor = release.load_vector(v.serialize(), 4, noise_std=ckks.SEAL_NOISE_STD)
    assert flooding_std(tiny) == pytest.approx(flooding_std(floor))
    assert flooding_std(tiny) > 1e-3 * flooding_std(v)


def test_load_vector_bad_noise(release):
    v = release.encrypt(np.zeros(4))
    with pytest.raises(ValueError, match="noise_std must be a finite number > 0"):
        release.load_vector(v.serialize(), 4, noise_std=-1.0)
    with pytest.raises(ValueError, match="magnitude must be >= 0"):
        release.load_vector(v.serialize(), 4, noise_std=1.0, magnitude=-1.0)


def test_release_budget_is_enforced_per_key(release):
    # IND-CPA^D is claimed for tau released decryptions under one key (the sqrt(12 tau) factor): averaging
    # more releases of one ciphertext would shrink the flooding by sqrt(count). The (tau + 1)-th is refused.
    v = release.encrypt(np.zeros(8))
    first = [decrypt_for_release(v, adversarial_queries=2) for _ in range(2)]
    assert release.released == 2 and all(np.max(np.abs(f)) > 0 for f in first)
    with pytest.raises(ProtocolError, match=r"this key has released 2 of adversarial_queries=2 decryptions"):
        decrypt_for_release(v, adversarial_queries=2)
    with pytest.raises(ProtocolError, match=r"this key has released 2 of adversarial_queries=2"):
        release.load_vector(v.serialize(), 8, noise_std=v.noise_std).decrypt_for_release(adversarial_queries=2)
    assert release.released == 2
    other = CKKSContext(preset("depth1-n8192-release"))  # a new key has a new budget
    assert decrypt_for_release(other.encrypt(np.zeros(8)), adversarial_queries=2).shape == (8,)


def test_release_budget_is_fixed_by_the_first_release(release):
    # a later release sized for more queries would leave the earlier, smaller floods counted too cheaply
    v = release.encrypt(np.zeros(8))
    decrypt_for_release(v)  # tau = 1
    with pytest.raises(ProtocolError, match=r"adversarial_queries must be 1 for every release under this key .* got 5"):
        decrypt_for_release(v, adversarial_queries=5)


def test_refused_release_does_not_count(release):
    v = release.encrypt(np.zeros(8))
    with pytest.raises(InsecureParameterError):
        decrypt_for_release(v, rng=3)
    with pytest.raises(InsecureParameterError):
        decrypt_for_release(v, statistical_security=20)
    assert release.released == 0
    decrypt_for_release(v)
    assert release.released == 1


def test_release_needs_secret_key(release):
    v = release.make_public(galois_keys=False).encrypt(np.zeros(4))
    with pytest.raises(SecretKeyMissingError):
        decrypt_for_release(v)


@pytest.mark.parametrize(("size", "rotations"), [(1, 0), (2, 1), (3, 2), (4, 2), (30, 13), (4096, 12)])
def test_sum_rotations_follows_tenseal_sum_vector(size, rotations):
    # TenSEAL utils.cpp sum_vector: one rotation to split off size - 2^k, then k rotate-and-adds
    assert sum_rotations(size) == rotations


def test_sum_rotations_bad_input():
    with pytest.raises(ValueError, match="size must be"):
        sum_rotations(0)


def _slot_std(v) -> float:
    # per-slot (real part) std implied by a per-coefficient std: sqrt(N/2) * noise_std / scale
    return v.noise_std * np.sqrt(v.context.params.poly_modulus_degree / 2) / v.scale


@pytest.mark.parametrize("name", ["depth1-n4096", "depth2-n8192"])
def test_noise_estimate_covers_measured_error(name):
    # the tracked noise must not understate the real error, or the release would flood too little:
    # measured max error over the slots stays below 6 predicted standard deviations for each operation
    g = CKKSContext(preset(name), galois_keys=True)
    pub = g.make_public(galois_keys=True)
    rng = np.random.default_rng(8)
    a, b = rng.uniform(-1, 1, 30), rng.uniform(-1, 1, 30)
    ea, eb = pub.encrypt(a), pub.encrypt(b)
    # TenSEAL resets the scale to 2^scale_bits after rescaling by the prime q_L != 2^scale_bits: a
    # deterministic relative bias 2^s/q_L on every product, known from m alone (no key, no randomness), so
    # not noise to flood; the exact values below include it
    import tenseal.sealapi  # noqa: F401  (registers SEAL's Modulus type)

    primes = g.tenseal_context.seal_context().data.key_context_data().parms().coeff_modulus()
    bias = 2.0 ** g.params.scale_bits / primes[g.params.depth].value()
    cases = {
        "fresh": (ea, a),
        "sum of 10": (sum([pub.encrypt(a) for _ in range(9)], ea), 10 * a),
        "ct*ct": (ea * eb, a * b * bias),
        "ct*plain": (ea * 0.7, 0.7 * a * bias),
        "slot sum (13 rotations)": (ea.sum(), np.array([a.sum()])),
        "slot sum of 2 (one rotation: key-switching noise dominates)": (pub.encrypt(a[:2]).sum(), np.array([a[:2].sum()])),
        "dot": (ea.dot(b), np.array([a @ b]) * bias),
    }
    for label, (v, exact) in cases.items():
        err = np.max(np.abs(g.load_vector(v.serialize(), v.size).decrypt() - exact))
        assert err < 6 * _slot_std(v), (label, err, _slot_std(v))
    # and it is an estimate, not a vacuous bound: a fresh encryption is predicted within 100x
    fresh_err = np.max(np.abs(g.load_vector(ea.serialize(), 30).decrypt() - a))
    assert fresh_err > _slot_std(ea) / 100


def test_sum_noise_grows_with_size_and_rotations():
    g = CKKSContext(preset("depth1-n4096"), galois_keys=True)
    v = g.encrypt(np.ones(30))
    total = v.sum()
    assert total.noise_std > 30 * v.noise_std
    assert abs(total.decrypt()[0] - 30.0) < 6 * _slot_std(total)


def test_raw_flood_helper_is_gone():
    # a std-only flood() without a lower bound accepted std=1e-9, which does not stop the attack
    assert not hasattr(ckks, "flood")


def test_params_dataclass_is_frozen():
    p = preset("depth2-n8192")
    assert isinstance(p, CKKSParams)
    with pytest.raises(AttributeError):
        p.scale_bits = 20


def test_load_columns_bad_input(ctx):
    with pytest.raises(TypeError, match="data must be a non-empty sequence of bytes"):
        ctx.load_columns(b"abc", 3)
