"""Publication rules: how a daily document reaches ``<kind>/<date>.json`` and ``<kind>/latest.json``.

Three kinds of document are published by the same rules (:class:`DocumentKind`): the forecast
(``predictions/``, counted by ``num_predictions``), the target portfolio built from it
(``portfolio/``, counted by ``num_scored``, the names it was built from) and the live scorecard of
the matured forecasts (``scorecard/``, counted by ``num_scored``, the (date, month) forecasts scored;
it has no universe, so only rules 4 to 6 apply: :func:`publish_dated`). ``latest.json`` is the
product (a back-end reads it every day), so it only moves forward, and it keeps moving: a day that
meets ``min_coverage`` of its members publishes, and the document lists what is missing and why
(kabucast.forecast.missing).

1. A run that forecast no ticker publishes nothing and fails.
2. A subset run (tickers that are not the whole universe) writes only its own key,
   ``<kind>/adhoc/<date>/<tickers>.json``; it never touches the dated file or the pointer.
3. A full-universe run needs forecasts for at least ``min_coverage`` of that date's members (the
   stale and failed tickers do not count); below that it publishes nothing and fails.
4. ``<kind>/<date>.json`` is never replaced by a document with a smaller count or older data.
5. ``latest.json`` never moves to an older ``data_as_of``; for the same date it never takes a
   document with a smaller count. A later date replaces it whatever its count (rule 3 is its floor):
   one member whose source is down must not stop every later publication. A full run for a past
   date fills that date's file and leaves the pointer where it is (that is how a missed day is
   backfilled).
6. Both objects are read once at the start; each write is conditional on what was read
   (:meth:`Store.put_if`), so an overlapping run makes this one fail with ``ConcurrentUpdate``
   instead of interleaving (unless the rival wrote the very same bytes), and the dated file is
   complete before the pointer names it.

``force`` (``--force``, or ``"force": true`` in a manual daily event) lifts rules 3 and 4 and the
same-date part of 5 (an operator replacing a bad document); it never publishes an empty document
and never moves the pointer back in time. A forced document says so (``"forced": true``), and so
does the summary.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from kabucast.errors import ConcurrentUpdate, CorruptObject, JobFailure
from kabucast.storage.base import Store, Versioned, dumps_json, loads_json

DEFAULT_MIN_COVERAGE = 0.9


@dataclass(frozen=True)
class DocumentKind:
    """A family of published documents: ``<prefix>/<date>.json``, ``<prefix>/latest.json`` and the
    subset runs' ``<prefix>/adhoc/``; ``count`` names the field that says how many names it holds."""

    prefix: str
    count: str
    noun: str  # what the count counts, for messages

    @property
    def latest_key(self) -> str:
        return f"{self.prefix}/latest.json"

    def dated_key(self, day: object) -> str:
        """``<prefix>/<YYYY-MM-DD>.json`` for a session (a date string or timestamp)."""
        return f"{self.prefix}/{pd.Timestamp(day).date()}.json"


FORECASTS = DocumentKind("predictions", "num_predictions", "forecasts")
PORTFOLIOS = DocumentKind("portfolio", "num_scored", "scored names")
SCORECARDS = DocumentKind("scorecard", "num_scored", "scored forecasts")
LATEST_KEY = FORECASTS.latest_key
ADHOC_PREFIX = f"{FORECASTS.prefix}/adhoc"


class PublicationRefused(JobFailure):
    """Publishing this document would empty, shrink or move back a published forecast; nothing was written."""


@dataclass(frozen=True)
class PublishPolicy:
    min_coverage: float = DEFAULT_MIN_COVERAGE
    force: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.min_coverage <= 1.0:
            raise ValueError(f"min_coverage must be in (0, 1], got {self.min_coverage}")


def dated_days(store: Store, kind: DocumentKind) -> list[str]:
    """The dates (``YYYY-MM-DD``, ascending) of every published ``<kind>/<date>.json``: neither
    ``latest.json`` nor the subset runs' ``adhoc/`` documents."""
    dated = re.compile(rf"{re.escape(kind.prefix)}/(\d{{4}}-\d{{2}}-\d{{2}})\.json")
    return sorted(m.group(1) for k in store.list(f"{kind.prefix}/") if (m := dated.fullmatch(k)))


def previous_document(store: Store, kind: DocumentKind, day: object) -> dict[str, Any] | None:
    """The newest published ``<kind>/<date>.json`` dated before ``day`` (None: none, or it is unreadable)."""
    before = str(pd.Timestamp(day).date())
    earlier = [d for d in dated_days(store, kind) if d < before]
    if not earlier:
        return None
    key = kind.dated_key(earlier[-1])
    return parsed_document(store.get_versioned(key), key)


def prediction_key(day: object) -> str:
    """``predictions/<YYYY-MM-DD>.json`` for a session (a date string or timestamp)."""
    return FORECASTS.dated_key(day)


def adhoc_key(day: str, tickers: Sequence[str], kind: DocumentKind = FORECASTS) -> str:
    """A subset run's own key: the tickers by name when few, else their count and a digest."""
    names = sorted(tickers)
    tag = "+".join(names) if len(names) <= 4 else f"{len(names)}-tickers-{_digest(names)}"
    return f"{kind.prefix}/adhoc/{day}/{tag}.json"


def publish_forecast(
    store: Store, doc: dict[str, Any], universe: Sequence[str], tickers: Sequence[str], policy: PublishPolicy
) -> dict[str, Any]:
    """Publish a forecast document by the rules above (:func:`publish_document` of :data:`FORECASTS`)."""
    return publish_document(store, doc, FORECASTS, universe, tickers, policy)


