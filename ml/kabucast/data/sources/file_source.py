"""Daily bars from the user's own files: one long-format CSV/parquet, or a folder of per-ticker files.

Two layouts are read (column names are case-insensitive, and spaces or hyphens count as
underscores, so ``Adj Close`` is ``adj_close``):

- one ``.csv``, ``.csv.gz`` or ``.parquet`` file in long format:
  ``date, ticker, open, high, low, close, [adj_close], volume``;
- a folder of ``<ticker>.csv`` / ``<ticker>.parquet`` files with the same columns, ``ticker`` left out.

``date`` is the exchange's local trading date; a time of day or a UTC offset is allowed (the moment
is taken to the exchange's time zone, ``tz``, Tokyo by default, and the day kept). Prices are in the
universe's currency, ``close`` split-adjusted like Yahoo's Close;
without an ``adj_close`` column the close is copied into it (no dividend adjustment). Volume in
shares. Parquet is read with fastparquet's own API (the engine the project ships; pandas 3.1
deprecates its ``engine="fastparquet"`` bridge), so a file written by pyarrow or fastparquet both work.

A long file that cannot be used (unreadable, a column missing, a value that is not a number or a
date) raises, naming the file and the column. In a folder, such a file only fails its own ticker.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import fastparquet
import pandas as pd

from kabucast.data.prices import FLOAT_COLUMNS, normalize_prices
from kabucast.data.sources.base import InfoFetch, PriceFetch
from kabucast.errors import PriceValidationError, SourceError

REQUIRED_COLUMNS: tuple[str, ...] = ("date", "open", "high", "low", "close", "volume")
SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet")
NO_FUNDAMENTALS = "file source has no fundamentals"
_ALIASES = {"adjclose": "adj_close", "adjusted_close": "adj_close"}
_LAYOUT = "expected columns date, ticker (long format only), open, high, low, close, [adj_close], volume"


class FileSource:
    """A user's CSV or parquet files behind the PriceSource interface; nothing is read until the first fetch."""

    name = "file"

    def __init__(self, path: str | Path, tz: str = "Asia/Tokyo") -> None:
        self.path = Path(path).expanduser()
        self.tz = tz
        self._long: dict[str, pd.DataFrame | str] | None = None

    def fetch_prices(self, tickers: Sequence[str], start: pd.Timestamp, end: pd.Timestamp) -> PriceFetch:
        """Bars from ``start`` to ``end`` (local dates, both inclusive) of every ticker the files hold."""
        start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
        out = PriceFetch()
        for ticker in tickers:
            bars = self._bars(ticker)
            if isinstance(bars, str):
                out.failures[ticker] = bars
                continue
            window = bars.loc[(bars.index >= start) & (bars.index <= end)]
            if window.empty:
                out.failures[ticker] = f"{self.path} has no rows for {ticker} from {start.date()} to {end.date()}"
            else:
                out.frames[ticker] = window
        return out

    def fetch_info(self, tickers: Sequence[str]) -> InfoFetch:
        """Files carry prices only: every ticker is a failure."""
        return InfoFetch(failures=dict.fromkeys(tickers, NO_FUNDAMENTALS))

    def _bars(self, ticker: str) -> pd.DataFrame | str:
        """The ticker's canonical bars, or why there are none."""
        if self.path.is_dir():
            return self._folder_bars(ticker)
        return self._long_bars().get(ticker, f"{ticker} is not in {self.path} (column 'ticker')")

    def _folder_bars(self, ticker: str) -> pd.DataFrame | str:
        files = [f for f in (self.path / f"{ticker}{s}" for s in SUFFIXES) if f.is_file()]
        if not files:
            return f"no file {ticker}.csv or {ticker}.parquet in {self.path}"
        try:
            return canonical_bars(parse_columns(read_table(files[0]), files[0], self.tz), files[0], ticker)
        except (PriceValidationError, SourceError) as exc:
            return str(exc)

    def _long_bars(self) -> dict[str, pd.DataFrame | str]:
        """Every ticker of the long-format file (read once); a ticker whose rows are unusable maps to why."""
        if self._long is None:
            table = parse_columns(read_table(self.path), self.path, self.tz)
            if "ticker" not in table.columns:
                raise PriceValidationError(
                    f"{self.path}: no column 'ticker' (has {list(table.columns)}); a single file must be in long "
                    f"format, or point the source at a folder of <ticker>.csv files"
                )
            names = table["ticker"].astype(str).str.strip()
            self._long = {}
            for ticker, rows in table.drop(columns="ticker").groupby(names, sort=False):
                try:
                    self._long[str(ticker)] = canonical_bars(rows, self.path, str(ticker))
                except PriceValidationError as exc:
                    self._long[str(ticker)] = str(exc)
        return self._long


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or parquet file with normalised column names, or :class:`SourceError` naming the file."""
    if not path.is_file():
        raise SourceError(f"{path}: file not found")
    suffix = next((s for s in SUFFIXES if path.name.lower().endswith(s)), path.suffix.lower())
    if suffix not in SUFFIXES:
        raise SourceError(f"{path}: unsupported file type {suffix!r}; use .csv, .csv.gz or .parquet")
    try:
        csv = suffix.startswith(".csv")
        table = pd.read_csv(path) if csv else fastparquet.ParquetFile(str(path)).to_pandas()
    except Exception as exc:  # parsers raise many types; all mean the same thing to the user
        raise SourceError(f"{path}: cannot be read as {suffix[1:]}: {type(exc).__name__}: {exc}") from exc
    if table.index.name is not None:  # e.g. a parquet written from a frame indexed by date
        table = table.reset_index()
    table.columns = [column_name(c) for c in table.columns]
    return table


def column_name(raw: object) -> str:
    """``Adj Close`` -> ``adj_close``, ``DATE`` -> ``date``."""
    name = re.sub(r"[\s\-]+", "_", str(raw).strip().lower())
    return _ALIASES.get(name, name)


def parse_columns(table: pd.DataFrame, file: Path, tz: str = "Asia/Tokyo") -> pd.DataFrame:
    """Dates and numbers parsed; ``adj_close`` filled from ``close`` when absent. Raises naming file and column."""
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise PriceValidationError(f"{file}: missing column(s) {missing} (has {list(table.columns)}); {_LAYOUT}")
    out = table.copy()
    if "adj_close" not in out.columns:
        out["adj_close"] = out["close"]
    out["date"] = _dates(out["date"], file, tz)
    for column in (*FLOAT_COLUMNS, "volume"):
        out[column] = _numbers(out[column], file, column)
    return out


def canonical_bars(rows: pd.DataFrame, file: Path, ticker: str) -> pd.DataFrame:
    """One ticker's parsed rows as a canonical price frame; duplicate dates are an error."""
    try:
        frame = normalize_prices(rows.set_index("date")).sort_index()  # a user's file may list rows in any order
    except PriceValidationError as exc:
        raise PriceValidationError(f"{file}: {ticker}: {exc}") from exc
    repeated = frame.index[frame.index.duplicated()]
    if len(repeated):
        raise PriceValidationError(f"{file}: {ticker} has more than one row for {repeated[0].date()}")
    return frame


def _dates(values: pd.Series, file: Path, tz: str) -> pd.Series:
    try:
        parsed = pd.to_datetime(values, errors="coerce")
    except ValueError:  # several UTC offsets in one column: compare them as instants
        parsed = pd.to_datetime(values, errors="coerce", utc=True)
    bad = parsed.isna()
    if bad.any():
        raise PriceValidationError(f"{file}: column 'date': {_first(values, bad)} is not a date (use YYYY-MM-DD)")
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert(tz).dt.tz_localize(None)
    return parsed


def _numbers(values: pd.Series, file: Path, column: str) -> pd.Series:
    parsed = pd.to_numeric(values, errors="coerce")
    bad = parsed.isna() & values.notna()
    if bad.any():
        raise PriceValidationError(f"{file}: column '{column}': {_first(values, bad)} is not a number")
    return parsed.astype("float64")


def _first(values: pd.Series, bad: pd.Series) -> str:
    position = int(bad.to_numpy().argmax())
    return f"{values.iloc[position]!r} (data row {position + 1})"
