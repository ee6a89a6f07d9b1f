"""The package's randomness: CSPRNG by default, seeded only on request, numpy-compatible API."""

import numpy as np
import pytest
from scipy import stats

from ppml_lab._rng import SecureGenerator, is_secure, random_seed, resolve_rng, seeded_rng, torch_generator

# Statistical tests below use alpha = 1e-6 per test: a correct sampler fails one of them about once in
# a million runs.
ALPHA = 1e-6


def test_default_is_csprng():
    assert is_secure(resolve_rng(None))
    assert not is_secure(resolve_rng(3))
    assert "urandom" in repr(SecureGenerator())


def test_seed_is_reproducible():
    assert np.array_equal(resolve_rng(5).random(4), seeded_rng(5).random(4))


@pytest.mark.parametrize("bad", ["seed", 1.5, True, object()])
def test_bad_rng_is_typed(bad):
    with pytest.raises(TypeError, match="rng must be None"):
        resolve_rng(bad)


def test_seeded_rng_rejects_float():
    with pytest.raises(TypeError, match="seed must be an int"):
        seeded_rng(1.0)


@pytest.mark.parametrize(
    "draw, cdf",
    [
        (lambda g, n: g.random(n), stats.uniform.cdf),
        (lambda g, n: g.standard_normal(n), stats.norm.cdf),
        (lambda g, n: g.normal(2.0, 3.0, size=n), stats.norm(2.0, 3.0).cdf),
        (lambda g, n: g.laplace(0.0, 2.0, size=n), stats.laplace(0.0, 2.0).cdf),
        (lambda g, n: g.exponential(1.5, size=n), stats.expon(scale=1.5).cdf),
        (lambda g, n: g.uniform(-1.0, 3.0, size=n), stats.uniform(-1.0, 4.0).cdf),
    ],
)
def test_secure_distributions_ks(draw, cdf):
    x = draw(SecureGenerator(), 50_000)
    assert x.shape == (50_000,)
    assert stats.kstest(x, cdf).pvalue > ALPHA


def test_secure_integers_uniform_chi2():
    x = SecureGenerator().integers(0, 7, size=70_000)
    assert x.min() == 0 and x.max() == 6
    counts = np.bincount(x, minlength=7)
    assert stats.chisquare(counts).pvalue > ALPHA


def test_secure_integers_bounds_and_dtype():
    g = SecureGenerator()
    x = g.integers(-5, 5, size=1000, endpoint=True)
    assert x.min() >= -5 and x.max() <= 5
    u = g.integers(0, 2**64, size=10, dtype=np.uint64)
    assert u.dtype == np.uint64
    with pytest.raises(ValueError, match="high must be > low"):
        g.integers(3, 3)


def test_geometric_matches_numpy_convention():
    x = SecureGenerator().geometric(0.3, size=60_000)
    assert x.min() >= 1
    assert abs(x.mean() - 1 / 0.3) < 6 * np.sqrt((1 - 0.3) / 0.3**2 / 60_000)


def test_permutation_choice_shuffle():
    g = SecureGenerator()
    p = g.permutation(100)
    assert sorted(p.tolist()) == list(range(100))
    c = g.choice(10, size=5, replace=False)
    assert len(set(c.tolist())) == 5
    weighted = g.choice(3, size=30_000, p=[0.0, 0.25, 0.75])
    assert (weighted == 0).sum() == 0
    assert abs((weighted == 2).mean() - 0.75) < 0.02
    arr = np.arange(20)
    g.shuffle(arr)
    assert sorted(arr.tolist()) == list(range(20))


def test_scalar_draws_are_python_floats():
    g = SecureGenerator()
    assert isinstance(g.random(), float)
    assert isinstance(g.normal(), float)
    assert isinstance(g.laplace(), float)


def test_random_seed_and_torch_generator():
    assert 0 <= random_seed(None) < 2**63
    assert random_seed(4) == random_seed(4)
    import torch

    a = torch.randn(3, generator=torch_generator(11))
    b = torch.randn(3, generator=torch_generator(11))
    assert torch.equal(a, b)


def test_key_rng_ignores_a_seed_unless_the_insecure_flag_is_given():
    from ppml_lab._rng import SecureGenerator, key_rng

    assert isinstance(key_rng(0), SecureGenerator)
    assert isinstance(key_rng(np.random.default_rng(0)), SecureGenerator)
    a = key_rng(7, insecure_seeded_keys=True).integers(0, 2**62, size=4)
    b = key_rng(7, insecure_seeded_keys=True).integers(0, 2**62, size=4)
    assert np.array_equal(a, b)


def test_key_rng_rejects_a_wrong_kind_and_a_non_bool_flag():
    import pytest

    from ppml_lab._rng import key_rng

    with pytest.raises(TypeError, match="rng must be"):
        key_rng("seed")
    with pytest.raises(TypeError, match="insecure_seeded_keys"):
        key_rng(None, insecure_seeded_keys=1)


def test_torch_generator_accepts_what_resolve_rng_accepts():
    import torch

    from ppml_lab._rng import torch_seed

    # an int seeds torch exactly as torch.manual_seed(int) does (committed notebook outputs stay put)
    assert torch.equal(torch.randn(3, generator=torch_generator(5)), torch.randn(3, generator=torch.Generator().manual_seed(5)))
    a = torch.randn(3, generator=torch_generator(np.random.default_rng(2)))
    b = torch.randn(3, generator=torch_generator(np.random.default_rng(2)))
    assert torch.equal(a, b)
    g = torch.Generator()
    assert torch_generator(g) is g  # one stream kept across steps
    assert torch_seed(None) != torch_seed(None)  # CSPRNG: 63 fresh bits each time
    assert torch_seed(SecureGenerator()) != torch_seed(SecureGenerator())


@pytest.mark.parametrize("bad", [1.5, True, "0", object()])
def test_torch_generator_rejects_other_kinds(bad):
    with pytest.raises(TypeError, match="rng must be None"):
        torch_generator(bad)


def test_a_raw_step_refuses_an_int_rng():
    from ppml_lab._rng import check_torch_generator

    with pytest.raises(TypeError, match="rng must be a torch.Generator kept for the whole run.*got int"):
        check_torch_generator("rng", 0)


def test_renamed_keywords_refuses_the_old_name_and_names_the_new_one():
    from ppml_lab._rng import renamed_keywords

    @renamed_keywords(seed="rng")
    def f(*, rng=None):
        return rng

    assert f(rng=3) == 3
    with pytest.raises(TypeError, match=r"f\(\) got seed=, which was renamed rng="):
        f(seed=3)
