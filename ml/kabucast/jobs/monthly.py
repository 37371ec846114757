"""The monthly job: refresh the static snapshot, then fine-tune the champion into a challenger.

Pure orchestration: the fine-tune step is injected (it needs torch, which the monthly container has).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pandas as pd

from kabucast.data.enrich import enrich
from kabucast.data.sources.base import PriceSource
from kabucast.storage.base import Store


class Finetuner(Protocol):
    """The fine-tune step (kabucast.jobs.wiring.FinetuneStep)."""

    def check(self, store: Store, today: pd.Timestamp) -> None:
        """Raise what would stop a fine-tune as of ``today`` (a JST date) before it starts; reads only."""

    def __call__(self, store: Store, today: pd.Timestamp) -> dict[str, Any]:
        """Fine-tune as of ``today`` (a JST date); a JSON-safe summary of the run."""


def run_monthly(
    store: Store,
    source: PriceSource,
    today: pd.Timestamp,
    tickers: Sequence[str],
    sectors_of: Mapping[str, str],
    finetune: Finetuner,
    skip_enrich: bool = False,
) -> dict[str, Any]:
    """Run the monthly job for ``today`` (a JST date) and return a JSON-safe summary.

    The fine-tune's precondition is checked first: an as-of too early to fine-tune (TooEarlyToFineTune,
    a usage error) fails before the source is asked for fundamentals or a static snapshot is written.
    """
    finetune.check(store, today)
    summary: dict[str, Any] = {"date": str(today.date()), "status": "ok"}
    summary["enrich"] = "skipped" if skip_enrich else enrich(store, source, tickers, dict(sectors_of), today).to_dict()
    summary["finetune"] = finetune(store, today)
    return summary
