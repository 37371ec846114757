"""Adaptive conformal bands in production: the state the daily job keeps beside the champion
(``models/bands.json``), what it learns from a matured forecast, and what the document says of it.

Adaptive conformal inference (Gibbs and Candès 2021) tracks the misses of the intervals as they were
issued, whatever model issued them, so one state serves the store across model versions. Per central
interval (a pair of levels, ``"0.1-0.9"``) and month h it holds the log of a stretch factor: the served
log-return quantiles are stretched around their median by it
(:func:`kabucast.evaluation.calibration.rescale_quantiles`), and once the month-h outcome of a
published forecast is known the log moves by ``gamma x (miss - (1 - coverage))``
(:func:`kabucast.evaluation.calibration.adaptive_update`, the step walk-forward simulates).

The state, JSON: ``{"method", "as_of", "issued": {session: snapshot}}``. A snapshot is what was in force
for the forecast of that session (after every outcome matured as of it): ``gamma``, ``log_factors``
(pair -> 12 floats, month 1 first), ``matured_forecasts`` (forecasts learnt from so far) and
``through`` (month -> the date of the last forecast consumed for it, ``YYYY-MM-DD``). ``issued`` keeps
the last :data:`HISTORY_SESSIONS` sessions, so a backfill of a missed day issues the factors of its time;
``as_of`` is the newest of them. Pure: the store is kabucast.jobs.band_step's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from kabucast.evaluation.calibration import ADAPTIVE_GAMMA, adaptive_update, median_index

HORIZONS = 12
HISTORY_SESSIONS = 400
"""Issued sessions whose factors the state keeps (about 19 months of sessions)."""
METHOD = (
    "adaptive conformal inference (Gibbs and Candes 2021): each central interval of month h is stretched around "
    "the median by a factor whose log moves by gamma x (miss - (1 - coverage)) per matured forecast of month h "
    "(kabucast.forecast.adaptive_bands)"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTHS = frozenset(str(h) for h in range(1, HORIZONS + 1))  # the keys of ``through``


def pair_key(low: float, high: float) -> str:
    """The name of the central interval between levels ``low`` and ``high``: ``"0.1-0.9"``."""
    return f"{low:g}-{high:g}"


def _pairs(levels: Sequence[float]) -> list[tuple[int, int, str]]:
    """(lower position, upper position, pair name) of each central interval of ``levels``, outermost first."""
    q = len(levels)
    return [(j, q - 1 - j, pair_key(levels[j], levels[q - 1 - j])) for j in range(median_index(levels))]


@dataclass(frozen=True)
class IssuedBands:
    """One published forecast's month-h quantiles: ``quantiles`` (N, Q) log returns of ``tickers`` at ``levels``."""

    tickers: tuple[str, ...]
    quantiles: np.ndarray
    levels: tuple[float, ...]


def issued_bands(document: Mapping[str, Any], horizon: int) -> IssuedBands | None:
    """The month-``horizon`` (1..12) quantiles a published document issued, as log returns (the document
    holds simple returns); None when it has none (a kind without bands, or not a forecast document)."""
    levels = document.get("quantile_levels")
    if not levels:
        return None
    try:
        rows = [(r["ticker"], r["predictions"][horizon - 1]["quantiles"]) for r in document["predictions"]]
        simple = np.array([[float(q[f"{lv:g}"]) for lv in levels] for _, q in rows], dtype=np.float64)
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return IssuedBands(tuple(t for t, _ in rows), np.log1p(simple.reshape(len(rows), len(levels))), tuple(levels))


