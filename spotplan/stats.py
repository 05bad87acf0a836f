"""Statistics shared by every layer: the normal quantiles of the confidence intervals spotplan reports.

One place for them, so that a "95% CI" means the same interval in the Monte Carlo summary, the advisor's
expected figures, its interval sweep and ``spotplan interval --simulate``. Pure; numpy only.
"""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054  # two-sided 95% normal quantile, scipy.stats.norm.ppf(0.975)
Z99 = 2.5758293035489004  # two-sided 99% normal quantile, scipy.stats.norm.ppf(0.995)


def mean_ci_half_width(values: np.ndarray, z: float = Z95) -> float:
    """Half width of the normal-approximation CI of the mean of ``values`` (0 for fewer than two values)."""
    n = int(values.size)
    if n < 2:
        return 0.0
    return float(z * values.std(ddof=1) / math.sqrt(n))
