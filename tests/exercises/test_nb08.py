import numpy as np

from ppml_lab.exercises import nb08
from ppml_lab.fl import TorchMLP, fedavg_aggregate
from ppml_lab.fl.models import param_nbytes


def test_weighted_mean_reference_passes_and_unweighted_fails():
    ref = fedavg_aggregate([[np.array(u)] for u in nb08.EXERCISE_UPDATES], list(nb08.EXERCISE_COUNTS))[0]
    assert nb08.check_weighted_mean(ref).ok
    unweighted = np.mean(nb08.EXERCISE_UPDATES, axis=0)
    result = nb08.check_weighted_mean(unweighted)
    assert not result.ok and "unweighted" in result.message
    assert not nb08.check_weighted_mean([1, 2]).ok
    assert not nb08.check_weighted_mean("mean").ok


def test_bytes_per_round_matches_the_package():
    model_bytes = param_nbytes(TorchMLP(**nb08.MLP_SHAPE).init_params(0))
    m = max(1, round(nb08.FRACTION * nb08.N_CLIENTS))
    assert nb08.check_bytes_per_round(2 * m * model_bytes).ok
    assert not nb08.check_bytes_per_round(m * model_bytes).ok
    assert not nb08.check_bytes_per_round(2 * nb08.N_CLIENTS * model_bytes).ok
    assert not nb08.check_bytes_per_round(4 * m * model_bytes).ok


def test_reconstructed_record():
    w0, w1 = nb08.exercise_update()
    dW, db = w1[0] - w0[0], w1[1] - w0[1]
    x = dW[:, 0] / db[0]
    assert nb08.check_reconstructed_record(x).ok
    assert not nb08.check_reconstructed_record(-x).ok
    assert not nb08.check_reconstructed_record(dW[:, 0]).ok
    assert not nb08.check_reconstructed_record(np.zeros(3)).ok


def test_unanswered():
    for check in (nb08.check_weighted_mean, nb08.check_bytes_per_round, nb08.check_reconstructed_record):
        r = check(None)
        assert not r.ok and not r.answered and "not answered" in str(r)
