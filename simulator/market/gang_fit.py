"""Fitting multi-node availability: gang up-times for k of N nodes and a common-shock model of correlated reclaims.

Can't Be Late multi-node traces hold, per tick of ``gap_s`` seconds, how many of N requested instances were
available. The *k-of-N up-times* are the lengths (seconds) of the complete runs of ticks with at least k available
(``AvailabilityTrace.run_lengths_s(k)``: runs touching either end of the trace are censored and left out).

The 16-node p3.2xlarge traces are nearly all-or-nothing (mostly 0 or 16 instances): reclaims are correlated
within a zone, which N independent instances cannot produce. The common-shock model fitted here:

- a zone process alternating *zone-up* (at least one instance available) and *zone-down* (none) periods, each
  lognormal with the median of the complete runs of c > 0 (c = 0) and the censoring-aware mean (time in the
  state / runs that ended, as ``spotplan data fit`` takes it);
- inside a zone-up period, *partial shocks* (the traces' 16 -> 11 drops: several nodes at once, not one by one)
  arrive as a Poisson process: rate = drops that leave the zone up per second of zone-up time; each takes the
  mean share of the gang those drops took; its nodes come back together after an exponential time whose mean is
  the node-seconds missing while the zone is up per node lost (method of moments, pooled over the traces given).

Every zone-up period starts with all N nodes up (the traces' 0 -> 16 jumps). Times are seconds.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spotplan.errors import DataError
from spotplan.paths import data_dir
from spotplan.simulator.market.series import AvailabilityTrace


@dataclass(frozen=True, slots=True, kw_only=True)
class Lognormal:
    """A lognormal fit of run lengths in seconds (``mu_log_s``, ``sigma_log``) from ``n`` runs."""

    mu_log_s: float
    sigma_log: float
    n: int

    @property
    def mean_s(self) -> float:
        """Mean run length in seconds."""
        return math.exp(self.mu_log_s + self.sigma_log**2 / 2)

    def sample_s(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws in seconds."""
        return rng.lognormal(self.mu_log_s, self.sigma_log, size=n)


def fit_lognormal(runs_s: np.ndarray, mean_s: float) -> Lognormal:
    """Lognormal with the complete runs' median and the mean ``mean_s``: mu = ln median, sigma^2 = 2 ln(mean/median).

    The mean is censoring-aware (time in the state / runs that ended); a mean at or under the median gives
    sigma = 0. Matching the median and the mean keeps both the many short runs and the long ones the traces show
    (a maximum-likelihood lognormal of the discretised runs lost the mean by 45%, see the fit's JSON).
    """
    if runs_s.size < 2:
        raise ValueError(f"{runs_s.size} complete run(s); a lognormal fit needs at least 2")
    median = float(np.median(runs_s))
    sigma = math.sqrt(2 * max(0.0, math.log(mean_s / median)))
    return Lognormal(mu_log_s=math.log(median), sigma_log=sigma, n=int(runs_s.size))


@dataclass(frozen=True, slots=True, kw_only=True)
class PartialShocks:
    """Partial drops while the zone stays up (count > 0 before and after), summed over traces (seconds, nodes)."""

    zone_up_s: float  # seconds with at least one instance available
    zone_drops: int  # ticks where the count falls to 0 (a zone-wide reclaim)
    node_up_s: float  # node-seconds up (the exposure of the partial shocks' node losses)
    drops: int  # ticks where the count falls and stays above 0
    nodes_lost: float  # sum over those drops of the nodes lost / N (fractions of the gang)
    node_missing_s: float  # node-seconds missing while the zone is up
    node_losses: int  # nodes lost in those drops

    def __add__(self, other: PartialShocks) -> PartialShocks:
        return PartialShocks(zone_up_s=self.zone_up_s + other.zone_up_s, zone_drops=self.zone_drops + other.zone_drops,
                             node_up_s=self.node_up_s + other.node_up_s, drops=self.drops + other.drops,
                             nodes_lost=self.nodes_lost + other.nodes_lost,
                             node_missing_s=self.node_missing_s + other.node_missing_s,
                             node_losses=self.node_losses + other.node_losses)

    @property
    def rate_per_s(self) -> float:
        """Partial shocks per second of zone-up time."""
        return self.drops / self.zone_up_s if self.zone_up_s > 0 else 0.0

    @property
    def fraction(self) -> float:
        """Mean share of the gang one partial shock takes."""
        return self.nodes_lost / self.drops if self.drops else 0.0

    @property
    def zone_share(self) -> float:
        """Share of one node's reclaims that are zone-wide: zone drops per zone-up second over that plus the nodes
        lost in partial drops per node-up second (per-node hazards)."""
        zone = self.zone_drops / self.zone_up_s if self.zone_up_s > 0 else 0.0
        partial = self.node_losses / self.node_up_s if self.node_up_s > 0 else 0.0
        return zone / (zone + partial) if zone + partial > 0 else 1.0

    @property
    def down_mean_s(self) -> float:
        """Mean time a node taken by a partial shock stays away (node-seconds missing per node lost)."""
        return self.node_missing_s / self.node_losses if self.node_losses else 0.0


