"""The ranker's training loss over one date's cross-section: a weighted sum of four terms, per horizon.

For each horizon, over the stocks with a known target that date (scores s, realised forward returns y;
y_z is y z-scored across those stocks):

- ``listnet``: ListNet's top-one cross-entropy (Cao et al., 2007), -sum softmax(y_z / T) log softmax(s):
  the listwise ranking loss; it only sees the order and relative size of the scores of one date.
- ``rankic``: minus a differentiable RankIC, the Pearson correlation of the standardised scores with the
  standardised ranks of y. Ranking y needs no gradient (it is data), so only the scores' side is
  relaxed: it is the Spearman correlation with the scores' values standing in for their ranks. It is
  O(N), scale-free and has no temperature to tune, unlike soft ranks (O(N^2) pairwise sigmoids, or a
  sorting network), which cost more per step on 4,000 stocks and give a similar gradient.
- ``mse``: mean squared error between s and y_z: anchors the scores' scale (the other terms are
  invariant to a shift, the RankIC term to any scale).
- ``variance``: max(0, floor - std(s))^2, a penalty against variance collapse (constant predictions,
  SEEDS_DIGEST.md section 3): it is zero while the cross-sectional spread of the scores stays above
  ``variance_floor``.

Each term is averaged over the horizons; the weights (``loss:`` in config/ranker/model.yaml) scale them.
A date with fewer than :data:`MIN_STOCKS` known targets in a horizon adds nothing for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

MIN_STOCKS = 3
"""A horizon needs at least this many known targets on a date to contribute to the loss."""

EPS = 1e-8


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (module docstring) and their two parameters."""

    listnet: float = 1.0
    rankic: float = 1.0
    mse: float = 0.1
    variance: float = 1.0
    variance_floor: float = 0.05  # cross-sectional std of the scores below which the penalty starts
    listnet_temperature: float = 1.0  # of the targets' softmax: lower puts more weight on the very top


def standardize(values: torch.Tensor) -> torch.Tensor:
    """(N,) values minus their mean, divided by their std (ddof=0); zeros for a constant vector."""
    centred = values - values.mean()
    return centred / (centred.pow(2).mean().sqrt() + EPS)


def listnet_loss(scores: torch.Tensor, target_z: torch.Tensor, temperature: float) -> torch.Tensor:
    """ListNet top-one cross-entropy of (N,) scores against (N,) z-scored targets."""
    return -(F.softmax(target_z / temperature, dim=0) * F.log_softmax(scores, dim=0)).sum()


def rank_ic(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of the standardised (N,) scores with the standardised ranks of the (N,) targets."""
    ranks = torch.argsort(torch.argsort(target)).to(scores.dtype)  # no gradient flows through the targets
    return (standardize(scores) * standardize(ranks)).mean()


def variance_penalty(scores: torch.Tensor, floor: float) -> torch.Tensor:
    """max(0, floor - cross-sectional std of the (N,) scores)^2."""
    return F.relu(floor - scores.std(unbiased=False)).pow(2)


def cross_section_loss(scores: torch.Tensor, target: torch.Tensor, weights: LossWeights) -> dict[str, torch.Tensor]:
    """The weighted loss of one date: ``scores`` and ``target`` (N, H), NaN where a target is unknown.

    Returns ``loss`` (what is minimised) and each unweighted term averaged over horizons, for logging.
    """
    terms: dict[str, list[torch.Tensor]] = {"listnet": [], "rankic": [], "mse": [], "variance": []}
    for j in range(target.shape[1]):
        known = torch.isfinite(target[:, j])
        if int(known.sum()) < MIN_STOCKS:
            continue
        s, y = scores[known, j], target[known, j]
        y_z = standardize(y)
        terms["listnet"].append(listnet_loss(s, y_z, weights.listnet_temperature))
        terms["rankic"].append(rank_ic(s, y))
        terms["mse"].append(F.mse_loss(s, y_z))
        terms["variance"].append(variance_penalty(s, weights.variance_floor))
    if not terms["mse"]:
        zero = scores.sum() * 0.0  # keeps the graph: a date without targets contributes nothing
        return {"loss": zero, **{name: zero.detach() for name in terms}}
    mean = {name: torch.stack(values).mean() for name, values in terms.items()}
    loss = (
        weights.listnet * mean["listnet"]
        - weights.rankic * mean["rankic"]
        + weights.mse * mean["mse"]
        + weights.variance * mean["variance"]
    )
    return {"loss": loss, **{name: value.detach() for name, value in mean.items()}}
