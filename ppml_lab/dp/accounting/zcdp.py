"""Zero-concentrated DP (zCDP): rho of Gaussian and pure-DP releases, composition, conversion to epsilon.

Paper: Bun & Steinke 2016, "Concentrated Differential Privacy: Simplifications, Extensions, and Lower
Bounds", TCC 2016, arXiv:1605.02065 (Def 1.1, Prop 1.3, 1.4, 1.6; Lemma 2.3).

Privacy model: the neighbour relation of the composed mechanisms (sensitivity is measured for it), an
adversary who sees every release. No subsampling: rho of a subsampled mechanism is not its rho times q.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ppml_lab._validation import check_delta, check_int, check_nonnegative, check_positive, check_real
from ppml_lab.dp.accounting._common import check_noise_multiplier, check_sample_rate
from ppml_lab.dp.accounting.rdp import DEFAULT_ORDERS, _check_orders, rdp_to_epsilon

__all__ = ["gaussian_zcdp", "pure_dp_to_zcdp", "zcdp_to_rdp", "zcdp_to_epsilon", "ZCDPAccountant"]


# --------------------------------------------------------------------------------------------------
# zero-concentrated DP (Bun & Steinke 2016)
# --------------------------------------------------------------------------------------------------
def gaussian_zcdp(*, noise_multiplier: float, steps: int = 1) -> float:
    """rho of ``steps`` Gaussian releases with std sigma * sensitivity: steps / (2 sigma^2).

    Bun & Steinke 2016, Prop 1.6 (rho = Delta^2 / (2 sigma^2)) and Lemma 2.3 (rho adds up).
    """
    sigma = check_noise_multiplier(noise_multiplier)
    n = check_int("steps", steps, low=0)
    return n / (2.0 * sigma**2)


def pure_dp_to_zcdp(*, epsilon: float) -> float:
    """An epsilon-DP mechanism is (epsilon^2 / 2)-zCDP (Bun & Steinke 2016, Prop 1.4)."""
    e = check_positive("epsilon", epsilon)
    return e * e / 2.0


def zcdp_to_rdp(*, rho: float, orders: ArrayLike = DEFAULT_ORDERS) -> np.ndarray:
    """rho-zCDP means (alpha, rho * alpha)-RDP at every order alpha > 1 (Bun & Steinke 2016, Def 1.1)."""
    r = check_nonnegative("rho", rho)
    return r * _check_orders(orders)


def zcdp_to_epsilon(*, rho: float, delta: float, method: str = "bun_steinke") -> float:
    """Epsilon at ``delta`` of a rho-zCDP mechanism.

    ``method="bun_steinke"``: eps = rho + 2 sqrt(rho ln(1/delta))  (Bun & Steinke 2016, Prop 1.3).
    ``method="rdp"``: the RDP curve rho * alpha through Balle et al. 2020 Thm 21 on a fine grid of
    orders (always at most the Bun-Steinke bound, up to the grid).
    """
    r = check_nonnegative("rho", rho)
    d = check_delta("delta", delta, allow_zero=False)
    if method == "bun_steinke":
        return r + 2.0 * math.sqrt(r * math.log(1.0 / d))  # BS16 Prop 1.3
    if method == "rdp":
        if r == 0.0:
            return 0.0
        # the optimum sits near alpha* = 1 + sqrt(ln(1/delta) / rho); search a log grid around it
        centre = 1.0 + math.sqrt(math.log(1.0 / d) / r)
        alphas = np.unique(np.concatenate([1.0 + np.geomspace(1e-3, 1e4, 2000), centre * np.geomspace(0.5, 2, 401)]))
        alphas = alphas[alphas > 1.0]
        return rdp_to_epsilon(orders=alphas, rdp=r * alphas, delta=d)[0]
    raise ValueError(f"method must be one of 'bun_steinke', 'rdp', got {method!r}")


@dataclass
class ZCDPAccountant:
    """Adds up rho over releases (zCDP composes additively, Bun & Steinke 2016 Lemma 2.3)."""

    rho: float = 0.0

    def __post_init__(self) -> None:
        self.rho = check_nonnegative("rho", self.rho)

    def add_gaussian(self, *, noise_multiplier: float, steps: int = 1) -> None:
        self.rho += gaussian_zcdp(noise_multiplier=noise_multiplier, steps=steps)

    def step(self, *, noise_multiplier: float, sample_rate: float = 1.0, steps: int = 1) -> None:
        """The accountants' common ``step``: ``steps`` Gaussian releases without subsampling.

        zCDP has no amplification by subsampling (Bun & Steinke 2016 treat the plain Gaussian), so a
        ``sample_rate`` below 1 is refused rather than silently accounted as q = 1.
        """
        q = check_sample_rate(sample_rate)
        if q != 1.0:
            raise ValueError(
                f"sample_rate must be 1 for zCDP accounting (no amplification by subsampling), got {q!r}; "
                "use RDPAccountant or PLDAccountant for a subsampled mechanism"
            )
        self.add_gaussian(noise_multiplier=noise_multiplier, steps=steps)

    def add_pure(self, *, epsilon: float) -> None:
        self.rho += pure_dp_to_zcdp(epsilon=epsilon)

    def add_rho(self, *, rho: float) -> None:
        self.rho += check_real("rho", rho, low=0.0)

    def get_epsilon(self, delta: float, *, method: str = "bun_steinke") -> float:
        """Epsilon spent so far at ``delta`` (the accountants' common question)."""
        return zcdp_to_epsilon(rho=self.rho, delta=delta, method=method)
