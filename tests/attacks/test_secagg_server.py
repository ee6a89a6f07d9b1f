"""Deviating secure-aggregation servers (ppml_lab.attacks.secagg_server).

Each attack recovers the victim's input exactly on the raw level (honest-but-curious: Bonawitz et al.
2017, Fig. 4 without its active-adversary parts) and is refused by the default hardened level (Fig. 4
with its active-adversary parts, Sec. 6). The late-input attack is
allowed by both levels; the self mask is what keeps x_v hidden there.
"""

import numpy as np
import pytest
from scipy import stats

from ppml_lab.attacks import secagg_server as atk
from ppml_lab.exceptions import AuthenticationError, UnmaskRefusedError

N, LENGTH, VICTIM = 5, 64, 2


@pytest.fixture(scope="module")
def inputs():
    g = np.random.default_rng(1)
    return {i: g.integers(0, 2**16, size=LENGTH, dtype=np.uint64) for i in range(N)}


@pytest.mark.attack
def test_ask_twice_recovers_the_input_on_raw_and_is_refused_by_hardened(inputs):
    stolen = atk.ask_twice_attack(inputs, victim=VICTIM, level="raw")
    assert np.array_equal(stolen, inputs[VICTIM])
    with pytest.raises(UnmaskRefusedError, match="already answered an unmask request"):
        atk.ask_twice_attack(inputs, victim=VICTIM)  # default level: hardened


@pytest.mark.attack
def test_false_dropout_with_a_reduced_peer_set_recovers_on_raw_and_is_refused_by_hardened(inputs):
    stolen = atk.false_dropout_attack(inputs, victim=VICTIM, level="raw")
    assert np.array_equal(stolen, inputs[VICTIM])
    with pytest.raises(UnmaskRefusedError, match=r"only 2 valid signatures on U3=.*threshold is 3"):
        atk.false_dropout_attack(inputs, victim=VICTIM)


@pytest.mark.attack
def test_swapped_public_keys_recover_on_raw_and_are_refused_by_hardened(inputs):
    stolen = atk.key_swap_attack(inputs, victim=VICTIM, level="raw")
    assert np.array_equal(stolen, inputs[VICTIM])
    with pytest.raises(AuthenticationError, match="signature does not verify under its PKI key"):
        atk.key_swap_attack(inputs, victim=VICTIM)


@pytest.mark.attack
@pytest.mark.parametrize("level", ["hardened", "raw"])
def test_self_mask_hides_a_late_client_whose_key_shares_were_revealed(level):
    # The server reports the victim as dropped after its y_v arrived -- consistent, so both levels answer --
    # and reconstructs s_v^SK, hence every pair mask of v. What it then holds is y_v - pair masks =
    # x_v + PRG(b_v). With the self mask omitted (client and server alike, sums still exact) it is x_v.
    zeros = {i: np.zeros(20_000, dtype=np.uint64) for i in range(N)}
    seen = atk.late_input_attack(zeros, victim=VICTIM, level=level)
    assert np.count_nonzero(seen) > 19_990  # not x_v = 0
    counts = np.bincount(np.frombuffer(seen.tobytes(), dtype=np.uint8), minlength=256)
    # chi-square over 160,000 bytes, alpha = 1e-6: a correct self mask fails about once in a million runs
    assert stats.chisquare(counts).pvalue > 1e-6


@pytest.mark.attack
def test_late_input_attack_recovers_nothing_about_a_structured_input(inputs):
    seen = atk.late_input_attack(inputs, victim=VICTIM)
    assert not np.array_equal(seen, inputs[VICTIM])
    assert np.mean(seen < 2**16) < 0.01  # the victim's values are < 2^16; the residue is spread over 2^64


def test_attack_argument_refusals(inputs):
    with pytest.raises(ValueError, match=r"victim must be one of the client ids \[0, 1, 2, 3, 4\], got 9"):
        atk.ask_twice_attack(inputs, victim=9)
    with pytest.raises(ValueError, match="needs n \\+ 1 >= 2t and t >= 3, got n=4, t=3"):
        atk.false_dropout_attack({i: inputs[i] for i in range(4)}, victim=0)
    with pytest.raises(ValueError, match="level must be one of"):
        atk.key_swap_attack(inputs, victim=0, level="medium")
