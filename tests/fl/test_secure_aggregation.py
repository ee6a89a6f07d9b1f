"""The old import path ppml_lab.fl.secure_aggregation keeps its public names (re-exported from secagg/aggregators)."""

import numpy as np

from ppml_lab.fl import aggregators, secagg
from ppml_lab.fl import secure_aggregation as sa


def test_old_names_are_the_new_objects():
    assert sa.secure_aggregate is secagg.secure_aggregate
    assert sa.secure_aggregate_floats is secagg.secure_aggregate_floats
    assert sa.SecAggClient is secagg.SecAggClient and sa.SecAggServer is secagg.SecAggServer
    assert sa.CKKSAggregator is aggregators.CKKSAggregator and sa.PaillierAggregator is aggregators.PaillierAggregator
    for name in sa.__all__:
        assert hasattr(sa, name), name


def test_old_call_still_runs_on_the_hardened_level():
    total, res = sa.secure_aggregate_floats([np.ones(3), np.ones(3), np.ones(3)], rng=0)
    assert np.array_equal(total, np.full(3, 3.0)) and res.level == "hardened"
    assert sa.minimum_threshold(3) == 2