@dataclass(frozen=True)
class BandSnapshot:
    """The factors in force for one session's forecast and what they were learnt from (module docstring)."""

    gamma: float = ADAPTIVE_GAMMA
    log_factors: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    matured_forecasts: int = 0
    through: Mapping[int, str] = field(default_factory=dict)

    def log_scale(self, levels: Sequence[float]) -> np.ndarray:
        """(12, Q) log factors of the central intervals of ``levels`` (0 for the median and unknown pairs)."""
        out = np.zeros((HORIZONS, len(levels)))
        for low, high, pair in _pairs(levels):
            out[:, low] = out[:, high] = self.log_factors.get(pair, (0.0,) * HORIZONS)
        return out

    def factors(self, levels: Sequence[float]) -> np.ndarray:
        """(12, Q) stretch factors for the served quantiles at ``levels``."""
        return np.exp(self.log_scale(levels))

    def learn(
        self, day: str, horizon: int, issued: IssuedBands | None, outcome: np.ndarray, gamma: float = ADAPTIVE_GAMMA
    ) -> BandSnapshot:
        """The snapshot after the forecast of ``day`` has matured at month ``horizon`` (1..12): ``outcome`` (N,)
        realised log returns of ``issued.tickers`` (NaN: no price, not counted). A document without bands
        (``issued`` None) or without a known outcome only moves ``through``."""
        through = {**self.through, horizon: day}
        if issued is None or not np.isfinite(outcome).any():
            return BandSnapshot(self.gamma, self.log_factors, self.matured_forecasts, through)
        log_scale = self.log_scale(issued.levels)
        log_scale = adaptive_update(log_scale, issued.quantiles, outcome, horizon - 1, issued.levels, gamma)
        learnt = dict(self.log_factors)
        for low, _high, pair in _pairs(issued.levels):
            learnt[pair] = tuple(float(x) for x in log_scale[:, low])
        return BandSnapshot(gamma, learnt, self.matured_forecasts + 1, through)

    def record(self, levels: Sequence[float], factors_as_of: str | None) -> dict[str, Any]:
        """The document's ``band_adaptation``: the factors applied to its intervals (``levels``), what they
        were learnt from, and the session whose factors they are (None: none issued yet, factors 1)."""
        factors = self.factors(levels)
        return {
            "method": METHOD,
            "gamma": self.gamma,
            "factors": {pair: np.round(factors[:, low], 6).tolist() for low, _high, pair in _pairs(levels)},
            "matured_forecasts": self.matured_forecasts,
            "through": {str(h): d for h, d in sorted(self.through.items())},
            "factors_as_of": factors_as_of,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "gamma": self.gamma,
            "log_factors": {pair: list(logs) for pair, logs in sorted(self.log_factors.items())},
            "matured_forecasts": self.matured_forecasts,
            "through": {str(h): d for h, d in sorted(self.through.items())},
        }

    @classmethod
    def from_json(cls, obj: Any, where: str) -> BandSnapshot:
        """A snapshot from its JSON; ValueError naming ``where`` and the first problem."""
        if not isinstance(obj, dict) or set(obj) != {"gamma", "log_factors", "matured_forecasts", "through"}:
            raise ValueError(f"{where} must hold gamma, log_factors, matured_forecasts and through")
        gamma, logs, matured, through = obj["gamma"], obj["log_factors"], obj["matured_forecasts"], obj["through"]
        if not _is_number(gamma) or gamma <= 0:
            raise ValueError(f"{where}.gamma must be a positive number, got {gamma!r}")
        if not isinstance(matured, int) or isinstance(matured, bool) or matured < 0:
            raise ValueError(f"{where}.matured_forecasts must be a count, got {matured!r}")
        if not isinstance(logs, dict) or not all(_is_pair(p) and _is_factor_row(v) for p, v in logs.items()):
            raise ValueError(f"{where}.log_factors must map level pairs ('0.1-0.9') to {HORIZONS} finite numbers")
        if not isinstance(through, dict) or not all(h in _MONTHS and _is_date(d) for h, d in through.items()):
            raise ValueError(f"{where}.through must map months '1'..'12' to dates YYYY-MM-DD")
        factors = {p: tuple(float(x) for x in v) for p, v in logs.items()}
        return cls(float(gamma), factors, matured, {int(h): d for h, d in through.items()})


@dataclass(frozen=True)
class BandState:
    """The snapshots of the sessions issued so far (at most :data:`HISTORY_SESSIONS`), by ``YYYY-MM-DD``."""

    issued: Mapping[str, BandSnapshot] = field(default_factory=dict)

    @property
    def as_of(self) -> str | None:
        """The newest session issued (None: none yet)."""
        return max(self.issued) if self.issued else None

    def in_force(self, day: str) -> tuple[str | None, BandSnapshot]:
        """The session whose snapshot was in force on ``day`` (``day`` itself or the nearest earlier one)
        and that snapshot; (None, factors 1) before the first."""
        earlier = [d for d in self.issued if d <= day]
        return (max(earlier), self.issued[max(earlier)]) if earlier else (None, BandSnapshot())

    def with_issue(self, day: str, snapshot: BandSnapshot) -> BandState:
        """This state with ``snapshot`` issued on ``day``, the oldest sessions beyond the history dropped."""
        kept = sorted({**self.issued, day: snapshot}.items())[-HISTORY_SESSIONS:]
        return BandState(dict(kept))

    def to_json(self) -> dict[str, Any]:
        issued = {d: s.to_json() for d, s in sorted(self.issued.items())}
        return {"method": METHOD, "as_of": self.as_of, "issued": issued}

    @classmethod
    def from_json(cls, obj: Any) -> BandState:
        """The state from its JSON; ValueError naming the first problem."""
        if not isinstance(obj, dict) or not isinstance(obj.get("issued"), dict) or not obj["issued"]:
            raise ValueError("it must be an object with a non-empty 'issued' (session -> snapshot)")
        issued = obj["issued"]
        bad = [d for d in issued if not _is_date(d)]
        if bad:
            raise ValueError(f"issued has a key that is not a date YYYY-MM-DD: {bad[0]!r}")
        if obj.get("as_of") != max(issued):
            raise ValueError(f"as_of {obj.get('as_of')!r} is not the newest issued session {max(issued)}")
        return cls({d: BandSnapshot.from_json(s, f"issued[{d}]") for d, s in issued.items()})


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _is_factor_row(x: Any) -> bool:
    """A list of HORIZONS finite numbers (bool is not one). The state holds ~400 x 12 of them, read every run: one
    finite sum instead of a check per number (a sum of finite log factors overflows only for absurd values)."""
    return type(x) is list and len(x) == HORIZONS and all(type(v) in (int, float) for v in x) and math.isfinite(sum(x))


def _is_pair(x: str) -> bool:
    low, _, high = x.partition("-")
    try:
        return 0 < float(low) < 0.5 < float(high) < 1 and pair_key(float(low), float(high)) == x
    except ValueError:
        return False


@lru_cache(maxsize=4096)
def _is_date_text(x: str) -> bool:
    return _DATE.fullmatch(x) is not None


def _is_date(x: Any) -> bool:
    return isinstance(x, str) and _is_date_text(x)  # the state repeats each date in many snapshots: looked up once
