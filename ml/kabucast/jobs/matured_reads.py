"""What the steps that learn from or score matured forecasts read of the store, read once per run.

The daily run's band step (kabucast.jobs.band_step) and its scorecard (kabucast.jobs.scorecard_step) both read the
published forecasts whose months matured at the run's session, and the stored closes of their names: in steady state
the same twelve documents, which both find by key from the calendar
(:meth:`~kabucast.data.calendar.TradingCalendar.due_sessions`; a session with none published is a read that finds
nothing). One :class:`MaturedReads` per run serves both, so each document is fetched and parsed once (on S3, twelve
GETs a day fewer) and each name's prices are read once.

Only documents of earlier sessions are read through it, and the run writes none of them (it publishes the
documents of its own session), so what it holds stays what the store holds for the run's life.
"""

from __future__ import annotations

from typing import Any

from kabucast.features import PricePanel
from kabucast.jobs.publish import DocumentKind, parsed_document
from kabucast.jobs.stored_closes import StoredCloses
from kabucast.storage.base import Store


class MaturedReads:
    """Published dated documents (parsed: callers must not change them) and stored closes (``closes``: the run's
    price panel ``prices`` first, other names from the store), each read at most once."""

    def __init__(self, store: Store, prices: PricePanel | None = None) -> None:
        self.store = store
        self.closes = StoredCloses(store, prices)
        self._documents: dict[str, dict[str, Any] | None] = {}

    def document(self, kind: DocumentKind, day: str) -> dict[str, Any] | None:
        """``<kind>/<day>.json`` as published (None: not published, or unreadable)."""
        key = kind.dated_key(day)
        if key not in self._documents:
            self._documents[key] = parsed_document(self.store.get_versioned(key), key)
        return self._documents[key]
