"""Figures of the course's protocols, drawn with matplotlib from the package's own objects.

Every protocol fact a figure shows (round and message names, the CKKS modulus chain, the Beaver openings,
the DP-SGD clip and the accountant's epsilon, the deployment's links) is read from, or computed by, the
package when the figure is drawn, so the picture cannot drift from the code. See :mod:`ppml_lab.viz.diagrams`.
"""

from ppml_lab.viz.diagrams import (
    SECAGG_ROUNDS,
    beaver_facts,
    beaver_figure,
    ckks_chain,
    ckks_chain_figure,
    deployment_links,
    deployment_topology_figure,
    dp_sgd_facts,
    dp_sgd_figure,
    figure_texts,
    privacy_utility_cost_figure,
    secagg_figure,
    secagg_transcript,
)

__all__ = [
    "SECAGG_ROUNDS",
    "beaver_facts",
    "beaver_figure",
    "ckks_chain",
    "ckks_chain_figure",
    "deployment_links",
    "deployment_topology_figure",
    "dp_sgd_facts",
    "dp_sgd_figure",
    "figure_texts",
    "privacy_utility_cost_figure",
    "secagg_figure",
    "secagg_transcript",
]
