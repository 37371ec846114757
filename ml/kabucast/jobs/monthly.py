"""The monthly job: refresh the static snapshot, then fine-tune the champion into a challenger.

Pure orchestration: the fine-tune step is injected (it needs torch, which the monthly container has).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from kabucast.data.enrich import enrich
from kabucast.data.sources.base import PriceSource
from kabucast.storage.base import Store

Finetuner = Callable[[Store, pd.Timestamp], dict[str, Any]]
"""(store, as-of date) -> a JSON-safe summary of the fine-tune run."""


def run_monthly(
    store: Store,
    source: PriceSource,
    today: pd.Timestamp,
    tickers: Sequence[str],
    sectors_of: Mapping[str, str],
    finetune: Finetuner,
    skip_enrich: bool = False,
) -> dict[str, Any]:
    """Run the monthly job for ``today`` (a JST date) and return a JSON-safe summary."""
    summary: dict[str, Any] = {"date": str(today.date()), "status": "ok"}
    summary["enrich"] = "skipped" if skip_enrich else enrich(store, source, tickers, dict(sectors_of), today).to_dict()
    summary["finetune"] = finetune(store, today)
    return summary
