"""Build a price source from its CLI/config spelling: ``sample[:SEED]``, ``yfinance``, ``jquants`` or ``file:PATH``."""

from __future__ import annotations

from kabucast.config import RetrySettings, UniverseSettings
from kabucast.data.sources.base import PriceSource
from kabucast.errors import ConfigError

SOURCE_HELP = (
    "sample[:SEED] (synthetic, offline), yfinance (Yahoo Finance), jquants (J-Quants, JPX's API: needs "
    "JQUANTS_API_KEY), or file:PATH (your CSV/parquet)"
)


def make_source(spec: str, universe: UniverseSettings, retry: RetrySettings, batch_size: int) -> PriceSource:
    """The source named by ``spec``; imports only what that source needs."""
    name, _, arg = spec.partition(":")
    if name == "sample":
        from kabucast.data.sources.sample_market import SampleMarketSource

        return SampleMarketSource.from_universe(universe, **({"seed": _seed(arg, spec)} if arg else {}))
    if name == "yfinance":
        from kabucast.data.sources.yfinance_source import YFinanceSource

        return YFinanceSource(batch_size=batch_size, retry=retry)
    if name == "jquants":
        from kabucast.data.sources.jquants_source import JQuantsSource

        return JQuantsSource(retry=retry)  # the key is read now: a missing one stops the run before any I/O
    if name == "file" and arg:
        from kabucast.data.calendar import calendar_for
        from kabucast.data.sources.file_source import FileSource

        return FileSource(arg, tz=calendar_for(universe.exchange).tz)
    raise ConfigError(f"unknown source {spec!r}: use {SOURCE_HELP}")


def _seed(arg: str, spec: str) -> int:
    try:
        return int(arg)
    except ValueError:
        raise ConfigError(f"invalid source {spec!r}: the sample market's seed must be an integer") from None
