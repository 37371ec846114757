"""The monthly static refresh: fundamentals per ticker -> ``data/static/<YYYY-MM-DD>.parquet``.

The snapshot keeps the raw values (units as in kabucast.data.sources.base); turning them into the
6 model inputs, and filling what is missing, is kabucast.features.static's job. A ticker whose
fetch fails keeps its values from the latest earlier snapshot (``origin`` says ``carried``); with no
earlier snapshot its values stay missing (``origin`` = ``missing``). If every ticker fails, nothing
is written: an empty refresh must not replace a good snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from kabucast.data.sources.base import STATIC_INFO_KEYS, PriceSource
from kabucast.errors import SourceError
from kabucast.storage.base import Store

STATIC_PREFIX = "data/static/"


def static_key(day: pd.Timestamp) -> str:
    return f"{STATIC_PREFIX}{day.date()}.parquet"


@dataclass
class EnrichReport:
    key: str = ""
    fetched: list[str] = field(default_factory=list)
    carried: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"static snapshot {self.key}: {len(self.fetched)} fetched, {len(self.carried)} carried forward, "
            f"{len(self.missing)} missing"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "fetched": self.fetched,
            "carried": self.carried,
            "missing": self.missing,
            "failures": [{"ticker": t, "reason": r} for t, r in sorted(self.failures.items())],
        }


def enrich(
    store: Store, source: PriceSource, tickers: Sequence[str], sectors: dict[str, str], today: pd.Timestamp
) -> EnrichReport:
    """Fetch fundamentals for ``tickers`` and write the snapshot dated ``today``."""
    result = source.fetch_info(tickers)
    if not result.info:
        raise SourceError(f"{source.name} returned fundamentals for no ticker; nothing written: {result.failures}")
    previous = latest_static(store, before=today)
    report = EnrichReport(key=static_key(today), failures=dict(result.failures))
    rows = []
    for t in tickers:
        info = result.info.get(t)
        if info is not None:
            origin = "fetched"
            values = {k: _number(info.get(k)) for k in STATIC_INFO_KEYS}
        elif previous is not None and t in previous.index:
            origin = "carried"
            values = {k: _number(previous.at[t, k]) for k in STATIC_INFO_KEYS}
        else:
            origin = "missing"
            values = dict.fromkeys(STATIC_INFO_KEYS, float("nan"))
        getattr(report, origin).append(t)
        rows.append({"ticker": t, **values, "sector": sectors.get(t, ""), "origin": origin})
    frame = pd.DataFrame(rows).set_index("ticker")
    store.put_parquet(report.key, frame)
    return report


def latest_static(store: Store, before: pd.Timestamp | None = None) -> pd.DataFrame | None:
    """The newest snapshot (strictly before ``before`` when given), or None."""
    keys = [k for k in store.list(STATIC_PREFIX) if k.endswith(".parquet")]
    if before is not None:
        keys = [k for k in keys if k < static_key(before)]
    return store.get_parquet(keys[-1]) if keys else None


def _number(value: object) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")
    return out