def publish_document(
    store: Store,
    doc: dict[str, Any],
    kind: DocumentKind,
    universe: Sequence[str],
    tickers: Sequence[str],
    policy: PublishPolicy,
) -> dict[str, Any]:
    """Publish ``doc`` by the rules above; a summary of what was written, or :class:`PublicationRefused`."""
    n, day = int(doc[kind.count]), str(doc["data_as_of"])
    if policy.force:
        doc = {**doc, "forced": True}
    if n == 0:
        raise PublicationRefused(f"no ticker was forecast for {day}: nothing published. {_failures(doc)}")
    if set(tickers) != set(universe):
        key = adhoc_key(day, tickers, kind)
        store.put_json(key, doc)
        return {"key": key, "scope": "adhoc", "latest": "untouched (subset run)"}
    coverage = n / len(universe)
    if coverage < policy.min_coverage and not policy.force:
        raise PublicationRefused(
            f"only {n} of {len(universe)} tickers forecast for {day} ({coverage:.0%}, min_coverage "
            f"{policy.min_coverage:.0%}): nothing published, {kind.latest_key} kept. {_failures(doc)} "
            "(--force publishes it anyway)"
        )
    written = publish_dated(store, doc, kind, policy.force)
    summary = {"key": written["key"], "scope": "universe", "coverage": round(coverage, 4), "latest": written["latest"]}
    return {**summary, **{k: v for k, v in written.items() if k not in (*summary, "written")}}


def publish_dated(store: Store, doc: dict[str, Any], kind: DocumentKind, force: bool = False) -> dict[str, Any]:
    """Rules 4 to 6 for a full document: ``<kind>/<date>.json`` then ``latest.json``; what was written (the dated
    key, the pointer's move, the sha256 of the bytes, ``written``: whether any object changed), or
    :class:`PublicationRefused`."""
    data = dumps_json(doc)
    dated_key = kind.dated_key(doc["data_as_of"])
    dated, latest = store.get_versioned(dated_key), store.get_versioned(kind.latest_key)
    problem = _regression(parsed_document(dated, dated_key), dated_key, doc, kind)
    if problem and not force:
        raise PublicationRefused(f"{problem}: kept as is, {kind.latest_key} untouched (--force replaces it)")
    move = _pointer_move(latest, data, doc, force, kind)
    fresh = dated is None or dated.data != data
    if fresh:
        write_if_unchanged(store, dated_key, data, dated)
    if move == "replaced":
        write_if_unchanged(store, kind.latest_key, data, latest)
    summary = {"key": dated_key, "latest": move, "sha256": hashlib.sha256(data).hexdigest()}
    return {**summary, "written": fresh or move == "replaced", **({"forced": True} if force else {})}


def write_if_unchanged(
    store: Store, key: str, data: bytes, seen: Versioned | None, content_type: str = "application/json"
) -> None:
    """Replace ``key`` only if it is still what this run read; a rival that wrote the very same bytes
    (the same job for the same day) is no conflict."""
    try:
        store.put_if(key, data, None if seen is None else seen.etag, content_type)
    except ConcurrentUpdate:
        now = store.get_versioned(key)
        if now is None or now.data != data:
            raise


def _regression(old: dict[str, Any] | None, key: str, doc: dict[str, Any], kind: DocumentKind) -> str | None:
    """Why ``doc`` would be a step back from ``old``, the document stored at ``key`` (None: it is not).

    Counts are compared on the same date only: a later date with fewer names is progress (rule 5)."""
    if old is None:
        return None
    n_old, n_new = int(old.get(kind.count, 0)), int(doc[kind.count])
    old_day, day = str(old.get("data_as_of", "")), str(doc["data_as_of"])
    if old_day > day:
        return f"{key} holds data as of {old['data_as_of']}, newer than this run's {doc['data_as_of']}"
    if old_day == day and n_new < n_old:
        return f"{key} holds {n_old} {kind.noun}, this run has only {n_new}"
    return None


def _pointer_move(latest: Versioned | None, data: bytes, doc: dict[str, Any], force: bool, kind: DocumentKind) -> str:
    """``replaced``, ``unchanged``, or why the pointer stays (a past-date run); raises if it would shrink.

    ``data`` is ``doc`` serialised, the bytes that would be written."""
    old = parsed_document(latest, kind.latest_key)
    if old is None:
        return "replaced"
    if latest is not None and latest.data == data:
        return "unchanged"
    if str(old.get("data_as_of", "")) > str(doc["data_as_of"]):
        return f"kept: it holds newer data ({old['data_as_of']})"
    problem = _regression(old, kind.latest_key, doc, kind)
    if problem and not force:
        raise PublicationRefused(f"{problem}: nothing published (--force replaces it)")
    return "replaced"


def parsed_document(current: Versioned | None, key: str) -> dict[str, Any] | None:
    """The stored document, or None when absent or unreadable (a corrupt document may be replaced)."""
    if current is None:
        return None
    try:
        old = loads_json(current.data, key)
    except CorruptObject:
        return None
    return old if isinstance(old, dict) else None


def _failures(doc: dict[str, Any], most: int = 3) -> str:
    failures = doc.get("failures", [])
    if not failures:
        return ""
    shown = "; ".join(f"{f['ticker']}: {f['reason']}" for f in failures[:most])
    more = f" and {len(failures) - most} more" if len(failures) > most else ""
    return f"Failures: {shown}{more}."


def _digest(names: Sequence[str]) -> str:
    return hashlib.sha256(",".join(names).encode()).hexdigest()[:10]