def partial_shocks(trace: AvailabilityTrace, nodes: int) -> PartialShocks:
    """The partial drops of one ``nodes``-instance trace, with the exposure they are rated against."""
    v = np.minimum(trace.values, nodes)
    zone_up = v > 0
    a, b = v[:-1], v[1:]
    drop = (a > 0) & (b > 0) & (b < a)
    return PartialShocks(
        zone_up_s=float(zone_up.sum()) * trace.gap_s, zone_drops=int(((a > 0) & (b == 0)).sum()),
        node_up_s=float(v.sum()) * trace.gap_s, drops=int(drop.sum()),
        nodes_lost=float(((a - b)[drop] / nodes).sum()),
        node_missing_s=float((nodes - v[zone_up]).sum()) * trace.gap_s,
        node_losses=int((a - b)[drop].sum()),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ShockFit:
    """The common-shock model of one zone: its zone process and the (pooled) partial shocks."""

    zone_up: Lognormal
    zone_down: Lognormal
    shock_rate_per_s: float
    shock_fraction: float
    shock_down_mean_s: float


def fit_zone(trace: AvailabilityTrace, partial: PartialShocks) -> ShockFit:
    """The zone process of one trace (runs of c > 0 and c = 0) with the partial shocks given."""
    up_s, down_s = trace.run_lengths_s(1)
    up = trace.up(1)
    ends, starts = int(np.count_nonzero(up[:-1] & ~up[1:])), int(np.count_nonzero(~up[:-1] & up[1:]))
    up_mean = float(up.sum()) * trace.gap_s / max(1, ends)
    down_mean = float((~up).sum()) * trace.gap_s / max(1, starts)
    return ShockFit(zone_up=fit_lognormal(up_s, up_mean), zone_down=fit_lognormal(down_s, down_mean),
                    shock_rate_per_s=partial.rate_per_s, shock_fraction=partial.fraction,
                    shock_down_mean_s=partial.down_mean_s)


GANG_FIT_PATH = data_dir() / "fitted" / "gang_correlation.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class GangCorrelation:
    """The pooled common-shock figures a renewal pool's gang uses (``gang_model: common-shock``).

    ``zone_share`` of a node's reclaims take the whole zone; the rest are partial shocks, each taking
    ``fraction`` of the gang, whose nodes come back after ``down_mean_s`` on average.
    """

    zone_share: float
    fraction: float
    down_mean_s: float
    source: str


def load_gang_correlation(path: Path = GANG_FIT_PATH, nodes_key: str = "16") -> GangCorrelation:
    """The pooled partial shocks of the 16-node traces from ``data/fitted/gang_correlation.json``."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        ps = doc["pooled_partial_shocks"][nodes_key]
        out = GangCorrelation(zone_share=float(ps["zone_share"]), fraction=float(ps["fraction"]),
                              down_mean_s=float(ps["down_mean_h"]) * 3600.0,
                              source=f"{path.name} pooled_partial_shocks[{nodes_key}]")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read the gang fit ({exc}); regenerate it with scripts/fit_gang.py",
                        path=str(path)) from None
    if not (0 < out.zone_share <= 1 and 0 < out.fraction <= 1 and out.down_mean_s > 0):
        raise DataError(f"gang fit out of range: {out}", path=str(path))
    return out
